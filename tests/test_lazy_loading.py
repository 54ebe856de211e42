"""`hf:`, `rm:` and `dpo:` check a checkpoint when they are built and load its weights when first
asked to answer: a rerun whose answers are all in the response cache loads none (the time that
saves is benchmarks/cached_rerun.py's), while bad input still fails before the run starts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from harness.api import evaluate
from harness.errors import UsageError
from harness.models.dpo import ImplicitRewardModel
from harness.models.gguf_header import gguf_architecture
from harness.models.hf import HFModel
from harness.models.reward_classifier import RewardClassifierModel
from harness.testing.tiny import TEST_SIZES, build_tiny_reward_model
from harness.testing.tiny_gguf import write_tiny_gguf
from harness.types import GenerationSettings, Request
from tests.conftest import tiny_corpus

gguf = pytest.importorskip("gguf", reason="the gguf package reads GGUF files: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def tiny_reward_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_reward_model(tmp_path_factory.mktemp("rm"), tiny_corpus(), **TEST_SIZES)


def refuse(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("loaded while only checking")


@pytest.fixture
def weights_refused(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Loading weights, or parsing a GGUF file's vocabulary (what building its config costs), fails the test."""
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(AutoModelForSequenceClassification, "from_pretrained", refuse)
    monkeypatch.setattr(gguf, "GGUFReader", refuse)
    return monkeypatch


@pytest.mark.parametrize("checkpoint", ["folder", "gguf"])
def test_hf_is_built_and_fingerprinted_without_loading_tokenizer_or_weights(
    checkpoint: str, tiny_model_dir: Path, tiny_gguf: Path, weights_refused: pytest.MonkeyPatch
) -> None:
    weights_refused.setattr(AutoTokenizer, "from_pretrained", refuse)
    name = str(tiny_model_dir if checkpoint == "folder" else tiny_gguf)
    model = HFModel(name, batch_size=2)
    assert (model.name, model.chunk_size, model.cacheable) == (name, 16, True)
    assert model.fingerprint() == HFModel(name, batch_size=4).fingerprint()


def test_weights_load_once_on_the_first_request_and_leave_the_fingerprint_alone(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    load = AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: loads.append("weights")
                        or load(*args, **kwargs))
    model = HFModel(str(tiny_model_dir), batch_size=2)
    fingerprint = model.fingerprint()
    request = Request("generate", "s", prompt="Tom buys", settings=GenerationSettings(max_tokens=3))
    assert loads == []
    texts = [model.generate([request])[0].text for _ in range(2)]
    assert loads == ["weights"] and texts[0] == texts[1] and len(texts[0]) > 0
    assert model.fingerprint() == fingerprint


def test_fingerprint_follows_the_files_and_every_argument_that_changes_answers(
    tiny_model_dir: Path, tmp_path: Path, weights_refused: pytest.MonkeyPatch
) -> None:
    def copy(name: str) -> Path:
        return Path(shutil.copytree(tiny_model_dir, tmp_path / name, copy_function=shutil.copy2))

    base = HFModel(str(tiny_model_dir)).fingerprint()
    assert HFModel(str(copy("elsewhere"))).fingerprint() == base  # the same files under another path
    edited = copy("edited") / "generation_config.json"
    edited.write_text(edited.read_text().replace("{", '{"repetition_penalty": 1.3, ', 1))
    changed = [HFModel(str(edited.parent)).fingerprint()]
    for args in ({"dtype": "bfloat16"}, {"max_length": 64}, {"chat_template": True}, {"attn_implementation": "eager"}):
        changed.append(HFModel(str(tiny_model_dir), **args).fingerprint())
    assert len({base, *changed}) == 6


def test_rm_and_dpo_are_built_and_fingerprinted_without_loading_weights(
    tiny_model_dir: Path, tiny_reward_model: Path, tmp_path: Path, weights_refused: pytest.MonkeyPatch
) -> None:
    reward = RewardClassifierModel(str(tiny_reward_model))
    implicit = ImplicitRewardModel(str(tiny_model_dir), ref=str(shutil.copytree(tiny_model_dir, tmp_path / "ref")))
    assert reward.fingerprint() and implicit.fingerprint()
    assert reward.chunk_size == implicit.chunk_size == 128


def test_bad_input_still_fails_at_construction(tiny_model_dir: Path, tiny_reward_model: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no-such-model"):
        HFModel(str(tmp_path / "no-such-model"))
    with pytest.raises(UsageError, match="GPU"):
        HFModel(str(tiny_model_dir), device="cuda:99")
    with pytest.raises(UsageError, match="label=3 but the model has 1 output"):
        RewardClassifierModel(str(tiny_reward_model), label=3)
    with pytest.raises(UsageError, match="nowhere"):
        ImplicitRewardModel(str(tiny_model_dir), ref=str(tmp_path / "nowhere"))


def test_gguf_check_reads_the_architecture_and_refuses_a_file_one_byte_short(
    tiny_gguf: Path, tmp_path: Path
) -> None:
    assert gguf_architecture(tiny_gguf) == "llama"
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[:-1])
    with pytest.raises(ValueError, match="tensors end at byte"):
        gguf_architecture(cut)


def test_a_cached_rerun_loads_no_weights(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(run_dir: Path) -> Any:
        return evaluate("gsm8k", f"hf:{tiny_model_dir},batch_size=4", sample_data=True, task_args={"max_tokens": 4},
                        run_dir=run_dir, cache_dir=tmp_path / "cache")

    first = run(tmp_path / "first")
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", refuse)
    again = run(tmp_path / "again")
    assert (again.stats.cached_requests, again.stats.model_requests) == (10, 0)
    assert again.metrics["metrics"] == first.metrics["metrics"]
