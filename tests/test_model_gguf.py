"""GGUF checkpoints in the transformers-based backends, on a tiny Llama written as a GGUF file here.

The file is float32, so a model read from it must compute exactly what its source checkpoint does;
the real quantized model is the real-model tier's (tests/test_real_model.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import UsageError
from harness.models import load_model
from harness.models.checkpoints import checkpoint_identity
from harness.models.dpo import ImplicitRewardModel
from harness.models.hf import HFModel
from harness.models.reward_classifier import RewardClassifierModel
from harness.testing.tiny_gguf import write_tiny_gguf
from harness.types import GenerationSettings, Message, Request

pytest.importorskip("gguf", reason="the gguf package reads GGUF files: pip install -e '.[dev]'")

PROMPTS = ("Tom buys 3 apples and then", "Question: How many eggs are there? Answer:", "Anna")


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def ask(prompt: str, **settings) -> Request:
    return Request("generate", "s", prompt=prompt, settings=GenerationSettings(**settings))


def test_gguf_file_generates_and_scores_as_its_source_checkpoint(tiny_gguf: Path, tiny_model_dir: Path) -> None:
    from_file, from_folder = HFModel(str(tiny_gguf), batch_size=2), HFModel(str(tiny_model_dir), batch_size=2)
    requests = [ask(prompt, max_tokens=12) for prompt in PROMPTS]
    requests.append(Request("generate", "chat", messages=(Message("user", "Tom buys"),),
                            settings=GenerationSettings(max_tokens=6)))
    assert [r.text for r in from_file.generate(requests)] == [r.text for r in from_folder.generate(requests)]
    scored = [Request("loglikelihood", "l", prompt="Tom buys", candidates=(" 3 apples", " 4 eggs"))]
    assert from_file.generate(scored)[0].scores == pytest.approx(from_folder.generate(scored)[0].scores, abs=1e-4)
    assert from_file.render(requests[-1]) == from_folder.render(requests[-1])  # the chat template travelled


def test_folder_with_gguf_file_is_the_same_model_as_the_path(tiny_gguf: Path) -> None:
    by_path = load_model(f"hf:{tiny_gguf}")
    by_folder = load_model(f"hf:{tiny_gguf.parent},gguf_file={tiny_gguf.name}")
    assert by_path.fingerprint() == by_folder.fingerprint()


def test_gguf_identity_is_the_file_content_not_its_path(tiny_gguf: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere.gguf"
    shutil.copyfile(tiny_gguf, copy)
    assert checkpoint_identity(str(copy), None) == checkpoint_identity(str(tiny_gguf), None)
    with open(copy, "r+b") as handle:  # one changed byte in the last tensor's data
        handle.seek(-3, 2)
        byte = handle.read(1)
        handle.seek(-3, 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert checkpoint_identity(str(copy), None) != checkpoint_identity(str(tiny_gguf), None)


def test_missing_gguf_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    result = CliRunner().invoke(app, ["run", "--task", "gsm8k", "--sample", "--model", f"hf:{missing}"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert str(missing) in line and "no such GGUF file" in line and "harness models get" in line


def test_missing_file_in_a_folder_lists_the_gguf_files_there(tiny_gguf: Path) -> None:
    with pytest.raises(UsageError, match=r"no file other\.gguf in that folder \(GGUF files there: tiny\.gguf\)"):
        HFModel(str(tiny_gguf.parent), gguf_file="other.gguf")


def test_truncated_gguf_says_so_and_how_to_fix_it(tiny_gguf: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size * 2 // 3])
    with pytest.raises(UsageError, match="is truncated or damaged") as raised:
        HFModel(str(truncated))
    assert "download it again" in str(raised.value) and "\n" not in str(raised.value)


def test_file_that_is_not_gguf_says_so(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    with pytest.raises(UsageError, match="is not a GGUF file"):
        HFModel(str(fake))


def test_unsupported_architecture_names_it_and_the_alternatives(tiny_model_dir: Path, tmp_path: Path) -> None:
    odd = write_tiny_gguf(tiny_model_dir, tmp_path / "odd.gguf", architecture="rwkv7")
    with pytest.raises(UsageError, match="cannot load GGUF architecture 'rwkv7'") as raised:
        HFModel(str(odd))
    message = str(raised.value)
    assert "llama" in message and "openai:" in message and "\n" not in message


def test_reward_classifier_refuses_a_gguf_file(tiny_gguf: Path) -> None:
    with pytest.raises(UsageError, match="classification head"):
        RewardClassifierModel(str(tiny_gguf))


def test_dpo_policy_from_gguf_scores_as_from_its_folder(tiny_gguf: Path, tiny_model_dir: Path) -> None:
    request = Request("reward", "r", messages=(Message("user", "Tom buys 3 apples."),), candidates=("Anna", "Ben"))
    from_file = ImplicitRewardModel(str(tiny_gguf)).generate([request])[0].scores
    from_folder = ImplicitRewardModel(str(tiny_model_dir)).generate([request])[0].scores
    assert from_file == pytest.approx(from_folder, abs=1e-4)
