"""WinoGrande: lm-eval's partial-evaluation requests, 0- and 5-shot, and the oracle and
first-choice scores on the official dev set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import evaluate
from harness.models.oracle import OracleModel
from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args
from scripted_models import FirstChoiceModel

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "winogrande" / "winogrande_1.1"
pytestmark = pytest.mark.skipif(not (DATA / "dev.jsonl").is_file(), reason=f"WinoGrande data not found at {DATA}")


def winogrande(data: Path, **args: object) -> Task:
    spec, own = apply_task_args(load_task("winogrande"), args)
    return Task(spec, own, data)


def dev_rows() -> list[dict]:
    return [json.loads(line) for line in (DATA / "dev.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("shots", [0, 5])
def test_requests_equal_lm_eval(tmp_path: Path, shots: int) -> None:
    """Every (context, continuation) of the first 20 questions; lm-eval reads the same train_s pool."""
    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from harness.testing.lmeval_local import lmeval_requests, write_lmeval_tasks

    files = {"train": DATA / "train_s.jsonl", "validation": DATA / "dev.jsonl"}
    names = write_lmeval_tasks("winogrande", files, tmp_path, num_fewshot=shots)
    expected = [[tuple(args) for args in doc] for doc in lmeval_requests(tmp_path, names, limit=20)[names[0]]]
    task = winogrande(DATA, num_fewshot=shots)
    ours = []
    for sample, examples in task.samples(limit=20):
        (request,) = task.requests(sample, examples, seed=0)
        ours.append([(request.prompt + context, candidate)
                     for context, candidate in zip(request.contexts or (), request.candidates or ())])
    assert len(expected) == 20 and all(len(doc) == 2 for doc in expected)
    assert ours == expected


def test_the_partial_request_of_the_first_question() -> None:
    sample, examples = winogrande(DATA).samples(limit=1)[0]
    (request,) = winogrande(DATA).requests(sample, examples, seed=0)
    assert request.prompt == ""
    assert request.contexts == ("Sarah was a much better surgeon than Maria so Sarah",
                                "Sarah was a much better surgeon than Maria so Maria")
    assert request.candidates == (" always got the easier cases.",) * 2
    assert json.loads(request.reference or "") == [1]


def test_five_shot_draws_from_train_xl_when_present(tmp_path: Path) -> None:
    shutil.copy(DATA / "dev.jsonl", tmp_path)
    shutil.copy(DATA / "train_s.jsonl", tmp_path)
    xl = [{**row, "sentence": "XL " + row["sentence"]} for row in map(json.loads, (DATA / "train_s.jsonl").read_text().splitlines())]
    (tmp_path / "train_xl.jsonl").write_text("".join(json.dumps(row) + "\n" for row in xl))
    _, examples = winogrande(tmp_path, num_fewshot=5).samples(limit=1)[0]
    assert len(examples) == 5 and all(example["sentence"].startswith("XL ") for example in examples)


def test_oracle_and_first_choice_on_all_1267(tmp_path: Path) -> None:
    rows = dev_rows()
    assert len(rows) == 1267
    oracle = evaluate("winogrande", OracleModel(), data=DATA, run_dir=tmp_path / "oracle", use_cache=False)
    assert (oracle.metrics["metrics"]["acc"]["value"], oracle.metrics["metrics"]["acc"]["n"]) == (1.0, 1267)
    first = evaluate("winogrande", FirstChoiceModel(), data=DATA, run_dir=tmp_path / "first", use_cache=False)
    share = sum(row["answer"] == "1" for row in rows) / len(rows)
    assert first.metrics["metrics"]["acc"]["value"] == pytest.approx(share)
