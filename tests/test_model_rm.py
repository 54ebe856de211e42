"""`rm:` end to end with a tiny sequence classifier: the transformers path a 7B reward model takes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from harness import evaluate
from harness.errors import UsageError
from harness.models.batching import length_batches
from harness.models.reward_classifier import RewardClassifierModel, _mask_doubled_bos
from harness.testing.tiny import TEST_SIZES, build_tiny_reward_model, fit_tiny_reward_model
from harness.types import Message, Request
from rewardbench_fixtures import v1_rows, v2_rows, write_v1, write_v2


def _texts(tokenizer, prompt: str, answer: str) -> str:
    turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return tokenizer.apply_chat_template(turns, tokenize=False)


@pytest.fixture(scope="module")
def reward_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A classifier trained to prefer every correct fixture answer, its negation and a flat one."""
    from transformers import AutoTokenizer

    corpus = [text for row in v1_rows() + v2_rows() for key in ("prompt", "chosen", "rejected")
              for text in (row[key] if isinstance(row[key], list) else [row[key]])]
    trained = build_tiny_reward_model(tmp_path_factory.mktemp("rm") / "trained", corpus, **TEST_SIZES)
    tokenizer = AutoTokenizer.from_pretrained(trained)
    pairs = [(_texts(tokenizer, row["prompt"], row["chosen"]), _texts(tokenizer, row["prompt"], row["rejected"]))
             for row in v1_rows()]
    pairs += [(_texts(tokenizer, row["prompt"], good), _texts(tokenizer, row["prompt"], bad))
              for row in v2_rows() for good in row["chosen"] for bad in row["rejected"]]
    fit_tiny_reward_model(trained, pairs)
    models = {"trained": trained}
    for kind, change in (("reversed", lambda w: -w), ("flat", torch.zeros_like)):
        models[kind] = trained.parent / kind
        shutil.copytree(trained, models[kind])
        weights_file = next(models[kind].glob("*.safetensors"))
        weights = load_file(weights_file)
        weights["score.weight"] = change(weights["score.weight"])
        save_file(weights, weights_file, metadata={"format": "pt"})
    return models


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rewardbench-data")
    write_v1(folder)
    write_v2(folder)
    return folder


def _run(task: str, model_dir: Path, data: Path, tmp_path: Path, batch_size: int = 4) -> dict:
    result = evaluate(task, f"rm:{model_dir},batch_size={batch_size}", data=data, runs_root=tmp_path, use_cache=False)
    return result.metrics


def test_a_classifier_preferring_the_chosen_answers_scores_100_percent(reward_models, data, tmp_path) -> None:
    v1 = _run("rewardbench", reward_models["trained"], data, tmp_path)
    assert v1["metrics"]["accuracy"]["value"] == 1.0 and v1["summary"]["overall"] == 1.0
    v2 = _run("rewardbench-2", reward_models["trained"], data, tmp_path)
    assert {name: value for name, value in v2["summary"]["domains"].items() if name != "Ties"} == \
        {name: 1.0 for name in ("Factuality", "Precise IF", "Math", "Safety", "Focus")}


def test_the_reversed_classifier_scores_0_percent(reward_models, data, tmp_path) -> None:
    v1 = _run("rewardbench", reward_models["reversed"], data, tmp_path)
    assert v1["metrics"]["accuracy"]["value"] == 0.0 and v1["summary"]["overall"] == 0.0


def test_ties_lose_in_v1_and_split_credit_in_v2(reward_models, data, tmp_path) -> None:
    v1 = _run("rewardbench", reward_models["flat"], data, tmp_path)
    assert v1["metrics"]["accuracy"]["value"] == 0.0
    v2 = _run("rewardbench-2", reward_models["flat"], data, tmp_path)
    for name in ("Factuality", "Precise IF", "Math", "Safety", "Focus"):
        assert v2["summary"]["domains"][name] == pytest.approx(0.25)
    # Ties: no prompt is accurate (nothing beats anything), margins 0: the formula gives 0.
    assert v2["summary"]["domains"]["Ties"] == 0.0


def test_batched_scores_equal_one_at_a_time(reward_models, tmp_path) -> None:
    batched = RewardClassifierModel(str(reward_models["trained"]), batch_size=8)
    single = RewardClassifierModel(str(reward_models["trained"]), batch_size=1)
    requests = [Request(kind="reward", sample_id=str(row["id"]), messages=(Message("user", row["prompt"]),),
                        candidates=(row["chosen"], row["rejected"])) for row in v1_rows()]
    together = [score for response in batched.generate(requests) for score in response.scores]
    alone = [score for response in single.generate(requests) for score in response.scores]
    assert together == pytest.approx(alone, abs=1e-4)
    assert batched.fingerprint() == single.fingerprint()  # batch size changes no score


def test_batches_are_longest_first_and_capped_in_rows_and_padded_tokens() -> None:
    lengths = [10, 300, 50, 290, 40, 2000]
    assert length_batches(lengths, batch_size=3, max_tokens=None) == [[5, 1, 3], [2, 4, 0]]
    # 2000 tokens exceed the cap alone; 300 and 290 pad to 600; 50, 40 and 10 fit in 150.
    assert length_batches(lengths, batch_size=8, max_tokens=600) == [[5], [1, 3], [2, 4, 0]]


def test_the_first_of_two_leading_bos_tokens_is_masked() -> None:
    ids = torch.tensor([[7, 7, 5, 6], [0, 7, 7, 5], [7, 5, 6, 6]])
    mask = torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]])
    _mask_doubled_bos(ids, mask, bos_id=7)
    assert mask.tolist() == [[0, 1, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1]]


def test_rm_refuses_generation_requests_and_models_without_a_chat_template(reward_models, tmp_path) -> None:
    model = RewardClassifierModel(str(reward_models["trained"]))
    with pytest.raises(UsageError, match="answers reward requests"):
        model.generate([Request(kind="generate", sample_id="x", prompt="hi")])
    bare = tmp_path / "bare"
    shutil.copytree(reward_models["trained"], bare)
    config = bare / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"chat_template"', '"unused_template"'))
    for template in bare.glob("chat_template.*"):
        template.unlink()
    with pytest.raises(UsageError, match="no chat template"):
        RewardClassifierModel(str(bare))
