"""The `vllm:` backend: a thin layer over vLLM's offline `LLM` API.

vLLM schedules its own batches continuously, so the engine hands it large chunks and this module
only maps requests to `SamplingParams` and outputs back to Responses. Prompts are passed as token
ids encoded without special tokens and loglikelihoods come from `prompt_logprobs`, both as in
lm-eval's vLLM backend, so `hf:` and `vllm:` runs of one checkpoint are comparable. Untested on a
GPU here (no vLLM in this workplace); the unit tests drive it through a fake `vllm` module.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from harness.errors import UsageError
from harness.models.checkpoints import checkpoint_identity, identity_digest
from harness.models.hf import chat_turns, render_prompt
from harness.models.hf_scoring import split_context_continuation
from harness.types import GenerationSettings, Request, Response

# Engine arguments that change what the model outputs, hence part of the fingerprint.
OUTPUT_ARGS = (
    "dtype",
    "quantization",
    "max_model_len",
    "tokenizer",
    "tokenizer_revision",
    "kv_cache_dtype",
    "hf_overrides",
    "seed",
)


class VLLMModel:
    """A model served in-process by vLLM; extra keyword arguments go to `vllm.LLM` unchanged."""

    cacheable = True

    def __init__(
        self,
        name: str,
        *,
        chunk_size: int = 1024,
        revision: str | None = None,
        chat_template: bool | None = None,
        **engine_args: Any,
    ) -> None:
        """`chat_template` as for `hf:`; `engine_args` are vLLM's: tensor_parallel_size, dtype,
        gpu_memory_utilization, max_model_len, seed, trust_remote_code, ..."""
        if not name:
            raise UsageError("vllm: needs a model, e.g. vllm:Qwen/Qwen2.5-7B-Instruct")
        try:
            from vllm import LLM, SamplingParams
        except ImportError as error:
            raise UsageError(
                f"the vllm backend needs vLLM ({error}): pip install 'harness[vllm]'"
            ) from error
        self.name = name
        self.chunk_size = chunk_size
        self.chat_template = chat_template
        self._sampling_params = SamplingParams
        self.llm = LLM(model=name, revision=revision, **engine_args)
        self.tokenizer = self.llm.get_tokenizer()
        identity = {
            "backend": "vllm",
            "checkpoint": checkpoint_identity(name, revision),
            "chat_template": chat_template,
            **{key: engine_args[key] for key in OUTPUT_ARGS if key in engine_args},
        }
        self._fingerprint = identity_digest(identity)

    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Plain prompts through `LLM.generate`, chat through `LLM.chat`, loglikelihoods through
        prompt logprobs; each is one call so vLLM can schedule all of it at once."""
        for request in requests:
            if request.kind not in ("generate", "loglikelihood"):
                raise UsageError(
                    f"the vllm backend cannot answer {request.kind!r} requests (sample "
                    f"{request.sample_id}); it answers generate and loglikelihood"
                )
        responses: list[Response] = [Response()] * len(requests)
        chat = [i for i, r in enumerate(requests) if r.kind == "generate" and self._is_chat(r)]
        plain = [i for i, r in enumerate(requests) if r.kind == "generate" and not self._is_chat(r)]
        scored = [i for i, r in enumerate(requests) if r.kind == "loglikelihood"]
        for indices, run in ((plain, self._complete), (chat, self._chat), (scored, self._score)):
            if indices:
                for index, response in zip(indices, run([requests[i] for i in indices])):
                    responses[index] = response
        return responses

    def _is_chat(self, request: Request) -> bool:
        return request.messages is not None or bool(self.chat_template)

    def sampling_params(self, settings: GenerationSettings) -> Any:
        """Our settings in vLLM's terms; greedy is temperature 0, as in vLLM."""
        return self._sampling_params(
            temperature=settings.temperature,
            top_p=settings.top_p if not settings.greedy else 1.0,
            max_tokens=settings.max_tokens,
            stop=list(settings.stop) or None,
            seed=settings.seed,
        )

    def _complete(self, requests: list[Request]) -> list[Response]:
        prompts = [
            {"prompt_token_ids": self.tokenizer.encode(r.prompt or "", add_special_tokens=False)}
            for r in requests
        ]
        params = [self.sampling_params(r.settings) for r in requests]
        started = time.perf_counter()
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return _completions(outputs, (time.perf_counter() - started) / len(requests))

    def _chat(self, requests: list[Request]) -> list[Response]:
        """`LLM.chat` per prefill kind: its flags apply to a whole call, so prefilled turns
        (a trailing assistant message, continued) go in their own call."""
        responses: list[Response | None] = [None] * len(requests)
        for prefill in (False, True):
            indices = [i for i, r in enumerate(requests) if r.continues_assistant == prefill]
            if not indices:
                continue
            model = f"vllm:{self.name}"
            conversations = [chat_turns(self.tokenizer, requests[i], self.chat_template, model, images=True)
                             for i in indices]
            params = [self.sampling_params(requests[i].settings) for i in indices]
            started = time.perf_counter()
            outputs = self.llm.chat(conversations, params, use_tqdm=False, add_generation_prompt=not prefill,
                                    continue_final_message=prefill)
            for i, response in zip(indices, _completions(outputs, (time.perf_counter() - started) / len(indices))):
                responses[i] = response
        return [response for response in responses if response is not None]

    def _score(self, requests: list[Request]) -> list[Response]:
        """Every (context, candidate) pair of every request in one `generate` call; vLLM's
        prefix caching computes a context shared by several candidates once."""
        prefix = self.tokenizer.bos_token_id
        if prefix is None:
            prefix = self.tokenizer.eos_token_id
        encode = lambda text: self.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
        pairs: list[list[tuple[list[int], list[int]]]] = []
        for request in requests:
            prompt = render_prompt(self.tokenizer, request, self.chat_template, f"vllm:{self.name}")
            candidates = request.candidates or ()
            contexts = request.contexts or ("",) * len(candidates)
            pairs.append([split_context_continuation(encode, prompt + context, candidate, prefix)
                          for context, candidate in zip(contexts, candidates)])
        params = self._sampling_params(temperature=0.0, max_tokens=1, prompt_logprobs=1, detokenize=False)
        started = time.perf_counter()
        outputs = iter(self.llm.generate(
            [{"prompt_token_ids": context + continuation} for choices in pairs for context, continuation in choices],
            params,
            use_tqdm=False,
        ))
        latency = (time.perf_counter() - started) / len(requests)
        responses = []
        for choices in pairs:
            scored = [_continuation_logprob(next(outputs).prompt_logprobs[len(context) :], continuation)
                      for context, continuation in choices]
            responses.append(Response(
                scores=tuple(logprob for logprob, _ in scored),
                greedy=tuple(greedy for _, greedy in scored),
                input_tokens=sum(len(context) + len(continuation) for context, continuation in choices),
                latency_s=latency,
            ))
        return responses


def _completions(outputs: list[Any], latency: float) -> list[Response]:
    """vLLM's RequestOutputs as Responses; vLLM already drops the stop string from the text."""
    return [
        Response(
            text=output.outputs[0].text,
            input_tokens=len(output.prompt_token_ids or ()),
            output_tokens=len(output.outputs[0].token_ids),
            latency_s=latency,
            finish_reason=output.outputs[0].finish_reason,
        )
        for output in outputs
    ]


def _continuation_logprob(
    position_logprobs: list[dict[int, Any]], tokens: list[int]
) -> tuple[float, bool]:
    """Sum the continuation's logprobs; greedy when each token is the most likely at its place.

    Each position maps token ids to vLLM `Logprob` objects (floats in old vLLM versions) for the
    actual token plus the top-1 one, which is all the greedy check needs.
    """
    total = 0.0
    greedy = True
    for token, candidates in zip(tokens, position_logprobs):
        values = {token_id: getattr(value, "logprob", value) for token_id, value in candidates.items()}
        total += values[token]
        greedy = greedy and max(values, key=values.__getitem__) == token
    return total, greedy
