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


def test_loglikelihood_matches_a_hand_computation(model: HFModel) -> None:
    pairs = [("Tom buys 3", " apples"), ("Question: How many eggs are there? Answer:", " 7 + 2 = 9."), ("", "Anna")]
    requests = [Request("loglikelihood", "l", prompt=c, continuation=x) for c, x in pairs]

    responses = model.generate(requests)

    for (context, continuation), response in zip(pairs, responses):
        encode = lambda text: model.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
        context_ids = encode(context) if context else [model.tokenizer.bos_token_id]
        target = encode(context + continuation)[len(encode(context)) :] if context else encode(continuation)
        ids = torch.tensor([context_ids + target], device=model.device)
        with torch.inference_mode():
            logprobs = torch.log_softmax(model.model(input_ids=ids).logits[0].float(), dim=-1).cpu()
        rows = logprobs[len(context_ids) - 1 : -1]
        expected = rows.gather(-1, torch.tensor(target)[:, None]).sum().item()
        assert response.logprob == pytest.approx(expected, abs=1e-4)
        assert response.is_greedy == bool((rows.argmax(-1) == torch.tensor(target)).all())


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
