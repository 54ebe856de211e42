"""Any harness model spec as an lm-eval model: `--model harness --model_args spec=hf:...`.

lm-eval asks through its three methods; each Instance becomes the harness Request
`harness.lmeval.convert` makes of it, and the spec's model (a backend or an adapter around one,
`critic-cot:hf:...`) answers through its one `generate`. Continuations of one context travel
together as one loglikelihood Request, as harness backends prefer.

lm-eval splits `--model_args` at commas, so `spec=critic-cot:hf:./ckpt,n=16` arrives as
`spec=critic-cot:hf:./ckpt` and `n=16`: every argument other than this class's own goes back
into the spec, which reads the same as the harness's `--model critic-cot:hf:./ckpt,n=16`.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from lm_eval.api.model import LM
from tqdm import tqdm

from harness.errors import UsageError
from harness.lmeval.convert import DEFAULT_MAX_GEN_TOKS, generation_settings, loglikelihood_results, scoring_request
from harness.models.base import ModelSpec, load_model, parse_model_spec
from harness.registry import MODELS
from harness.types import Request, Response


class HarnessLM(LM):
    """lm-eval's LM interface over a harness Model."""

    def __init__(self, spec: str | None = None, max_gen_toks: int = DEFAULT_MAX_GEN_TOKS, seed: int = 0,
                 batch_size: int | str | None = None, max_batch_size: int | None = None,
                 device: str | None = None, **model_args: Any) -> None:
        super().__init__()
        if not spec:
            raise UsageError("--model harness needs a harness model spec: --model_args spec=hf:NAME "
                             "(or spec=vllm:..., spec=critic-cot:hf:..., any `harness run --model` value)")
        parsed = parse_model_spec(str(spec))
        # The spec's own arguments win over lm-eval's --batch_size/--device (which have defaults).
        args = {**_backend_options(parsed.backend, batch_size, device), **parsed.args, **model_args}
        self.spec = ModelSpec(parsed.backend, parsed.name, args)
        self.model = load_model(self.spec)
        self.max_gen_toks = int(max_gen_toks)
        self.seed = int(seed)

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """`(context, continuation)` pairs; pairs sharing a context are asked as one Request."""
        by_context: dict[str, list[int]] = {}
        for index, instance in enumerate(requests):
            by_context.setdefault(instance.args[0], []).append(index)
        groups = list(by_context.values())
        asked = [scoring_request(f"lm-eval/{members[0]}", [requests[i].args[:2] for i in members]) for members in groups]
        answers = self._answer(asked, "loglikelihood", disable_tqdm)
        results: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
        for members, request, response in zip(groups, asked, answers):
            for index, result in zip(members, loglikelihood_results(response, len(members), request.sample_id)):
                results[index] = result
                self.cache_hook.add_partial("loglikelihood", requests[index].args, result)
        return results

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise UsageError(f"--model harness (spec {self.spec}) cannot answer loglikelihood_rolling (perplexity over "
                         "token windows, e.g. wikitext): harness models score continuations within one context "
                         "and do not expose token windows; run such tasks with lm-eval's own backend (--model hf)")

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """`(context, gen_kwargs)` pairs as generate Requests with the same decoding settings."""
        asked = [Request(kind="generate", sample_id=f"lm-eval/{index}", prompt=instance.args[0],
                         settings=generation_settings(instance.args[1], f"--model harness, request {index}",
                                                      self.max_gen_toks, self.seed))
                 for index, instance in enumerate(requests)]
        texts = [response.text for response in self._answer(asked, "generate_until", disable_tqdm)]
        for instance, text in zip(requests, texts):
            self.cache_hook.add_partial("generate_until", instance.args, text)
        return texts

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        raise UsageError("--model harness does not support --apply_chat_template: lm-eval renders chat turns to "
                         "one string, while harness backends template chat themselves; run without it, or use "
                         "`harness run --task NAME --task-args format=chat` for a chat prompt")

    def _answer(self, requests: Sequence[Request], what: str, disable_tqdm: bool) -> list[Response]:
        """Every request answered, in order; the model is called chunk by chunk (its
        `chunk_size`), longest prompt first as lm-eval orders its own batches."""
        order = sorted(range(len(requests)), key=lambda index: -len(requests[index].prompt_text()))
        size = max(1, int(self.model.chunk_size))
        answers: list[Response] = [Response()] * len(requests)
        with tqdm(total=len(requests), desc=f"harness {self.model.name}: {what}", disable=disable_tqdm) as bar:
            for start in range(0, len(order), size):
                chunk = order[start:start + size]
                responses = self.model.generate([requests[index] for index in chunk])
                for index, response in zip(chunk, responses):
                    if response.error:
                        raise RuntimeError(f"model {self.spec} could not answer {what} request "
                                           f"{requests[index].sample_id}: {response.error}")
                    answers[index] = response
                bar.update(len(chunk))
        return answers

    def get_model_info(self) -> dict[str, Any]:
        """What lm-eval writes into its results' config: the spec and the model's fingerprint."""
        return {"harness_spec": str(self.spec), "harness_fingerprint": self.model.fingerprint()}


def _backend_options(backend: str, batch_size: int | str | None, device: str | None) -> dict[str, Any]:
    """lm-eval's --batch_size and --device, for a backend that takes them (an adapter or API
    backend does not; `auto` batch sizes are lm-eval's HF probing, which no backend does; an
    unavailable CUDA device is left to the backend's automatic choice)."""
    parameters = inspect.signature(MODELS.get(backend)).parameters
    options: dict[str, Any] = {}
    if batch_size is not None and str(batch_size).isdigit() and "batch_size" in parameters:
        options["batch_size"] = int(batch_size)
    if device is not None and "device" in parameters and _visible(device):
        options["device"] = device
    return options


def _visible(device: str) -> bool:
    """Whether a CUDA device is there; lm-eval's CLI defaults to cuda:0 and its HF backend, like
    ours left to device=auto, falls back to the CPU where there is none."""
    if not device.startswith("cuda"):
        return True
    import torch

    index = int(device.partition(":")[2] or 0)
    return index < torch.cuda.device_count()
