"""`dpo:` the implicit reward of a DPO policy, computed as RewardBench's `DPOInference` computes it.

A DPO policy defines the reward β·log π(y|x)/π_ref(y|x) up to a constant per prompt. RewardBench
ranks candidates by Σ log π(y|x) − Σ log π_ref(y|x) over the response tokens: β scales every
candidate alike, so it is dropped, and nothing is length-normalised. Without `ref=` (the
reference-free variants of `scripts/run_dpo.py`) a candidate scores its log-probability under the
policy alone: the mean per token (`ref_free_type=avg`, the official default), the sum (`sum`), or
minus the L2 norm of the per-token log-probabilities (`norm`).

Tokenisation is `DPOInference.tokenize_row` with the official settings:
- the prompt text is the chat template over the conversation without a generation prompt; a
  candidate's text is the template over the conversation plus the candidate as the assistant's
  turn (`prepare_dialogue_from_tokenizer`), and its response text is that with the prompt text
  removed (`str.replace`), so the assistant header counts as response;
- no special tokens; the response's tokens are the tail of the whole text's tokens, starting one
  token early where the prompt's last token merges across the boundary (`build_tokenized_answer`);
- BOS (EOS for a tokenizer without one, as the official runner sets it) goes before the prompt and
  EOS after the response, even where the template wrote them already;
- where prompt + longest response exceed `max_length` (2048), the prompt keeps its last
  `max_prompt_length` (128) tokens; where they still do, responses keep their first
  `max_length - max_prompt_length`.

Deliberate differences: a request holds all its candidates, so "longest response" is the longest of
all of them (for a pair, as officially; RewardBench 2 has no official DPO path). Log-softmax and
sums run in float32, where the official code stays in the model's dtype (float16 on a GPU): this
removes rounding only. Not reproduced: 8-bit loading and the float16 default (hardware choices; pass
`dtype=float16` to match a float16 run), and the fallback to fastchat templates for tokenizers
without a chat template (we ask for a tokenizer that has one).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Sequence

import torch

from harness.errors import UsageError
from harness.models.base import require_kind
from harness.models.batching import batch_token_cap, length_batches
from harness.models.checkpoints import identity_digest
from harness.models.hf import _pad
from harness.models.hf_loading import Checkpoint, resolve_device, resolve_dtype
from harness.types import Message, Request, Response

# Bump when a change here changes outputs, so scores cached from the old code are not reused.
ENGINE_REVISION = 1
REF_FREE_TYPES = ("avg", "sum", "norm")


@dataclass(frozen=True)
class ScoredSequence:
    """One candidate as the model reads it: prompt tokens, then the response tokens it scores."""

    prompt: list[int]
    response: list[int]

    @property
    def ids(self) -> list[int]:
        return self.prompt + self.response


class ImplicitRewardModel:
    """A DPO policy (`name`) against its reference (`ref`).

    `batch_size` is sequences (candidates) per forward pass, length-sorted across a chunk, where the
    official code batches pairs in data order: with right padding a row's numbers do not depend on
    its batch, up to kernel rounding.
    """

    cacheable = True

    def __init__(self, name: str, *, ref: str | None = None, ref_free_type: str | None = None,
                 batch_size: int = 8, dtype: str = "auto", device: str = "auto", max_length: int = 2048,
                 max_prompt_length: int = 128, max_batch_tokens: int | str = "auto",
                 trust_remote_code: bool = False) -> None:
        """`ref_free_type` (avg, sum, norm; default avg) applies only without `ref`, as officially."""
        if not name:
            raise UsageError("dpo: needs a policy, e.g. dpo:allenai/tulu-2-dpo-7b,ref=allenai/tulu-2-7b")
        if ref is not None and ref_free_type is not None:
            raise UsageError(f"dpo:{name}: ref_free_type={ref_free_type} applies only without a reference "
                             f"model; drop it, or drop ref={ref} to score reference-free")
        if (ref_free_type or "avg") not in REF_FREE_TYPES:
            raise UsageError(f"dpo:{name}: ref_free_type={ref_free_type!r}; use one of {', '.join(REF_FREE_TYPES)}")
        if ref is not None and ref == name:
            raise UsageError(f"dpo:{name}: the policy is also the reference, so every reward would be 0; "
                             "pass the model the policy was trained from as ref=")
        if batch_size < 1 or not 0 < max_prompt_length < max_length:
            raise UsageError(f"dpo:{name}: batch_size={batch_size}, max_length={max_length}, max_prompt_length="
                             f"{max_prompt_length}: use positive sizes with max_prompt_length < max_length")
        self.name = name
        self.batch_size = batch_size
        self.chunk_size = 16 * batch_size  # requests per call; each holds two or more candidates
        self.max_length = max_length
        self.max_prompt_length = max_prompt_length
        self.ref_free_type = ref_free_type or "avg"  # read only without a reference
        self.device = resolve_device(device)
        self.max_batch_tokens = batch_token_cap(max_batch_tokens, self.device, f"dpo:{name}")
        self._dtype = resolve_dtype(dtype)
        # Checked now, loaded by the first request that needs the weights (see hf_loading).
        self.checkpoint = Checkpoint(name, backend="dpo", trust_remote_code=trust_remote_code)
        self.reference_checkpoint = (Checkpoint(ref, backend="dpo", trust_remote_code=trust_remote_code)
                                     if ref is not None else None)
        self.tokenizer = self.checkpoint.load_tokenizer()
        if not getattr(self.tokenizer, "chat_template", None):
            raise UsageError(f"dpo:{name}: its tokenizer has no chat template, so conversations cannot be formatted "
                             "as the policy saw them in training; give the checkpoint a chat_template "
                             "(tokenizer_config.json). RewardBench's fallback to fastchat templates is not supported")
        self.eos_id = self.tokenizer.eos_token_id
        if self.eos_id is None:
            raise UsageError(f"dpo:{name}: its tokenizer defines no EOS token, which ends every scored response; "
                             "give the tokenizer an eos_token")
        self.bos_id = self.tokenizer.bos_token_id if self.tokenizer.bos_token is not None else self.eos_id
        self._fingerprint = identity_digest({
            "backend": "dpo", "engine": ENGINE_REVISION,
            "policy": self.checkpoint.identity(), "dtype": dtype,
            "reference": self.reference_checkpoint.identity() if self.reference_checkpoint is not None else None,
            "ref_free_type": None if ref is not None else self.ref_free_type,
            "max_length": max_length, "max_prompt_length": max_prompt_length,
        })

    def fingerprint(self) -> str:
        return self._fingerprint

    @cached_property
    def policy(self) -> Any:
        return self.checkpoint.load_model(self.device, dtype=self._dtype)

    @cached_property
    def reference(self) -> Any:
        """The reference reads the policy's tokens, as officially (one tokenizer for both)."""
        if self.reference_checkpoint is None:
            return None
        return self.reference_checkpoint.load_model(self.device, dtype=self._dtype)

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Score every candidate of every reward request; one reward per candidate, in order."""
        require_kind(requests, "reward", f"dpo:{self.name}", "is a reward model", "rewardbench")
        began = time.perf_counter()
        per_request = [self.encode(request) for request in requests]
        sequences = [sequence for encoded in per_request for sequence in encoded]
        rewards = iter(self.rewards(sequences))
        share = (time.perf_counter() - began) / max(1, len(requests))
        return [Response(scores=tuple(next(rewards) for _ in encoded),
                         input_tokens=sum(len(sequence.ids) for sequence in encoded), latency_s=share)
                for encoded in per_request]

    def encode(self, request: Request) -> list[ScoredSequence]:
        """Each candidate's tokens, as `DPOInference.tokenize_row` makes them for a pair."""
        assert request.messages is not None and request.candidates is not None
        prompt, texts = dialogue_texts(self.tokenizer, request.messages, request.candidates)
        return tokenize_candidates(self.tokenizer, prompt, texts, bos_id=self.bos_id, eos_id=self.eos_id,
                                   max_length=self.max_length, max_prompt_length=self.max_prompt_length)

    def rewards(self, sequences: list[ScoredSequence]) -> list[float]:
        """Rewards in batches of similar length (`harness.models.batching`): one policy and one
        reference pass each."""
        rewards = [0.0] * len(sequences)
        lengths = [len(sequence.ids) for sequence in sequences]
        for batch in length_batches(lengths, self.batch_size, self.max_batch_tokens):
            rows = [sequences[index] for index in batch]
            policy = response_logprobs(self.policy, rows, self.eos_id, self.device)
            if self.reference is not None:
                reference = response_logprobs(self.reference, rows, self.eos_id, self.device)
                values = [(mine.sum() - theirs.sum()).item() for mine, theirs in zip(policy, reference)]
            else:
                values = [reference_free(logprobs, self.ref_free_type) for logprobs in policy]
            for index, value in zip(batch, values):
                rewards[index] = value
        return rewards


def dialogue_texts(tokenizer: Any, messages: Sequence[Message], candidates: Sequence[str]) -> tuple[str, list[str]]:
    """The prompt text and each candidate's whole text (`prepare_dialogue_from_tokenizer`)."""
    turns = [{"role": message.role, "content": message.content} for message in messages]
    prompt = tokenizer.apply_chat_template(turns, tokenize=False)
    texts = [tokenizer.apply_chat_template([*turns, {"role": "assistant", "content": candidate}], tokenize=False)
             for candidate in candidates]
    return prompt, texts


def tokenize_candidates(tokenizer: Any, prompt: str, texts: Sequence[str], *, bos_id: int, eos_id: int,
                        max_length: int, max_prompt_length: int) -> list[ScoredSequence]:
    """`tokenize_row` for any number of candidates: BOS, EOS, then keep-end truncation."""
    parts = [split_prompt_response(tokenizer, prompt, text.replace(prompt, "")) for text in texts]
    parts = [([bos_id, *prompt_ids], [*response_ids, eos_id]) for prompt_ids, response_ids in parts]
    longest = max(len(response_ids) for _, response_ids in parts)
    sequences = []
    for prompt_ids, response_ids in parts:
        if len(prompt_ids) + longest > max_length:
            prompt_ids = prompt_ids[-max_prompt_length:]
        if len(prompt_ids) + longest > max_length:
            response_ids = response_ids[:max_length - max_prompt_length]
        sequences.append(ScoredSequence(prompt_ids, response_ids))
    return sequences


def split_prompt_response(tokenizer: Any, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """`build_tokenized_answer`: tokenise prompt + response together (BPE merges across the join
    differ from tokenising apart), and start the response one token early where the prompt's
    own tokens do not prefix the whole's."""
    whole = tokenizer(prompt + response, add_special_tokens=False)["input_ids"]
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(whole) < len(prompt_ids):
        raise ValueError(f"the prompt {prompt[-60:]!r} has more tokens than prompt + response; "
                         "RewardBench's tokenize_row rejects such a row too")
    start = len(prompt_ids) - (prompt_ids != whole[:len(prompt_ids)])
    return whole[:start], whole[start:]


@torch.inference_mode()
def response_logprobs(model: Any, rows: list[ScoredSequence], pad_id: int, device: torch.device) -> list[torch.Tensor]:
    """Per-token log-probabilities of each row's response tokens, from one right-padded forward
    pass. Only the positions that predict response tokens get logits (`logits_to_keep`), and
    each row's are normalised on its own: memory stays rows x response x vocabulary."""
    input_ids, attention_mask = _pad([row.ids for row in rows], pad_id, left=False)
    width = input_ids.shape[1]
    keep = width - min(len(row.prompt) for row in rows) + 1
    extra = {"logits_to_keep": keep} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **extra).logits
    offset = width - logits.shape[1]  # the sequence position of logits[:, 0]
    results = []
    for index, row in enumerate(rows):
        start = len(row.prompt) - 1 - offset
        predicted = torch.log_softmax(logits[index, start:start + len(row.response)].float(), dim=-1)
        target = torch.tensor(row.response, dtype=torch.long, device=predicted.device)
        results.append(predicted.gather(-1, target[:, None]).squeeze(-1).cpu())
    return results


def reference_free(logprobs: torch.Tensor, kind: str) -> float:
    """The reference-free reward of one response (`get_batch_logps`' three reductions)."""
    if kind == "avg":
        return logprobs.mean().item()
    if kind == "norm":
        return -torch.linalg.vector_norm(logprobs).item()
    return logprobs.sum().item()
