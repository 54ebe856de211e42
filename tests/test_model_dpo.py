"""The `dpo:` implicit reward on tiny local Llamas: tokenisation and rewards as RewardBench's
`DPOInference` makes them (pinned against a one-sequence-at-a-time computation), and RewardBench
end to end with a policy fitted to the chosen responses."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any, Sequence

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness import evaluate
from harness.errors import UsageError
from harness.models.base import load_model
from harness.models.dpo import ImplicitRewardModel, split_prompt_response
from harness.testing.tiny import TEST_SIZES, build_tiny_causal_lm, fit_tiny_causal_lm
from harness.types import Message, Request
from tests.conftest import tiny_corpus
from tests.rewardbench_fixtures import V2_SUBSETS, v1_rows, write_v1, write_v2

EOS = 0  # the tiny tokenizer's EOS, also its BOS
LONG_PROMPT = " ".join(["Tom buys 3 apples and then 2 more."] * 12) + " How many apples are there?"
REQUESTS = (
    Request("reward", "single", messages=(Message("user", "Tell me one true fact about apples."),),
            candidates=("Here is a careful, correct fact about apples: they are real.", "no idea apples whatever")),
    Request("reward", "multi-turn", messages=(
        Message("user", "Hi, I like rivers."), Message("assistant", "Nice! What would you like to know?"),
        Message("user", "Where are rivers found?")),
        candidates=("Rivers are found in many places.", "dunno",
                    "Question: How many rivers are there? Answer: 3 + 4 = 7.")),
    Request("reward", "long", messages=(Message("user", LONG_PROMPT),),
            candidates=("5 apples.", "Anna sells 9 eggs and then 5 more, so the answer is 14 apples in all.")),
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`reference`: random; `policy`: the reference fitted to v1's chosen responses (as chat
    text); `twin`: a copy of the reference under another path."""
    root = tmp_path_factory.mktemp("dpo")
    corpus = tiny_corpus() + [f"{row['prompt']} {row['chosen']} {row['rejected']}" for row in v1_rows()]
    reference = build_tiny_causal_lm(root / "reference", corpus, **TEST_SIZES)
    policy, twin = shutil.copytree(reference, root / "policy"), shutil.copytree(reference, root / "twin")
    tokenizer = AutoTokenizer.from_pretrained(reference)
    chats = [tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]},
                                            {"role": "assistant", "content": row["chosen"]}], tokenize=False)
             for row in v1_rows()]
    fit_tiny_causal_lm(policy, chats, steps=20)
    plain = build_tiny_causal_lm(root / "plain", corpus, chat_template=False, **TEST_SIZES)
    return {"reference": reference, "policy": Path(policy), "twin": Path(twin), "plain": plain}


def official_sequences(tokenizer: Any, request: Request, max_length: int,
                       max_prompt_length: int) -> list[tuple[list[int], list[int]]]:
    """`tokenize_row` written out for a ChatML template, whose turns join at special tokens (no
    merges across the join): BOS + prompt, response + EOS, keep-end truncation."""
    turns = [{"role": m.role, "content": m.content} for m in request.messages or ()]
    prompt = tokenizer.apply_chat_template(turns, tokenize=False)
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    responses = []
    for candidate in request.candidates or ():
        text = tokenizer.apply_chat_template([*turns, {"role": "assistant", "content": candidate}], tokenize=False)
        assert text.startswith(prompt)
        responses.append(encode(text[len(prompt):]) + [EOS])
    prompt_ids = [EOS] + encode(prompt)
    longest = max(map(len, responses))
    if len(prompt_ids) + longest > max_length:
        prompt_ids = prompt_ids[-max_prompt_length:]
        if len(prompt_ids) + longest > max_length:
            responses = [response[:max_length - max_prompt_length] for response in responses]
    return [(prompt_ids, response) for response in responses]


@functools.cache
def plain_model(model_dir: Path) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def brute_force_logprobs(model_dir: Path, prompt_ids: list[int], response_ids: list[int]) -> torch.Tensor:
    """log p(token | everything before it) for each response token, one unpadded sequence."""
    model = plain_model(model_dir)
    ids = prompt_ids + response_ids
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0].double()
    return torch.stack([torch.log_softmax(logits[position - 1], dim=-1)[ids[position]]
                        for position in range(len(prompt_ids), len(ids))])


def expected_rewards(models: dict[str, Path], ref_free_type: str | None, max_length: int = 2048,
                     max_prompt_length: int = 128) -> list[float]:
    """Every candidate's reward, request after request."""
    tokenizer = AutoTokenizer.from_pretrained(models["policy"])
    result = []
    for request in REQUESTS:
        for prompt_ids, response_ids in official_sequences(tokenizer, request, max_length, max_prompt_length):
            policy = brute_force_logprobs(models["policy"], prompt_ids, response_ids)
            if ref_free_type is None:
                reference = brute_force_logprobs(models["reference"], prompt_ids, response_ids)
                result.append(float(policy.sum() - reference.sum()))
            else:
                reduce = {"avg": torch.mean, "sum": torch.sum, "norm": lambda t: -torch.sqrt((t ** 2).sum())}
                result.append(float(reduce[ref_free_type](policy)))
    return result


def all_rewards(model: ImplicitRewardModel, requests: Sequence[Request]) -> list[float]:
    return [score for response in model.generate(requests) for score in response.scores or ()]


def test_candidate_is_bos_prompt_then_whole_assistant_turn_and_eos(models: dict[str, Path]) -> None:
    """No generation prompt: the assistant header is scored with the response, and BOS and EOS
    are added although the template ends the turn itself."""
    model = ImplicitRewardModel(str(models["policy"]))
    request = Request("reward", "s", messages=(Message("user", "Hi"),), candidates=("Hello", "Yo"))
    decoded = [(model.tokenizer.decode(s.prompt), model.tokenizer.decode(s.response)) for s in model.encode(request)]
    assert decoded == [
        ("<|endoftext|><|im_start|>user\nHi<|im_end|>\n", "<|im_start|>assistant\nHello<|im_end|>\n<|endoftext|>"),
        ("<|endoftext|><|im_start|>user\nHi<|im_end|>\n", "<|im_start|>assistant\nYo<|im_end|>\n<|endoftext|>"),
    ]


def test_response_starts_one_token_early_where_the_prompt_merges_across_the_join(models: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(models["policy"])
    prompt_ids = tokenizer("The farmer sel", add_special_tokens=False)["input_ids"]
    whole = tokenizer("The farmer sells", add_special_tokens=False)["input_ids"]
    assert whole[:len(prompt_ids)] != prompt_ids  # " sel" + "ls" became " sells"
    cut = len(prompt_ids) - 1
    assert split_prompt_response(tokenizer, "The farmer sel", "ls") == (whole[:cut], whole[cut:])


@pytest.mark.parametrize("ref_free_type", [None, "avg", "sum", "norm"])
def test_rewards_match_a_token_by_token_computation(models: dict[str, Path], ref_free_type: str | None) -> None:
    """None: against the reference. avg is the reference-free default, so it is not passed.
    Batches of 3 sequences mix requests of different lengths (right padding, kept logits)."""
    ref = {"ref": str(models["reference"])} if ref_free_type is None else {}
    if ref_free_type in ("sum", "norm"):
        ref["ref_free_type"] = ref_free_type
    model = ImplicitRewardModel(str(models["policy"]), batch_size=3, **ref)
    assert all_rewards(model, REQUESTS) == pytest.approx(expected_rewards(models, ref_free_type), abs=1e-4)


@pytest.mark.parametrize("max_length,max_prompt_length,responses_cut", [(80, 16, False), (30, 12, True)],
                         ids=["prompt", "prompt-and-responses"])
def test_keep_end_truncation_matches_a_token_by_token_computation(
    models: dict[str, Path], max_length: int, max_prompt_length: int, responses_cut: bool
) -> None:
    """Over `max_length`, the prompt keeps its last tokens (dropping BOS); if still over, every
    response keeps its first `max_length - max_prompt_length`."""
    model = ImplicitRewardModel(str(models["policy"]), ref=str(models["reference"]),
                                max_length=max_length, max_prompt_length=max_prompt_length)
    long = model.encode(REQUESTS[2])
    assert all(len(s.prompt) == max_prompt_length and s.prompt[0] != EOS for s in long)
    assert (max(len(s.response) for s in long) == max_length - max_prompt_length) == responses_cut
    expected = expected_rewards(models, None, max_length, max_prompt_length)
    assert all_rewards(model, REQUESTS) == pytest.approx(expected, abs=1e-4)


def test_a_prompt_over_max_prompt_length_is_kept_whole_while_the_sequence_fits(models: dict[str, Path]) -> None:
    """As officially: `max_prompt_length` only applies once prompt + longest response exceed `max_length`."""
    model = ImplicitRewardModel(str(models["policy"]), max_prompt_length=8)
    assert all(len(s.prompt) > 8 and s.prompt[0] == EOS for s in model.encode(REQUESTS[2]))


def test_fitted_policy_wins_every_rewardbench_pair_and_swapped_loses_every_one(
    models: dict[str, Path], tmp_path: Path
) -> None:
    write_v1(tmp_path / "data")
    policy, reference = models["policy"], models["reference"]
    for spec, expected in ((f"dpo:{policy},ref={reference}", 1.0), (f"dpo:{reference},ref={policy}", 0.0)):
        result = evaluate("rewardbench", spec, data=tmp_path / "data", runs_root=tmp_path / "runs", use_cache=False)
        assert result.metrics["metrics"]["accuracy"]["value"] == expected, spec


def test_identical_policy_and_reference_tie_everywhere(models: dict[str, Path], tmp_path: Path) -> None:
    """All rewards 0: a tie is a loss in v1, and in v2 each of four tied candidates gets 1/4."""
    write_v1(tmp_path / "data")
    write_v2(tmp_path / "data")
    spec = f"dpo:{models['twin']},ref={models['reference']}"
    v1 = evaluate("rewardbench", spec, data=tmp_path / "data", runs_root=tmp_path / "runs", use_cache=False)
    assert v1.metrics["metrics"]["accuracy"]["value"] == 0.0
    v2 = evaluate("rewardbench-2", spec, data=tmp_path / "data", runs_root=tmp_path / "runs", use_cache=False)
    domains = v2.metrics["groups"]["subset"]
    assert {name: domains[name]["accuracy"]["value"] for name in V2_SUBSETS} == {name: 0.25 for name in V2_SUBSETS}


def test_spec_string_builds_the_model_and_fingerprint_covers_every_setting(models: dict[str, Path]) -> None:
    policy, reference = str(models["policy"]), str(models["reference"])
    built = load_model(f"dpo:{policy},ref={reference},batch_size=2")
    assert isinstance(built, ImplicitRewardModel) and built.cacheable
    fingerprints = {
        built.fingerprint(),
        ImplicitRewardModel(policy).fingerprint(),
        ImplicitRewardModel(policy, ref_free_type="norm").fingerprint(),
        ImplicitRewardModel(policy, ref=reference, max_length=1024).fingerprint(),
        ImplicitRewardModel(policy, ref=reference, max_prompt_length=64).fingerprint(),
        ImplicitRewardModel(reference, ref=policy).fingerprint(),
    }
    assert len(fingerprints) == 6
    assert ImplicitRewardModel(policy, ref=reference, batch_size=5).fingerprint() == built.fingerprint()


@pytest.mark.parametrize("args,message", [
    ({"ref": "REF", "ref_free_type": "sum"}, "applies only without a reference"),
    ({"ref_free_type": "mean"}, "use one of avg, sum, norm"),
    ({"ref": "POLICY"}, "the policy is also the reference"),
    ({"max_prompt_length": 2048}, "max_prompt_length < max_length"),
])
def test_bad_arguments_say_what_to_change(models: dict[str, Path], args: dict, message: str) -> None:
    policy = str(models["policy"])
    args = {key: {"REF": str(models["reference"]), "POLICY": policy}.get(value, value) for key, value in args.items()}
    with pytest.raises(UsageError, match=message):
        ImplicitRewardModel(policy, **args)


def test_a_tokenizer_without_chat_template_is_refused(models: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="no chat template.*fastchat templates is not supported"):
        ImplicitRewardModel(str(models["plain"]))


def test_generation_requests_are_refused(models: dict[str, Path]) -> None:
    model = ImplicitRewardModel(str(models["policy"]))
    with pytest.raises(UsageError, match="answers reward requests.*not 'generate'"):
        model.generate([Request("generate", "s", prompt="Tom buys")])
