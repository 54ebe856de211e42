"""The `hf:` backend: a local, hub or GGUF checkpoint run in-process with transformers.

Outputs follow lm-eval's HF backend (prompts tokenised without special tokens and left-truncated
to the context window, stop strings cut from the text, loglikelihood of the continuation's
tokens), so scores compare with lm-eval's. Generation uses continuous batching (`hf_continuous`)
where it computes what `generate` would, and length-sorted, left-padded `generate` batches
otherwise; what makes either fast on CPU lives in `hf_decoding`. Loglikelihoods are
`hf_scoring`'s, which reads a context shared by several choices once. Checking and loading the
checkpoint are `hf_loading`'s.

The decoding modules import transformers' generation and attention code (seconds on 2 cores), so
they are imported by the methods that decode: a rerun answered from the response cache, which
builds and fingerprints the model but never asks it, does not pay for them.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from functools import cached_property, lru_cache
from typing import Any, Callable, Iterator, Sequence

import torch

from harness.errors import UsageError
from harness.models.checkpoints import identity_digest
from harness.models.hf_loading import Checkpoint, resolve_device, resolve_dtype
from harness.models.hf_scoring import LoglikelihoodScorer, Row, split_context_continuation
from harness.types import GenerationSettings, Request, Response

# Bump when a change here changes outputs, so responses cached from the old code are not reused.
ENGINE_REVISION = 3  # 2: sampling seeded per row (hf_sampling); 3: continuous batching (hf_continuous)
# Requests per call, in batches: continuous batching refills a finished row's slot from the rest
# of the call, so a call holds several batches' worth (the runner saves progress after each call).
BATCHES_PER_CALL = 8


class HFModel:
    """A causal LM from a hub id, a local directory or a GGUF file; `batch_size` rows decode at once.

    The checkpoint is checked at construction and loaded by the first request that needs it (its
    tokenizer by `render`, its weights by `generate`), so a rerun answered from the response cache
    never loads them; the fingerprint comes from the checkpoint's files and the arguments.
    """

    cacheable = True

    def __init__(
        self,
        name: str,
        *,
        batch_size: int = 8,
        dtype: str = "auto",
        device: str = "auto",
        max_length: int | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        chat_template: bool | None = None,
        attn_implementation: str | None = None,
        cache_dir: str | None = None,
        gguf_file: str | None = None,
    ) -> None:
        """`chat_template`: see `chat_turns`. `attn_implementation` None picks SDPA, with
        matmul decoding steps on CPU. `cache_dir`: the hub cache to load from (default: HF_HOME's).
        `gguf_file`: a GGUF file in the folder or hub repository `name` (`hf:FILE.gguf` also works),
        dequantized by transformers."""
        if not name:
            raise UsageError("hf: needs a model, e.g. hf:Qwen/Qwen2.5-0.5B, hf:./checkpoint or hf:./model.gguf")
        if batch_size < 1:
            raise UsageError(f"bad batch_size={batch_size} for hf: use a positive integer")
        self.name = name
        self.batch_size = batch_size
        self.chunk_size = batch_size * BATCHES_PER_CALL
        self.chat_template = chat_template
        self.device = resolve_device(device)
        self._dtype = resolve_dtype(dtype)
        self._attn_implementation = attn_implementation
        self._max_length = max_length
        self.checkpoint = Checkpoint(name, gguf_file=gguf_file, revision=revision,
                                     trust_remote_code=trust_remote_code, cache_dir=cache_dir)
        # What the model is without loading it: the files, and the arguments that decide what
        # loading makes of them (the device too, as the default attention differs on CPU).
        self._fingerprint = identity_digest({
            "backend": "hf",
            "engine": ENGINE_REVISION,
            "checkpoint": self.checkpoint.identity(),
            "dtype": dtype,
            "max_length": max_length,
            "chat_template": chat_template,
            "attention": attn_implementation,
            "device": self.device.type,
        })

    def fingerprint(self) -> str:
        return self._fingerprint

    @cached_property
    def tokenizer(self) -> Any:
        return self.checkpoint.load_tokenizer()

    @cached_property
    def model(self) -> Any:
        return self.checkpoint.load_model(self.device, dtype=self._dtype, attn_implementation=self._attn_implementation)

    @cached_property
    def max_length(self) -> int:
        return self._max_length or _context_length(self.model.config, self.tokenizer)

    @cached_property
    def eos_ids(self) -> set[int]:
        return _eos_ids(self.model, self.tokenizer, self.name)

    @cached_property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else min(self.eos_ids)

    @cached_property
    def prefix_id(self) -> int:
        """What an empty context is scored after (lm-eval's prefix token)."""
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else min(self.eos_ids)

    @cached_property
    def scorer(self) -> LoglikelihoodScorer:
        return LoglikelihoodScorer(self.model, self.pad_id, self.batch_size, self.max_length)

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Answer `generate` and `loglikelihood` requests; equal settings share batches (seeds
        aside: each sampled row has its own generator, see `hf_sampling`)."""
        groups: dict[GenerationSettings | None, list[int]] = {}
        for index, request in enumerate(requests):
            if request.kind not in ("generate", "loglikelihood"):
                raise UsageError(
                    f"the hf backend cannot answer {request.kind!r} requests (sample "
                    f"{request.sample_id}); it answers generate and loglikelihood"
                )
            settings = dataclasses.replace(request.settings, seed=None) if request.kind == "generate" else None
            groups.setdefault(settings, []).append(index)
        responses = [Response()] * len(requests)
        for settings, indices in groups.items():
            group = [requests[index] for index in indices]
            if settings is None:
                answers = self._score_group(group)
            else:
                answers = self._generate_group(group, settings, [request.settings.seed for request in group])
            for index, answer in zip(indices, answers):
                responses[index] = answer
        return responses

    def render(self, request: Request) -> str:
        """The exact text the model is fed for a request."""
        return render_prompt(self.tokenizer, request, self.chat_template, f"hf:{self.name}")

    def _encode(self, texts: list[str]) -> list[list[int]]:
        """No special tokens: prompts are used as written (a chat template adds its own BOS)."""
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def _batches(self, lengths: list[int]) -> Iterator[list[int]]:
        """Indices in batches, longest first: each batch pads little, and the first one shows
        at once whether memory suffices."""
        order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    def _generate_group(
        self, requests: list[Request], settings: GenerationSettings, seeds: list[int | None]
    ) -> list[Response]:
        budget = self.max_length - settings.max_tokens
        if settings.max_tokens < 1 or budget < 1:
            raise UsageError(
                f"max_tokens={settings.max_tokens} does not fit hf model {self.name!r}, whose "
                f"context is {self.max_length} tokens; use 1 to {self.max_length - 1}"
            )
        encoded = self._encode([self.render(request) for request in requests])
        prompts = [ids[-budget:] or [self.prefix_id] for ids in encoded]
        from harness.models.hf_continuous import plain_decoding_supported

        if plain_decoding_supported(self.model, self._generation_config(settings)):
            return self._generate_continuously(prompts, settings, seeds)
        responses = [Response()] * len(requests)
        for batch in self._batches([len(prompt) for prompt in prompts]):
            answers = self._generate_batch([prompts[i] for i in batch], settings, [seeds[i] for i in batch])
            for index, answer in zip(batch, answers):
                responses[index] = answer
        return responses

    def _generate_continuously(
        self, prompts: list[list[int]], settings: GenerationSettings, seeds: list[int | None]
    ) -> list[Response]:
        from harness.models.hf_continuous import decode_continuously
        from harness.models.hf_decoding import cut_at_stop

        started = time.perf_counter()
        order = sorted(range(len(prompts)), key=lambda index: -len(prompts[index]))
        decoded = decode_continuously(self.model, self.tokenizer, [prompts[i] for i in order], settings,
                                      [seeds[i] for i in order], slots=self.batch_size, eos_ids=self.eos_ids)
        latency = (time.perf_counter() - started) / len(prompts)
        responses = [Response()] * len(prompts)
        for index, answer in zip(order, decoded):
            text = self.tokenizer.decode(answer.tokens, skip_special_tokens=True)
            responses[index] = Response(text=cut_at_stop(text, settings.stop), input_tokens=len(prompts[index]),
                                        output_tokens=len(answer.tokens), latency_s=latency,
                                        finish_reason="stop" if answer.stopped else "length")
        return responses

    def _generate_batch(
        self, prompts: list[list[int]], settings: GenerationSettings, seeds: list[int | None]
    ) -> list[Response]:
        from transformers import LogitsProcessorList, StoppingCriteriaList

        from harness.models.hf_decoding import StopWatch, cut_at_stop
        from harness.models.hf_sampling import RowSeededSampler

        started = time.perf_counter()
        input_ids, attention_mask = _pad(prompts, self.pad_id, left=True)
        width = input_ids.shape[1]
        watch = StopWatch(self.tokenizer, settings.stop, self.eos_ids, width)
        cache = self._decoding_cache(prompts, width + settings.max_tokens)
        sampler = [] if settings.greedy else [RowSeededSampler(seeds, settings.temperature, settings.top_p, self.device)]
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                generation_config=self._generation_config(settings),
                stopping_criteria=StoppingCriteriaList([watch]),
                logits_processor=LogitsProcessorList(sampler),
                **({"cache": cache} if cache is not None else {}),
            )
        latency = (time.perf_counter() - started) / len(prompts)
        responses = []
        for row, prompt in enumerate(prompts):
            kept = watch.finished_at.get(row, output.shape[1] - width)
            text = self.tokenizer.decode(output[row, width : width + kept], skip_special_tokens=True)
            responses.append(
                Response(
                    text=cut_at_stop(text, settings.stop),
                    input_tokens=len(prompt),
                    output_tokens=kept,
                    latency_s=latency,
                    finish_reason="stop" if row in watch.finished_at else "length",
                )
            )
        return responses

    def _decoding_cache(self, prompts: list[list[int]], capacity: int) -> Any:
        """Long prompts on CPU prefill one at a time; elsewhere `generate` prefills the batch."""
        from harness.models.hf_decoding import PER_ROW_PREFILL_MIN_TOKENS, preallocated_cache, prefill_rows

        if self.device.type == "cpu" and max(map(len, prompts)) >= PER_ROW_PREFILL_MIN_TOKENS:
            return prefill_rows(self.model, prompts, capacity)
        return preallocated_cache(self.model.config, capacity)

    def _generation_config(self, settings: GenerationSettings) -> Any:
        """The model's own generation config (its EOS ids, say) with greedy decoding on top:
        sampling, when asked, is done by `RowSeededSampler` (temperature and top-p, as in vLLM)."""
        config = copy.deepcopy(self.model.generation_config)
        config.update(
            max_new_tokens=settings.max_tokens,
            pad_token_id=self.pad_id,
            eos_token_id=sorted(self.eos_ids),
            num_beams=1,
            top_k=None,
            do_sample=False,
            temperature=None,
            top_p=None,
        )
        return config

    def _score_group(self, requests: list[Request]) -> list[Response]:
        """Each candidate's sum of log p(continuation tokens | context), as lm-eval's
        loglikelihood; the pairs of all the requests are scored together, so that contexts
        shared by choices (and few-shot examples shared by questions) are read once."""
        scorer = self.scorer  # loading the model is no request's latency
        started = time.perf_counter()
        # remembered: every choice of a question encodes the question's context
        encode = lru_cache(maxsize=None)(lambda text: self._encode([text])[0])
        rows = [self._choice_rows(request, encode) for request in requests]
        results = scorer.score([row for choices in rows for row in choices])
        latency = (time.perf_counter() - started) / len(requests)
        responses, start = [], 0
        for choices in rows:
            scores, greedy = zip(*results[start : start + len(choices)])
            start += len(choices)
            responses.append(Response(scores=scores, greedy=greedy, latency_s=latency,
                                      input_tokens=sum(len(row.tokens) + 1 for row in choices)))
        return responses

    def _choice_rows(self, request: Request, encode: Callable[[str], list[int]]) -> list[Row]:
        """Candidate i's row: its tokens after the prompt (plus `contexts[i]`), as lm-eval's
        `_encode_pair` splits them."""
        prompt = self.render(request)
        candidates = request.candidates or ()
        rows = []
        for index, (context, candidate) in enumerate(zip(request.contexts or [""] * len(candidates), candidates)):
            context_ids, continuation_ids = split_context_continuation(encode, prompt + context, candidate,
                                                                        self.prefix_id)
            if not continuation_ids:
                raise UsageError(f"candidate {index} of sample {request.sample_id} ({candidate!r}) has no tokens to "
                                 "score; give every choice some text")
            rows.append(Row.of(context_ids, continuation_ids, self.max_length))
        return rows


def render_prompt(tokenizer: Any, request: Request, chat_template: bool | None, model: str) -> str:
    """A plain prompt as written, or the chat turns through the tokenizer's chat template."""
    turns = chat_turns(tokenizer, request, chat_template, model)
    if turns is None:
        return request.prompt or ""
    prefill = request.continues_assistant
    return tokenizer.apply_chat_template(turns, add_generation_prompt=not prefill,
                                         continue_final_message=prefill, tokenize=False)


def chat_turns(
    tokenizer: Any, request: Request, chat_template: bool | None, model: str, images: bool = False
) -> list[dict] | None:
    """The request as chat turns, or None for a prompt to be used as written.

    `chat_template`: None templates chat requests only; True also wraps a plain prompt as one
    user turn (lm-eval's --apply_chat_template --fewshot_as_multiturn false); False refuses chat requests. `images`: whether
    the caller can pass image parts on (vLLM's `LLM.chat` can; a text tokenizer cannot).
    """
    if not images and request.messages and any(message.images for message in request.messages):
        raise UsageError(f"model {model} reads text only, and sample {request.sample_id!r} shows images; serve a "
                         "vision-language model with vLLM and use vllm:NAME or openai:NAME,base_url=...")
    if request.messages is None and not chat_template:
        return None
    if chat_template is False:
        raise UsageError(
            f"model {model} was loaded with chat_template=false, so it cannot answer chat "
            "requests (messages); drop chat_template=false or use a task with plain prompts"
        )
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError(
            f"model {model} has no chat template, so chat requests (messages) cannot be "
            "rendered; use a chat/instruct model or a task with plain prompts"
        )
    if request.messages is None:
        return [{"role": "user", "content": request.prompt or ""}]
    return [message.as_openai() for message in request.messages]


def _eos_ids(model: Any, tokenizer: Any, name: str) -> set[int]:
    """The generation config's EOS ids plus the tokenizer's, as lm-eval also stops at the latter."""
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    ids.discard(None)
    if not ids:
        raise UsageError(f"hf model {name!r} defines no EOS token; give its tokenizer an eos_token")
    return ids


def _pad(rows: list[list[int]], pad_id: int, *, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask; left padding for generation, right for scoring."""
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        input_ids[index, span] = torch.tensor(row, dtype=torch.long)
        attention_mask[index, span] = 1
    return input_ids, attention_mask


def _context_length(config: Any, tokenizer: Any) -> int:
    """lm-eval's order of precedence, so prompts are truncated where lm-eval truncates them."""
    for attribute in ("n_positions", "max_position_embeddings", "n_ctx"):
        if isinstance(getattr(config, attribute, None), int):
            return getattr(config, attribute)
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 10**9 else 2048
