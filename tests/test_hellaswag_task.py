"""HellaSwag: lm-eval's prompts on the official schema, llama.cpp's text copy as a second format,
and the oracle and first-choice scores on that copy (the only full data reachable here)."""

from __future__ import annotations

import bz2
import json
import shutil
from pathlib import Path

import pytest

from harness import evaluate
from harness.errors import UsageError
from harness.models.oracle import OracleModel
from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args
from scripted_models import FirstChoiceModel

FIXTURE = Path(__file__).parent / "fixtures" / "hellaswag"  # handmade rows in the official (hub) schema
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hellaswag"
TEXT_COPY = DATA / "hellaswag_val_full.txt.bz2"
needs_data = pytest.mark.skipif(not TEXT_COPY.is_file(), reason=f"HellaSwag text copy not found at {TEXT_COPY}")


def hellaswag(data: Path, **args: object) -> Task:
    spec, own = apply_task_args(load_task("hellaswag"), args)
    return Task(spec, own, data)


def our_arguments(task: Task, limit: int) -> list[list[tuple[str, str]]]:
    """Each sample's (context, continuation) pairs, as lm-eval's Instance arguments."""
    result = []
    for sample, examples in task.samples(limit=limit):
        (request,) = task.requests(sample, examples, seed=0)
        result.append([(request.prompt, candidate) for candidate in request.candidates or ()])
    return result


def text_copy_labels() -> list[int]:
    """The gold labels of the text copy, read straight from the file (every sixth line, the second)."""
    with bz2.open(TEXT_COPY, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    return [int(label) for label in lines[1::6]]


@pytest.mark.parametrize("shots", [0, 10])
def test_prompts_equal_lm_eval_on_the_official_schema(tmp_path: Path, shots: int) -> None:
    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from harness.testing.lmeval_local import lmeval_requests, write_lmeval_tasks

    files = {"train": FIXTURE / "hellaswag_train.jsonl", "validation": FIXTURE / "hellaswag_val.jsonl"}
    names = write_lmeval_tasks("hellaswag", files, tmp_path, num_fewshot=shots)
    expected = [[tuple(args) for args in doc] for doc in lmeval_requests(tmp_path, names, limit=20)[names[0]]]
    ours = our_arguments(hellaswag(FIXTURE, num_fewshot=shots), limit=20)
    assert len(expected) == 20 and all(len(doc) == 4 for doc in expected)
    assert ours == expected


def test_the_fixture_exercises_the_preprocessing() -> None:
    """Markers, double spaces and ctx_b's capitalisation are all in the 20 compared rows."""
    rows = [json.loads(line) for line in (FIXTURE / "hellaswag_val.jsonl").read_text().splitlines()][:20]
    text = json.dumps(rows)
    assert all(marker in text for marker in ("[header]", "[title]", "[step]", "[substeps]", "  "))
    assert any(row["ctx_b"] and row["ctx_b"] != row["ctx_b"].capitalize() for row in rows)
    assert any(row["ctx_b"] == "" for row in rows)
    sample, examples = hellaswag(FIXTURE).samples(limit=3)[2]
    assert sample.data["query"] == ("Home and Garden: How to grow tomatoes in pots. Choose a large pot. "
                                    "Tomatoes need at least five gallons of soil.")


def test_oracle_and_first_choice_on_the_fixture(tmp_path: Path) -> None:
    oracle = evaluate("hellaswag", OracleModel(), data=FIXTURE, run_dir=tmp_path / "oracle", use_cache=False)
    assert oracle.metrics["metrics"]["acc"]["value"] == 1.0 and oracle.metrics["metrics"]["acc_norm"]["value"] == 1.0
    first = evaluate("hellaswag", FirstChoiceModel(), data=FIXTURE, run_dir=tmp_path / "first", use_cache=False)
    labels = [int(json.loads(line)["label"]) for line in (FIXTURE / "hellaswag_val.jsonl").read_text().splitlines()]
    share = labels.count(0) / len(labels)
    assert first.metrics["metrics"]["acc"]["value"] == pytest.approx(share)
    assert first.metrics["metrics"]["acc_norm"]["value"] == pytest.approx(share)


@needs_data
def test_the_text_copy_is_read_as_rows_of_the_official_schema() -> None:
    task = hellaswag(DATA)
    sample, examples = task.samples(limit=1)[0]
    (request,) = task.requests(sample, examples, seed=0)
    # lm-eval's prompt is "... on a roof. He": the copy keeps ctx whole, so ctx_b is not capitalised.
    assert request.prompt == "Roof shingle removal: A man is sitting on a roof. he"
    assert request.candidates == (" is using wrap to wrap a pair of skis.", " is ripping level tiles off.",
                                  " is holding a rubik's cube.", " starts pulling up roofing on a roof.")
    assert json.loads(request.reference or "") == [3]
    assert examples == []


@needs_data
def test_the_official_file_is_preferred_to_the_text_copy(tmp_path: Path) -> None:
    shutil.copy(TEXT_COPY, tmp_path)
    shutil.copy(FIXTURE / "hellaswag_val.jsonl", tmp_path)
    assert len(hellaswag(tmp_path).samples()) == 24
    assert len(hellaswag(tmp_path / TEXT_COPY.name).samples()) == 10042


@needs_data
def test_few_shot_needs_the_official_train_split() -> None:
    with pytest.raises(UsageError, match="hellaswag_train.jsonl"):
        hellaswag(DATA, num_fewshot=10).samples(limit=1)


def test_a_broken_text_copy_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "hellaswag_val_full.txt"
    broken.write_text("Roof: A man is on a roof.\n7\na\nb\nc\nd\n")
    with pytest.raises(UsageError, match="hellaswag_val_full.txt line 1"):
        hellaswag(broken).samples()


@needs_data
def test_oracle_and_first_choice_on_a_limit(tmp_path: Path) -> None:
    oracle = evaluate("hellaswag", OracleModel(), data=DATA, limit=300, run_dir=tmp_path / "oracle", use_cache=False)
    assert oracle.metrics["metrics"]["acc"]["value"] == 1.0 and oracle.metrics["metrics"]["acc_norm"]["n"] == 300
    first = evaluate("hellaswag", FirstChoiceModel(), data=DATA, limit=300, run_dir=tmp_path / "first", use_cache=False)
    assert first.metrics["metrics"]["acc"]["value"] == pytest.approx(text_copy_labels()[:300].count(0) / 300)


@pytest.mark.slow
@needs_data
def test_oracle_and_first_choice_on_all_10042(tmp_path: Path) -> None:
    labels = text_copy_labels()
    assert len(labels) == 10042
    oracle = evaluate("hellaswag", OracleModel(), data=DATA, run_dir=tmp_path / "oracle", use_cache=False)
    for metric in ("acc", "acc_norm"):
        assert (oracle.metrics["metrics"][metric]["value"], oracle.metrics["metrics"][metric]["n"]) == (1.0, 10042)
    first = evaluate("hellaswag", FirstChoiceModel(), data=DATA, run_dir=tmp_path / "first", use_cache=False)
    assert first.metrics["metrics"]["acc"]["value"] == pytest.approx(labels.count(0) / 10042)  # 2515 / 10042
    assert first.metrics["metrics"]["acc_norm"]["value"] == pytest.approx(labels.count(0) / 10042)
