"""The `vllm:` backend's mapping to and from vLLM, driven through a fake `vllm` module.

vLLM cannot run in this workplace (no GPU, no wheel), so these tests pin what we send to its
documented offline API (`LLM`, `SamplingParams`, `generate`, `chat`, `prompt_logprobs`) and how
its `RequestOutput`s become Responses.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from harness.errors import UsageError
from harness.models import load_model
from harness.types import GenerationSettings, Message, Request


class FakeSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@dataclass
class FakeLogprob:
    logprob: float


@dataclass
class FakeCompletion:
    text: str
    token_ids: list[int]
    finish_reason: str


@dataclass
class FakeRequestOutput:
    prompt_token_ids: list[int]
    outputs: list[FakeCompletion]
    prompt_logprobs: list[dict[int, FakeLogprob] | None] | None = None


@dataclass
class FakeLLM:
    """Records calls; completes with "ok" and gives each prompt token logprob -1, top token 7."""

    model: str
    kwargs: dict[str, Any]
    calls: list[tuple[str, Any, Any]] = field(default_factory=list)
    chat_flags: list[tuple[bool, bool]] = field(default_factory=list)

    def get_tokenizer(self) -> Any:
        return AutoTokenizer.from_pretrained(self.model)

    def generate(self, prompts: list[dict], params: Any, use_tqdm: bool = True) -> list[FakeRequestOutput]:
        self.calls.append(("generate", prompts, params))
        return [self._output(prompt["prompt_token_ids"]) for prompt in prompts]

    def chat(self, conversations: list[list[dict]], params: Any, use_tqdm: bool = True,
             add_generation_prompt: bool = True, continue_final_message: bool = False) -> list[FakeRequestOutput]:
        """vLLM's LLM.chat keywords (0.6.3+): the flags apply to the whole call."""
        self.calls.append(("chat", conversations, params))
        self.chat_flags.append((add_generation_prompt, continue_final_message))
        return [self._output([5, 6]) for _ in conversations]

    def _output(self, ids: list[int]) -> FakeRequestOutput:
        logprobs = [None] + [{token: FakeLogprob(-1.0), 7: FakeLogprob(-0.5)} for token in ids[1:]]
        return FakeRequestOutput(ids, [FakeCompletion("ok", [3, 4, 0], "stop")], logprobs)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.LLM = lambda model, **kwargs: FakeLLM(model, kwargs)  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_engine_arguments_are_forwarded_to_llm(fake_vllm: types.ModuleType, tiny_model_dir: Path) -> None:
    model = load_model(f"vllm:{tiny_model_dir},tensor_parallel_size=2,dtype=bfloat16,max_model_len=4096")
    assert model.llm.model == str(tiny_model_dir)
    assert model.llm.kwargs == {
        "revision": None,
        "tensor_parallel_size": 2,
        "dtype": "bfloat16",
        "max_model_len": 4096,
    }
    assert model.chunk_size == 1024


def test_prompt_requests_map_to_sampling_params_and_responses(
    fake_vllm: types.ModuleType, tiny_model_dir: Path
) -> None:
    model = load_model(f"vllm:{tiny_model_dir}")
    greedy = GenerationSettings(max_tokens=32, stop=("Question:",))
    sampled = GenerationSettings(max_tokens=8, temperature=0.7, top_p=0.9, seed=3)
    requests = [
        Request("generate", "a", prompt="Tom buys 3 apples", settings=greedy),
        Request("generate", "b", prompt="Anna", settings=sampled),
    ]

    responses = model.generate(requests)

    [(method, prompts, params)] = model.llm.calls
    assert method == "generate"
    assert prompts[0]["prompt_token_ids"] == model.tokenizer.encode("Tom buys 3 apples", add_special_tokens=False)
    assert params[0].kwargs == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 32, "stop": ["Question:"], "seed": None}
    assert params[1].kwargs == {"temperature": 0.7, "top_p": 0.9, "max_tokens": 8, "stop": None, "seed": 3}
    assert [r.text for r in responses] == ["ok", "ok"]
    assert responses[0].output_tokens == 3
    assert responses[0].input_tokens == len(prompts[0]["prompt_token_ids"])
    assert responses[0].finish_reason == "stop"


def test_chat_requests_go_through_llm_chat(fake_vllm: types.ModuleType, tiny_model_dir: Path) -> None:
    model = load_model(f"vllm:{tiny_model_dir}")
    chat = Request("generate", "c", messages=(Message("system", "Be brief."), Message("user", "Hi")))
    plain = Request("generate", "p", prompt="Anna")

    responses = model.generate([chat, plain])

    methods = {method: (inputs, params) for method, inputs, params in model.llm.calls}
    conversations, params = methods["chat"]
    assert conversations == [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]]
    assert params[0].kwargs["max_tokens"] == 256
    assert len(methods["generate"][0]) == 1
    assert [r.text for r in responses] == ["ok", "ok"]


def test_a_prefilled_assistant_turn_is_continued_in_its_own_chat_call(
    fake_vllm: types.ModuleType, tiny_model_dir: Path
) -> None:
    model = load_model(f"vllm:{tiny_model_dir}")
    asked = Request("generate", "a", messages=(Message("user", "Hi"),))
    prefilled = Request("generate", "b", messages=(Message("user", "Hi"), Message("assistant", "Step 1")))

    responses = model.generate([prefilled, asked])

    assert model.llm.chat_flags == [(True, False), (False, True)]
    assert [r.text for r in responses] == ["ok", "ok"]


def test_loglikelihood_sums_prompt_logprobs_of_each_candidate_in_one_call(
    fake_vllm: types.ModuleType, tiny_model_dir: Path
) -> None:
    model = load_model(f"vllm:{tiny_model_dir}")
    choices = Request("loglikelihood", "l", prompt="Tom buys 3", candidates=(" apples", " eggs and then"))
    filled = Request("loglikelihood", "w", prompt="Tom", candidates=(" apples",) * 2, contexts=(" buys 3", " sells 4"))

    responses = model.generate([choices, filled])

    [(_, prompts, params)] = model.llm.calls
    assert params.kwargs == {"temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 1, "detokenize": False}
    encode = lambda text: model.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    pairs = [("Tom buys 3", " apples"), ("Tom buys 3", " eggs and then"), ("Tom buys 3", " apples"),
             ("Tom sells 4", " apples")]
    assert [prompt["prompt_token_ids"] for prompt in prompts] == [encode(context + ending) for context, ending in pairs]
    counts = [len(encode(context + ending)) - len(encode(context)) for context, ending in pairs]
    assert [response.scores for response in responses] == [(-counts[0], -counts[1]), (-counts[2], -counts[3])]
    assert responses[0].greedy == (False, False)  # the fake's top token is 7, never a continuation's
    assert responses[0].input_tokens == len(prompts[0]["prompt_token_ids"]) + len(prompts[1]["prompt_token_ids"])


def test_fingerprint_tracks_output_settings_only(fake_vllm: types.ModuleType, tiny_model_dir: Path) -> None:
    base = load_model(f"vllm:{tiny_model_dir}").fingerprint()
    assert load_model(f"vllm:{tiny_model_dir},tensor_parallel_size=4").fingerprint() == base
    assert load_model(f"vllm:{tiny_model_dir},dtype=float16").fingerprint() != base


def test_missing_vllm_is_a_usage_error_saying_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(UsageError, match=r"pip install 'harness\[vllm\]'"):
        load_model("vllm:any/model")
