"""`rm:` a sequence-classification reward model, scored as RewardBench's own pipeline scores it.

Each (conversation, candidate) becomes the tokenizer's chat template applied to the conversation
plus the candidate as the assistant's turn (`prepare_dialogue_from_tokenizer`, no generation
prompt), tokenised with special tokens, truncated at the end to `max_length` (2048), padded on the
tokenizer's side; a doubled BOS (template BOS + tokenizer BOS) has its first one masked out; the
score is the raw logit of `label` (0): `RewardBenchPipeline` with `function_to_apply="none"`.
Batches are length-sorted across every candidate of a chunk and capped in rows and padded tokens
(`harness.models.batching`); batching changes no score beyond float rounding (tested to 1e-4).

Not reproduced: the official runner loads some models in 8-bit and defaults to float16 (hardware
choices; pass `dtype=float16` to match a float16 run), and falls back to fastchat templates for
tokenizers without a chat template (we ask for a tokenizer that has one).
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any, Sequence

import torch
from transformers import AutoModelForSequenceClassification

from harness.errors import UsageError
from harness.models.base import require_kind
from harness.models.batching import batch_token_cap, length_batches
from harness.models.checkpoints import identity_digest
from harness.models.hf import _pad
from harness.models.hf_loading import Checkpoint, resolve_device, resolve_dtype
from harness.types import Request, Response

# Bump when a change here changes outputs, so scores cached from the old code are not reused.
ENGINE_REVISION = 1


class RewardClassifierModel:
    """A reward model from a hub id or a local directory; `batch_size` sequences per forward pass."""

    cacheable = True

    def __init__(self, name: str, *, batch_size: int = 8, dtype: str = "auto", device: str = "auto",
                 max_length: int = 2048, label: int = 0, max_batch_tokens: int | str = "auto",
                 revision: str | None = None, trust_remote_code: bool = False, cache_dir: str | None = None) -> None:
        if not name:
            raise UsageError("rm: needs a reward model, e.g. rm:Skywork/Skywork-Reward-Llama-3.1-8B or rm:./checkpoint")
        if batch_size < 1 or max_length < 2:
            raise UsageError(f"rm: batch_size={batch_size}, max_length={max_length}: use positive sizes")
        self.name = name
        self.batch_size = batch_size
        self.chunk_size = 16 * batch_size  # requests per call; each holds two or more candidates
        self.max_length = max_length
        self.device = resolve_device(device)
        self.max_batch_tokens = batch_token_cap(max_batch_tokens, self.device, f"rm:{name}")
        self._dtype = resolve_dtype(dtype)
        # Checked now, loaded by the first request that needs the weights (see hf_loading).
        self.checkpoint = Checkpoint(name, backend="rm", model_class=AutoModelForSequenceClassification,
                                     revision=revision, trust_remote_code=trust_remote_code, cache_dir=cache_dir)
        self.tokenizer = self.checkpoint.load_tokenizer()
        if not getattr(self.tokenizer, "chat_template", None):
            raise UsageError(f"rm:{name}: its tokenizer has no chat template, so conversations cannot be formatted "
                             "as the model saw them in training; give the checkpoint a chat_template "
                             "(tokenizer_config.json) or use a model that ships one")
        if not 0 <= label < self.checkpoint.config.num_labels:
            raise UsageError(f"rm:{name}: label={label} but the model has {self.checkpoint.config.num_labels} output(s)")
        self.label = label
        if self.tokenizer.pad_token_id is None:  # as the official runner: pad with EOS
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._fingerprint = identity_digest({
            "backend": "rm", "engine": ENGINE_REVISION, "checkpoint": self.checkpoint.identity(),
            "dtype": dtype, "max_length": max_length, "label": label,
        })

    def fingerprint(self) -> str:
        return self._fingerprint

    @cached_property
    def model(self) -> Any:
        model = self.checkpoint.load_model(self.device, dtype=self._dtype)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.tokenizer.pad_token_id
        return model

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Score every candidate of every reward request; one score per candidate, in order."""
        require_kind(requests, "reward", f"rm:{self.name}", "is a reward model", "rewardbench")
        began = time.perf_counter()
        owners = [(r, c) for r, request in enumerate(requests) for c in range(len(request.candidates or ()))]
        sequences = [self.encode(requests[r], c) for r, c in owners]
        scores = self.score_sequences(sequences)
        per_request: list[list[float]] = [[] for _ in requests]
        tokens = [0] * len(requests)
        for (r, _), score, sequence in zip(owners, scores, sequences):
            per_request[r].append(score)
            tokens[r] += len(sequence)
        share = (time.perf_counter() - began) / max(1, len(requests))
        return [Response(scores=tuple(values), input_tokens=count, latency_s=share)
                for values, count in zip(per_request, tokens)]

    def render(self, request: Request, candidate: int) -> str:
        """The text the model reads for one candidate: the chat template over the whole dialogue."""
        assert request.messages is not None and request.candidates is not None
        turns = [{"role": m.role, "content": m.content} for m in request.messages]
        turns.append({"role": "assistant", "content": request.candidates[candidate]})
        return self.tokenizer.apply_chat_template(turns, tokenize=False)

    def encode(self, request: Request, candidate: int) -> list[int]:
        """Token ids as the official pipeline makes them: special tokens added, end truncated."""
        return self.tokenizer(self.render(request, candidate), truncation=True, max_length=self.max_length)["input_ids"]

    def score_sequences(self, sequences: list[list[int]]) -> list[float]:
        """The `label` logit of each sequence, in batches of similar length (see the module docstring)."""
        scores = [0.0] * len(sequences)
        for batch in length_batches([len(sequence) for sequence in sequences], self.batch_size, self.max_batch_tokens):
            for index, value in zip(batch, self._forward([sequences[i] for i in batch])):
                scores[index] = value
        return scores

    @torch.inference_mode()
    def _forward(self, rows: list[list[int]]) -> list[float]:
        input_ids, attention_mask = _pad(rows, self.tokenizer.pad_token_id, left=self.tokenizer.padding_side == "left")
        _mask_doubled_bos(input_ids, attention_mask, self.tokenizer.bos_token_id)
        logits = self.model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device)).logits
        return logits[:, self.label].float().cpu().tolist()


def _mask_doubled_bos(input_ids: torch.Tensor, attention_mask: torch.Tensor, bos_id: Any) -> None:
    """Where a row starts with two BOS tokens (the template's and the tokenizer's), mask the first,
    as `RewardBenchPipeline` does (it keeps the token and its position, and hides it)."""
    if bos_id is None:
        return
    rows = torch.arange(input_ids.size(0))
    starts = attention_mask.argmax(dim=1)
    second = torch.clamp(starts + 1, max=input_ids.size(1) - 1)
    doubled = (input_ids[rows, starts] == bos_id) & (input_ids[rows, second] == bos_id)
    attention_mask[rows[doubled], starts[doubled]] = 0
