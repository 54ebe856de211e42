"""Multiple choice on a real model (SmolLM2-135M-Instruct, GGUF): `harness run` beside lm-eval.

Each task runs as a user runs it (`harness run --model hf:FILE`), and lm-eval runs its own task
yaml (through `simple_evaluate`, over the same local files) with its own HF backend on the same
file. Every question must get the same predicted option, the same acc and acc_norm, and every
option's log-probability must agree to 1e-4. HellaSwag's shared copy is not in the schema lm-eval
reads, so there lm-eval's backend scores the exact (context, continuation) pairs our requests hold
and lm-eval's formulas pick. Slow (minutes per task): `-m real`, run by .ci/run after the suite.

`HARNESS_REAL_MC_QUESTIONS` (default 200, the acceptance size) sets the questions per task;
.ci/run passes fewer to fit CI's 90 minutes. ARC-Challenge 25-shot runs on at most 10 of them:
its ~2,700-token context is scored by lm-eval once per option (about 15 s a question on 2 cores),
and its scoring path is the 0-shot one, which runs on all of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from harness.testing.lmeval_local import write_lmeval_tasks
from harness.testing.lmeval_tasks import lmeval_task_folder
from harness.testing.side_by_side import GGUFModel, measured
from tests.real_model_support import DATA, real_model_file, require_data

pytestmark = pytest.mark.real
QUESTIONS = int(os.environ.get("HARNESS_REAL_MC_QUESTIONS", "200"))
LONG_PROMPT_QUESTIONS = min(QUESTIONS, 10)
BATCH = 8
TOLERANCE = 1e-4
MMLU_SUBJECTS = ("abstract_algebra", "high_school_biology", "moral_scenarios", "us_foreign_policy")
WINOGRANDE = DATA / "winogrande" / "winogrande_1.1"


@pytest.fixture(scope="module")
def model() -> GGUFModel:
    return GGUFModel(real_model_file())


@pytest.fixture(scope="module")
def lmeval_model(model: GGUFModel) -> Any:
    """lm-eval's HF backend on the same file, loaded once for the module."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(model.path.parent), gguf_file=model.path.name, dtype="float32", batch_size=BATCH,
                device="cpu")


def harness_records(work: Path, model: GGUFModel, task: str, data: Path, limit: int, task_args: str = "") -> list[dict]:
    """`harness run` as a user runs it; its records in plan order (subset by subset, dataset order)."""
    import pyarrow.parquet as pq

    command = ["python", "-m", "harness.cli", "run", "--task", task, "--model", model.harness_spec(f",batch_size={BATCH}"),
               "--data", str(data), "--limit", str(limit), "--run-dir", str(work / "harness"), "--no-cache"]
    measured(command + (["--task-args", task_args] if task_args else []), work / "harness.log")
    return pq.read_table(work / "harness" / "samples.parquet").to_pylist()


def lmeval_samples(lm: Any, folder: Path, names: list[str], limit: int, num_fewshot: int | None) -> list[dict]:
    """lm-eval's logged samples, task by task in `names` order and by document within each."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    results = simple_evaluate(model=lm, tasks=names, task_manager=TaskManager(include_path=str(folder), include_defaults=False),
                              limit=limit, num_fewshot=num_fewshot, log_samples=True, batch_size=BATCH)
    assert results is not None
    return [sample for name in names for sample in sorted(results["samples"][name], key=lambda s: s["doc_id"])]


def compare(ours: list[dict], theirs: list[dict], metrics: tuple[str, ...]) -> None:
    assert len(ours) == len(theirs) > 0
    mismatches, worst = [], 0.0
    for record, sample in zip(ours, theirs):
        mine = record["choice_logprobs"]
        other = [float(resp[0][0]) for resp in sample["resps"]]
        assert len(mine) == len(other), f"{record['id']}: {len(mine)} options here, {len(other)} in lm-eval"
        worst = max(worst, *(abs(a - b) for a, b in zip(mine, other)))
        if int(np.argmax(mine)) != int(np.argmax(other)):
            mismatches.append(f"{record['id']}: picks option {int(np.argmax(mine))}, lm-eval {int(np.argmax(other))}")
        scores = dict(record["scores"]) if not isinstance(record["scores"], dict) else record["scores"]
        for metric in metrics:
            if scores[metric] != float(sample[metric]):
                mismatches.append(f"{record['id']} {metric}: {scores[metric]} here, {sample[metric]} in lm-eval")
    assert mismatches == []
    assert worst <= TOLERANCE, f"largest per-option log-probability difference {worst:.2e}"


CASES: dict[str, tuple[str, Path, Callable[[Path], list[str]], int | None, tuple[str, ...], int]] = {
    "arc-easy": ("arc-easy", DATA / "arc", lambda out: lmeval_task_folder("arc-easy", DATA / "arc", out), None,
                 ("acc", "acc_norm"), QUESTIONS),
    "arc-challenge": ("arc-challenge", DATA / "arc", lambda out: lmeval_task_folder("arc-challenge", DATA / "arc", out),
                      None, ("acc", "acc_norm"), QUESTIONS),
    "arc-challenge:25shot": ("arc-challenge:25shot", DATA / "arc",
                             lambda out: lmeval_task_folder("arc-challenge", DATA / "arc", out), 25, ("acc", "acc_norm"),
                             LONG_PROMPT_QUESTIONS),
    "truthfulqa-mc1": ("truthfulqa-mc1", DATA / "truthfulqa",
                       lambda out: lmeval_task_folder("truthfulqa-mc1", DATA / "truthfulqa", out), None, ("acc",),
                       QUESTIONS),
    "winogrande:5shot": ("winogrande:5shot", DATA / "winogrande",
                         lambda out: write_lmeval_tasks("winogrande", {"train": WINOGRANDE / "train_s.jsonl",
                                                                      "validation": WINOGRANDE / "dev.jsonl"}, out), 5,
                         ("acc",), QUESTIONS),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_choices_equal_lm_eval(case: str, model: GGUFModel, lmeval_model: Any, tmp_path: Path) -> None:
    task, data, write, shots, metrics, questions = CASES[case]
    require_data(data)
    ours = harness_records(tmp_path, model, task, data, questions)
    theirs = lmeval_samples(lmeval_model, tmp_path / "lmeval", write(tmp_path / "lmeval"), questions, shots)
    compare(ours, theirs, metrics)


def test_truthfulqa_mc2_equals_lm_eval(model: GGUFModel, lmeval_model: Any, tmp_path: Path) -> None:
    data = require_data(DATA / "truthfulqa")
    ours = harness_records(tmp_path, model, "truthfulqa-mc2", data, QUESTIONS)
    names = lmeval_task_folder("truthfulqa-mc2", data, tmp_path / "lmeval")
    theirs = lmeval_samples(lmeval_model, tmp_path / "lmeval", names, QUESTIONS, None)
    compare(ours, theirs, ())
    # mc2 is the true options' share of probability: a relative change of at most 1e-4 in every
    # probability (the log-probability tolerance) moves it by at most 2e-4.
    for record, sample in zip(ours, theirs):
        scores = dict(record["scores"]) if not isinstance(record["scores"], dict) else record["scores"]
        assert scores["mc2"] == pytest.approx(float(sample["acc"]), abs=2 * TOLERANCE), record["id"]


def test_mmlu_5shot_equals_lm_eval_subject_by_subject(model: GGUFModel, lmeval_model: Any, tmp_path: Path) -> None:
    data = require_data(DATA / "mmlu")
    per_subject = max(1, QUESTIONS // len(MMLU_SUBJECTS))
    ours = harness_records(tmp_path, model, "mmlu:5shot", data, per_subject, "subsets=" + "+".join(MMLU_SUBJECTS))
    lmeval_task_folder("mmlu", data, tmp_path / "lmeval")
    theirs = lmeval_samples(lmeval_model, tmp_path / "lmeval", [f"mmlu_{subject}" for subject in MMLU_SUBJECTS],
                            per_subject, 5)
    compare(ours, theirs, ("acc",))


def test_hellaswag_pairs_score_as_lm_eval_scores_them(model: GGUFModel, lmeval_model: Any, tmp_path: Path) -> None:
    """The shared copy is not lm-eval's schema: lm-eval's backend scores our requests' pairs."""
    from lm_eval.api.instance import Instance

    from harness.api import prepare_task
    from harness.scoring.multiple_choice import acc, acc_norm

    data = require_data(DATA / "hellaswag")
    ours = harness_records(tmp_path, model, "hellaswag", data, QUESTIONS)
    prepared = prepare_task("hellaswag", data=data, limit=QUESTIONS)
    try:
        requests = [request for _, request in prepared.plan]
    finally:
        prepared.close()
    pairs = [[((request.prompt or ""), candidate) for candidate in request.candidates or ()] for request in requests]
    flat = [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=0) for group in pairs for pair in group]
    scored = iter(lmeval_model.loglikelihood(flat, disable_tqdm=True))
    theirs = []
    for request, group in zip(requests, pairs):
        lls = [next(scored) for _ in group]
        options = [candidate.removeprefix(" ") for candidate in request.candidates or ()]
        gold = [int(index) for index in json.loads(request.reference or "[]")]
        theirs.append({"resps": [[ll] for ll in lls], "acc": acc([ll for ll, _ in lls], gold, options),
                       "acc_norm": acc_norm([ll for ll, _ in lls], gold, options)})
    compare(ours, theirs, ("acc", "acc_norm"))
