"""MATH and MATH-500 end to end on the real shared data: oracle, groups, lm-eval parity."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness import evaluate
from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "math"
needs_data = pytest.mark.skipif(not (DATA / "math500_test.jsonl").is_file(),
                                reason=f"MATH data not found at {DATA} (see shared/data/math/SOURCE.md)")
SUBJECTS = {"Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory",
            "Prealgebra", "Precalculus"}


def math500_rows() -> list[dict]:
    return [json.loads(line) for line in (DATA / "math500_test.jsonl").read_text().splitlines()]


@needs_data
@pytest.mark.parametrize("task", ["math-500:chat", "math-500:minerva", "math-500:critic-cot"])
def test_oracle_scores_100_percent_under_every_scorer(task: str, tmp_path: Path) -> None:
    result = evaluate(task, "oracle", data=DATA, run_dir=tmp_path / "run", use_cache=False)
    metrics = result.metrics["metrics"]
    assert {label.split("[")[0] for label in metrics} == {"hendrycks", "minerva", "prm800k", "math-verify"}
    for label, entry in metrics.items():
        assert (entry["value"], entry["n"]) == (1.0, 500), label
    groups = result.metrics["groups"]
    assert set(groups["subject"]) == SUBJECTS
    assert sorted(groups["level"]) == [f"Level {n}" for n in range(1, 6)]
    assert sum(level["prm800k[boxed]"]["n"] for level in groups["level"].values()) == 500


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("task", ["math:chat", "math:minerva"])
def test_oracle_scores_100_percent_on_all_5000(task: str, tmp_path: Path) -> None:
    result = evaluate(task, "oracle", data=DATA, run_dir=tmp_path / "run", use_cache=False)
    for label, entry in result.metrics["metrics"].items():
        assert (entry["value"], entry["n"]) == (1.0, 5000), label
    assert set(result.metrics["groups"]["subject"]) == SUBJECTS


@needs_data
def test_wrong_and_unfinished_answers_score_zero_everywhere(tmp_path: Path) -> None:
    rows = math500_rows()[:40]
    order = list(range(len(rows)))
    random.Random(3).shuffle(order)
    lines = []
    for i, j in enumerate(order):
        response = f"The answer is $\\boxed{{{rows[j]['answer']}}}$."
        if i % 4 == 0:  # an unfinished thinking block yields no answer, even with a right box inside
            response = f"<think>maybe $\\boxed{{{rows[i]['answer']}}}$"
        lines.append(json.dumps({"id": rows[i]["unique_id"], "response": response}))
    replay = tmp_path / "replay.jsonl"
    replay.write_text("\n".join(lines) + "\n")
    result = evaluate("math-500:chat", f"replay:{replay}", data=DATA, limit=40, run_dir=tmp_path / "run", use_cache=False)
    same = sum(rows[i]["answer"] == rows[j]["answer"] for i, j in enumerate(order) if i % 4)
    for label, entry in result.metrics["metrics"].items():
        assert entry["value"] * 40 == pytest.approx(same), label


def lmeval_minerva_prompts(tmp_path: Path, limit: int) -> list[str]:
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from lm_eval.tasks import TaskManager

    base = Path(lm_eval.__file__).parent / "tasks" / "minerva_math" / "minerva_math500.yaml"
    (tmp_path / "local.yaml").write_text(
        f"task: minerva_local\ninclude: {base}\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files: {{test: {DATA}/math500_test.jsonl}}\n")
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    task = manager.load(["minerva_local"])["tasks"]["minerva_local"]
    task.build_all_requests(limit=limit, rank=0, world_size=1)
    return [instance.args[0] for instance in sorted(task.instances, key=lambda i: i.doc_id)]


@needs_data
def test_minerva_prompts_equal_lm_eval(tmp_path: Path) -> None:
    expected = lmeval_minerva_prompts(tmp_path, limit=10)
    spec, own = apply_task_args(load_task("math-500", variant="minerva"), {})
    task = Task(spec, own, DATA)
    ours = [task.requests(sample, examples, seed=0)[0].prompt for sample, examples in task.samples(limit=10)]
    assert len(expected) == 10 and all("Final Answer: The final answer is" in prompt for prompt in expected)
    assert ours == expected


@needs_data
def test_minerva_scores_equal_lm_eval_on_shuffled_answers(tmp_path: Path) -> None:
    utils = pytest.importorskip("lm_eval.tasks.minerva_math.utils", reason="lm-eval[math] is a dev dependency")
    rows = math500_rows()[:60]
    order = list(range(len(rows)))
    random.Random(5).shuffle(order)
    responses = {}
    for i, j in enumerate(order):
        answer = rows[i if i % 3 == 0 else j]["answer"]
        responses[rows[i]["unique_id"]] = f"So we get $x$.\nFinal Answer: The final answer is ${answer}$. I hope it is correct."
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"id": key, "response": text}) + "\n" for key, text in responses.items()))
    evaluate("math-500:minerva", f"replay:{replay}", data=DATA, limit=60, run_dir=tmp_path / "run", use_cache=False)
    import pyarrow.parquet as pq

    ours = {row["id"]: dict(row["scores"])["minerva[final-answer]"]
            for row in pq.read_table(tmp_path / "run" / "samples.parquet", columns=["id", "scores"]).to_pylist()}
    theirs = {}
    for row in rows:
        doc = {"answer": utils.normalize_final_answer(utils.remove_boxed(utils.last_boxed_only_string(row["solution"])))}
        theirs[row["unique_id"]] = float(utils.process_results(
            {**row, **doc}, [responses[row["unique_id"]]])["exact_match"])
    assert 20 <= sum(theirs.values()) < 60
    assert ours == theirs
