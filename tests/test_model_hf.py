"""The `hf:` backend on a tiny random Llama built locally (see conftest.tiny_model_dir)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.errors import UsageError
from harness.models import load_model
from harness.models.hf import HFModel
from harness.models.hf_decoding import PER_ROW_PREFILL_MIN_TOKENS, cpu_attention, preallocated_cache
from harness.types import GenerationSettings, Message, Request

PROMPTS = (
    "Tom buys 3 apples and then",
    "Question: How many eggs are there? Answer:",
    "Anna",
    "The farmer sells 17 books and then 8 more. Question: How many",
)


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> HFModel:
    return HFModel(str(tiny_model_dir), batch_size=4)


def ask(prompt: str, **settings) -> Request:
    return Request("generate", "s", prompt=prompt, settings=GenerationSettings(**settings))


def test_tiny_model_has_eos_0_pad_1_and_adds_no_bos(model: HFModel) -> None:
    assert (model.tokenizer.eos_token_id, model.tokenizer.pad_token_id) == (0, 1)
    assert model.tokenizer("Tom")["input_ids"] == model.tokenizer("Tom", add_special_tokens=False)["input_ids"]


def plain_generate(model_dir: Path, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Reference outputs: transformers' defaults (SDPA, dynamic cache) on one left-padded batch."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    reference = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(map(len, encoded))
    input_ids = torch.tensor([[1] * (width - len(ids)) + ids for ids in encoded])
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    with torch.inference_mode():
        output = reference.generate(
            input_ids=input_ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens
        )
    return tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)


def test_greedy_batch_is_token_identical_to_plain_generate(model: HFModel, tiny_model_dir: Path) -> None:
    """Includes a prompt long enough to be prefilled on its own (the CPU fast path)."""
    long_prompt = " ".join(PROMPTS * 40)
    assert len(model.tokenizer(long_prompt)["input_ids"]) >= PER_ROW_PREFILL_MIN_TOKENS
    prompts = [long_prompt, *PROMPTS]

    responses = model.generate([ask(p, max_tokens=24) for p in prompts])

    assert [r.text for r in responses] == plain_generate(tiny_model_dir, prompts, 24)


def test_cache_that_outgrows_its_estimate_still_matches_plain_generate(model: HFModel) -> None:
    ids = model.tokenizer([PROMPTS[1]], return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        plain = model.model.generate(input_ids=ids, do_sample=False, max_new_tokens=12)
        grown = model.model.generate(
            input_ids=ids, do_sample=False, max_new_tokens=12, cache=preallocated_cache(model.model.config, 2)
        )
    assert torch.equal(plain, grown)


def test_cpu_decoding_attention_matches_sdpa_with_grouped_heads_and_padding() -> None:
    torch.manual_seed(0)
    query, key, value = torch.randn(2, 4, 1, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mask[1, ..., :2] = False

    output, _ = cpu_attention(torch.nn.Module(), query, key, value, mask, scaling=0.3)

    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(2, dim=1), value.repeat_interleave(2, dim=1), attn_mask=mask, scale=0.3
    )
    torch.testing.assert_close(output, expected.transpose(1, 2))


def test_batched_greedy_equals_one_by_one_for_same_length_prompts(model: HFModel) -> None:
    words = ("apples", "eggs", "books", "pencils", "cookies")
    prompts = [f"Tom buys 3 {word}" for word in words]
    lengths = {len(model.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    same = [p for p in prompts if len(model.tokenizer(p, add_special_tokens=False)["input_ids"]) == min(lengths)]
    assert len(same) >= 2

    batched = model.generate([ask(p, max_tokens=16) for p in same])
    single = [model.generate([ask(p, max_tokens=16)])[0] for p in same]

    assert [r.text for r in batched] == [r.text for r in single]


def test_max_tokens_bounds_the_output(model: HFModel) -> None:
    [response] = model.generate([ask(PROMPTS[0], max_tokens=7)])
    assert response.output_tokens <= 7
    assert response.finish_reason == ("length" if response.output_tokens == 7 else "stop")
    assert response.input_tokens == len(model.tokenizer(PROMPTS[0], add_special_tokens=False)["input_ids"])


def test_stop_string_ends_generation_and_is_cut_from_text(model: HFModel) -> None:
    [free] = model.generate([ask(PROMPTS[1], max_tokens=30)])
    stop = free.text[6:9]
    assert len(stop) == 3, free.text

    [stopped] = model.generate([ask(PROMPTS[1], max_tokens=30, stop=(stop, "never appears"))])

    assert stopped.text == free.text[: free.text.index(stop)]
    assert stopped.finish_reason == "stop"
    assert stopped.output_tokens < free.output_tokens


def test_chat_messages_go_through_the_chat_template(model: HFModel) -> None:
    request = Request(
        "generate",
        "c",
        messages=(Message("system", "Be brief."), Message("user", "Hi")),
        settings=GenerationSettings(max_tokens=5),
    )
    expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert model.render(request) == expected
    [response] = model.generate([request])
    assert response.input_tokens == len(model.tokenizer(expected, add_special_tokens=False)["input_ids"])


def test_chat_request_without_chat_template_is_a_usage_error(
    model: HFModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model.tokenizer, "chat_template", None)
    request = Request("generate", "c", messages=(Message("user", "Hi"),))
    with pytest.raises(UsageError, match="no chat template"):
        model.generate([request])


def test_sampling_is_reproducible_with_a_seed_and_leaves_global_rng_alone(model: HFModel) -> None:
    request = ask(PROMPTS[0], max_tokens=20, temperature=1.0, seed=7)
    state = torch.get_rng_state()

    first, second = model.generate([request]), model.generate([request])
    other = model.generate([ask(PROMPTS[0], max_tokens=20, temperature=1.0, seed=8)])

    assert first[0].text == second[0].text
    assert other[0].text != first[0].text
    assert torch.equal(state, torch.get_rng_state())


def test_sampled_requests_with_different_seeds_share_one_batch_and_keep_their_samples(
    model: HFModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = [ask(PROMPTS[0], max_tokens=12, temperature=0.7, seed=seed) for seed in range(4)]
    alone = [model.generate([request])[0].text for request in requests]
    decoding_rows = []
    forward = model.model.forward

    def counting_forward(**kwargs):
        if kwargs["input_ids"].shape[1] == 1:
            decoding_rows.append(kwargs["input_ids"].shape[0])
        return forward(**kwargs)

    monkeypatch.setattr(model.model, "forward", counting_forward)
    together = [response.text for response in model.generate(requests)]

    assert decoding_rows[0] == 4  # one batch: every request decodes in the first step
    assert together == alone
    assert len(set(together)) > 1


def plain_scores(model: HFModel, pairs: list[tuple[str, str]], max_length: int = 1024) -> list[tuple[float, bool]]:
    """Reference (logprob, is_greedy) per (context, continuation): one forward pass of its own,
    tokenised as lm-eval's `_encode_pair` and left-truncated to `max_length` + 1 tokens."""
    encode = lambda text: model.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    results = []
    for context, continuation in pairs:
        stripped = context.rstrip()
        context, continuation = stripped, context[len(stripped) :] + continuation
        context_ids = encode(context) if context else [model.tokenizer.bos_token_id]
        target = encode(context + continuation)[len(context_ids) :] if context else encode(continuation)
        whole = (context_ids + target)[-(max_length + 1) :]
        with torch.inference_mode():
            logits = model.model(input_ids=torch.tensor([whole[:-1]], device=model.device)).logits[0]
        rows = torch.log_softmax(logits.float(), dim=-1).cpu()[-len(target) :]
        expected = torch.tensor(target)
        results.append((rows.gather(-1, expected[:, None]).sum().item(), bool((rows.argmax(-1) == expected).all())))
    return results


def choices(prompt: str, *candidates: str, contexts: tuple[str, ...] | None = None) -> Request:
    return Request("loglikelihood", prompt[:8], prompt=prompt, candidates=candidates, contexts=contexts)


def assert_scores(response, expected: list[tuple[float, bool]]) -> None:  # noqa: ANN001
    assert response.scores == pytest.approx([logprob for logprob, _ in expected], abs=1e-4)
    assert response.greedy == tuple(greedy for _, greedy in expected)


def test_candidates_score_as_their_own_pairs_with_and_without_contexts(model: HFModel) -> None:
    """Trailing spaces move to the continuation, an empty context scores after BOS, and
    candidate i of a request with contexts is scored after prompt + contexts[i]."""
    question = "Question: How many eggs are there? Answer:"
    [greedy_text] = [r.text for r in model.generate([ask(question, max_tokens=3)])]
    plain = choices(question, " apples", greedy_text, " 7 + 2 = 9.")
    spaced = choices("Tom buys 3 ", "apples", "eggs and then 8 more.", "9")
    empty = choices("", "Anna", "Tom buys")
    filled = choices("Tom", " apples", " apples", contexts=(" buys 3", " sells 17 books and then"))

    responses = model.generate([plain, spaced, empty, filled])

    assert_scores(responses[0], plain_scores(model, [(question, candidate) for candidate in plain.candidates]))
    assert responses[0].greedy == (False, True, False), "the model's own greedy continuation is flagged greedy"
    assert_scores(responses[1], plain_scores(model, [(spaced.prompt, c) for c in spaced.candidates]))
    assert_scores(responses[2], plain_scores(model, [("", "Anna"), ("", "Tom buys")]))
    assert_scores(responses[3], plain_scores(model, [("Tom buys 3", " apples"),
                                                     ("Tom sells 17 books and then", " apples")]))


def test_questions_with_different_choice_counts_share_their_contexts_in_one_call(
    model: HFModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each context is read once: the model sees fewer tokens than the pairs hold."""
    shots = "Question: How many apples are there? Answer: 7 + 2 = 9.\n\n" * 3
    requests = [choices(shots + "Question: How many eggs are there? Answer:", " 9", " 7 + 2 = 9.", " 12"),
                choices(shots + "Anna buys", " 3 apples"),
                choices("Tom buys 3 books and then", *(f" {n} more." for n in range(5)))]
    assert model.scorer.shares_prefixes  # probed once, before the counting
    fed = []
    forward = model.model.forward
    monkeypatch.setattr(model.model, "forward",
                        lambda **kwargs: fed.append(kwargs["input_ids"].numel()) or forward(**kwargs))

    responses = model.generate(requests)

    monkeypatch.undo()
    assert sum(fed) < 0.6 * sum(response.input_tokens for response in responses)
    assert [len(r.scores) for r in responses] == [3, 1, 5]
    for request, response in zip(requests, responses):
        assert_scores(response, plain_scores(model, [(request.prompt, c) for c in request.candidates]))


def test_an_over_long_pair_is_left_truncated_to_the_context_window(tiny_model_dir: Path) -> None:
    short = HFModel(str(tiny_model_dir), batch_size=4, max_length=12)
    prompt = "The farmer sells 17 books and then 8 more. Question: How many"
    request = choices(prompt, " books are there?", " 25")

    [response] = short.generate([request])

    assert len(short.tokenizer(prompt, add_special_tokens=False)["input_ids"]) > 13
    assert response.input_tokens == 2 * 13
    assert_scores(response, plain_scores(short, [(prompt, " books are there?"), (prompt, " 25")], max_length=12))


MIXED = [choices("Tom buys 3", " apples", " eggs and then 8 more."), choices("", "Anna", "Tom")]


def assert_same_numbers(model: HFModel, reference: HFModel) -> None:
    for mine, theirs in zip(model.generate(MIXED), reference.generate(MIXED)):
        assert mine.scores == pytest.approx(theirs.scores, abs=1e-4)
        assert mine.greedy == theirs.greedy


def test_eager_attention_takes_the_tree_mask_as_sdpa_does(model: HFModel, tiny_model_dir: Path) -> None:
    eager = HFModel(str(tiny_model_dir), attn_implementation="eager")
    assert eager.scorer.shares_prefixes
    assert_same_numbers(eager, model)


def test_a_model_that_ignores_the_tree_mask_is_found_out_and_scored_the_plain_way(
    model: HFModel, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a recurrent layer or a flash-attention kernel would: the probe sees other numbers."""
    blind = HFModel(str(tiny_model_dir))
    forward = blind.model.forward
    monkeypatch.setattr(blind.model, "forward", lambda attention_mask, position_ids=None, **kwargs: forward(
        attention_mask=attention_mask if attention_mask.dim() == 2 else None, **kwargs))
    assert not blind.scorer.shares_prefixes
    assert_same_numbers(blind, model)


def test_rows_longer_than_a_local_attention_window_are_scored_the_plain_way(
    model: HFModel, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree mask would override a sliding window, so such rows are not packed."""
    windowed = HFModel(str(tiny_model_dir))
    assert windowed.scorer.shares_prefixes
    monkeypatch.setitem(windowed.scorer.__dict__, "window", 4)
    monkeypatch.setattr(windowed.scorer, "_score_tree", None)  # would fail if called
    assert_same_numbers(windowed, model)


def test_a_candidate_without_tokens_is_a_usage_error_naming_it(model: HFModel) -> None:
    with pytest.raises(UsageError, match="candidate 1 of sample Tom buys"):
        model.generate([choices("Tom buys", " 3", "")])


def test_other_request_kinds_are_usage_errors(model: HFModel) -> None:
    with pytest.raises(UsageError, match="reward"):
        model.generate([Request("reward", "r", prompt="x", candidates=("a", "b"))])


def test_missing_model_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no-such-model"):
        HFModel(str(tmp_path / "no-such-model"))
    with pytest.raises(UsageError, match="nobody/no-such-model"):
        load_model("hf:nobody/no-such-model")


def test_fingerprint_is_stable_and_tracks_dtype_not_batch_size(tiny_model_dir: Path, model: HFModel) -> None:
    again = HFModel(str(tiny_model_dir), batch_size=1)
    half = HFModel(str(tiny_model_dir), dtype="bfloat16")
    assert again.fingerprint() == model.fingerprint()
    assert half.fingerprint() != model.fingerprint()


def test_hub_id_loads_from_the_local_cache_and_fingerprints_its_commit(tiny_model_dir: Path, tmp_path: Path) -> None:
    repo = tmp_path / "models--tests--tiny"
    for commit in ("a" * 40, "b" * 40):
        shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)

    main = HFModel("tests/tiny", cache_dir=str(tmp_path))
    pinned = HFModel("tests/tiny", cache_dir=str(tmp_path), revision="b" * 40)

    assert main.fingerprint() != pinned.fingerprint()
    assert main.generate([ask("Tom", max_tokens=3)])[0].output_tokens == 3
