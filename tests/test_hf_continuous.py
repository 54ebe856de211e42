"""`hf:` continuous batching (harness/models/hf_continuous.py) and the memory a batch holds.

Outputs must not depend on which requests share the slots, when a slot is refilled, or when the
cache shifts; peak memory is measured as allocated tensor bytes (the profiler's allocation
record), never as time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from harness.models import hf_continuous, hf_decoding
from harness.models.hf import HFModel
from harness.types import GenerationSettings, Request

SENTENCES = ("Tom buys 3 apples and then", "Question: How many eggs are there? Answer:", "Anna",
             "The farmer sells 17 books and then 8 more. Question: How many", "Our team walks 9 miles.")


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> HFModel:
    return HFModel(str(tiny_model_dir), batch_size=3)


def ask(prompt: str, **settings) -> Request:
    return Request("generate", "s", prompt=prompt, settings=GenerationSettings(**settings))


def varied_prompts(count: int) -> list[str]:
    """Prompts of many lengths (some one word), so slots free up at different steps."""
    return [" ".join(SENTENCES[(index + k) % len(SENTENCES)] for k in range(1 + index * 7 % 11))
            for index in range(count)]


def through_generate(model: HFModel, requests: list[Request], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The same requests decoded by transformers' `generate`, batch by batch."""
    with monkeypatch.context() as patch:
        patch.setattr(hf_continuous, "plain_decoding_supported", lambda *args: False)
        return [response.text for response in model.generate(requests)]


@pytest.mark.parametrize("stop", [(), ("Answer", "and")])
def test_refilled_slots_answer_as_generate_does(model: HFModel, monkeypatch: pytest.MonkeyPatch,
                                                stop: tuple[str, ...]) -> None:
    """14 requests through 3 slots with tokens that often end answers early: slots are refilled,
    dropped at the end, and the shared cache shifts (20 new tokens, many more steps)."""
    requests = [ask(prompt, max_tokens=20, stop=stop) for prompt in varied_prompts(14)]
    continuous = [response.text for response in model.generate(requests)]
    assert continuous == through_generate(model, requests, monkeypatch)
    assert [r.text for r in model.generate(requests[5:8])] == continuous[5:8]  # other slot-mates, same answers


def test_one_token_prompts_need_no_prefill(model: HFModel, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = [ask("Anna", max_tokens=6), ask("", max_tokens=6), ask("Tom", max_tokens=6)]
    assert [len(model.tokenizer(r.prompt)["input_ids"]) for r in requests] == [1, 0, 1]
    assert [r.text for r in model.generate(requests)] == through_generate(model, requests, monkeypatch)


def test_sampled_answers_follow_their_seed_not_their_slot(model: HFModel) -> None:
    requests = [ask(prompt, max_tokens=12, temperature=0.9, seed=index) for index, prompt in enumerate(varied_prompts(7))]
    together = [response.text for response in model.generate(requests)]
    alone = [model.generate([request])[0].text for request in requests]
    assert together == alone and len(set(together)) > 1


def test_finish_reason_and_token_counts(model: HFModel) -> None:
    capped, stopped = model.generate([ask("Tom buys", max_tokens=4), ask("Tom buys 3 apples and then", max_tokens=30,
                                                                             stop=(" ",))])
    assert (capped.output_tokens, capped.finish_reason) == (4, "length")
    assert stopped.finish_reason == "stop" and " " not in stopped.text


def long_prompt(model: HFModel, tokens: int) -> str:
    """Sentences repeated until the prompt is at least `tokens` tokens long."""
    prompt = ""
    while len(model.tokenizer(prompt)["input_ids"]) < tokens:
        prompt += " ".join(SENTENCES) + " "
    return prompt


def peak_allocated_bytes(action: Callable[[], object]) -> int:
    """The most tensor memory alive at once while `action` ran, from the profiler's record of
    every allocation and free (CPU)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as recording:
        action()
    events = sorted((event for event in recording.profiler.kineto_results.events() if event.name() == "[memory]"),
                    key=lambda event: event.start_ns())
    alive = peak = 0
    for event in events:
        alive += event.nbytes()
        peak = max(peak, alive)
    return peak


@pytest.mark.parametrize("decoding", ["continuous", "generate"])
def test_a_batch_of_long_prompts_holds_one_prefill_at_a_time(model: HFModel, monkeypatch: pytest.MonkeyPatch,
                                                            decoding: str) -> None:
    """8 prompts of ~600 tokens, prefilled one at a time: a batch may hold their caches, but not
    every prefill's activations (a prefill recording autograd did: 11.7 GB for 8 GSM8K prompts on
    SmolLM2-135M, against 1.8 GB since)."""
    if decoding == "generate":
        monkeypatch.setattr(hf_continuous, "plain_decoding_supported", lambda *args: False)
    model.batch_size = 8
    prompts = [long_prompt(model, 560 + 20 * index) for index in range(8)]
    lengths = [len(model.tokenizer(prompt)["input_ids"]) for prompt in prompts]
    assert min(lengths) >= hf_decoding.PER_ROW_PREFILL_MIN_TOKENS
    config = model.model.config
    cache_bytes_per_token = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * 4
    try:
        one = peak_allocated_bytes(lambda: model.generate([ask(prompts[0], max_tokens=2)]))
        eight = peak_allocated_bytes(lambda: model.generate([ask(prompt, max_tokens=2) for prompt in prompts]))
    finally:
        model.batch_size = 3
    caches = 8 * cache_bytes_per_token * (max(lengths) + 5)
    assert eight <= one + 2 * caches, (one, eight, caches)


def test_weights_are_frozen_so_no_forward_records_autograd(model: HFModel) -> None:
    assert not any(parameter.requires_grad for parameter in model.model.parameters())
    output = model.model(input_ids=torch.tensor([[3, 4, 5]], device=model.device))
    assert output.logits.grad_fn is None
