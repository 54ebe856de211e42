"""`harness rescore` and `replay:RUN_DIR`: stored answers scored again without a model."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harness import evaluate, rescore
from harness.cli import app
from harness.errors import UsageError
from tests.sandbox_support import CRUXEVAL_X, cruxeval_scorer, gold_records, require_language
from tests.test_groups_and_traces import TracingModel, write_toy_task

GSM8K_SAMPLE = Path(__file__).resolve().parents[1] / "tasks" / "gsm8k" / "sample"


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_rescore_reproduces_the_run_and_names_its_source(tmp_path: Path) -> None:
    source = evaluate("gsm8k", "oracle", sample_data=True, run_dir=tmp_path / "run", use_cache=False).run_dir
    result = rescore(source, out=tmp_path / "again")
    assert metrics_of(tmp_path / "again") == metrics_of(source)
    columns = ["id", "response", "scores", "extracted"]
    assert pq.read_table(tmp_path / "again" / "samples.parquet", columns=columns).to_pylist() == \
        pq.read_table(source / "samples.parquet", columns=columns).to_pylist()
    assert result.manifest["source_run"]["path"] == str(source.resolve())
    assert result.manifest["source_run"]["model"]["spec"] == "oracle"


def test_rescore_refuses_arguments_that_change_the_prompt(tmp_path: Path) -> None:
    source = evaluate("gsm8k", "oracle", sample_data=True, run_dir=tmp_path / "run", use_cache=False).run_dir
    with pytest.raises(UsageError, match="asked something else"):
        rescore(source, task_args={"num_fewshot": 2}, out=tmp_path / "changed")
    outcome = CliRunner().invoke(app, ["rescore", str(source), "--task-args", "num_fewshot=2",
                                       "--out", str(tmp_path / "cli")])
    assert outcome.exit_code == 2 and "Traceback" not in outcome.output


def test_replaying_a_run_dir_keeps_traces_and_every_stored_field(tmp_path: Path) -> None:
    root = write_toy_task(tmp_path)
    traced = evaluate("toy", TracingModel(), tasks_dirs=[root], data=root / "data", run_dir=tmp_path / "run",
                      use_cache=False)
    replayed = evaluate("toy", f"replay:{traced.run_dir}", tasks_dirs=[root], data=root / "data",
                        run_dir=tmp_path / "replayed", use_cache=False)
    assert replayed.metrics["metrics"] == traced.metrics["metrics"]
    columns = ["id", "response", "trace", "scores"]
    assert pq.read_table(replayed.run_dir / "samples.parquet", columns=columns).to_pylist() == \
        pq.read_table(traced.run_dir / "samples.parquet", columns=columns).to_pylist()


def test_a_replay_file_that_is_not_utf8_is_one_line_of_bad_input(tmp_path: Path) -> None:
    replay = tmp_path / "answers.jsonl"
    replay.write_bytes(b'{"id": "0", "response": "\xff\xfe"}\n')
    outcome = CliRunner().invoke(app, ["run", "--task", "gsm8k", "--sample", "--model", f"replay:{replay}",
                                       "--run-dir", str(tmp_path / "run"), "--no-cache"])
    assert outcome.exit_code == 2, outcome.output
    assert "not UTF-8" in outcome.output and "Traceback" not in outcome.output


@pytest.mark.skipif(not CRUXEVAL_X.is_dir(), reason=f"CRUXEval-X data not found at {CRUXEVAL_X}")
def test_rescoring_without_the_guard_equals_a_fresh_run_without_it(tmp_path: Path) -> None:
    require_language("py")
    scorer = cruxeval_scorer()
    rows = gold_records("py")[:4]
    # Input answers right; output answers copy the test's call for half the problems (X == X).
    lines = [{"id": f"py/input/{row['id']}", "response": f"[ANSWER]\n{scorer.gold_answer(row, 'py', 'input')}\n"}
             for row in rows]
    lines += [{"id": f"py/output/{row['id']}",
               "response": f"[ANSWER]\n{scorer.gold_answer(row, 'py', 'input' if index % 2 else 'output')}\n"}
              for index, row in enumerate(rows)]
    replay = tmp_path / "answers.jsonl"
    replay.write_text("".join(json.dumps(line) + "\n" for line in lines))
    options = dict(data=CRUXEVAL_X, limit=4, cache_dir=tmp_path / "cache", use_cache=False)
    guarded = evaluate("cruxeval-x", f"replay:{replay}", task_args={"subsets": "py"},
                       run_dir=tmp_path / "guarded", **options)
    fresh = evaluate("cruxeval-x", f"replay:{replay}", task_args={"subsets": "py", "guard": False},
                     run_dir=tmp_path / "fresh", **options)
    rescored = rescore(guarded.run_dir, task_args="guard=false", out=tmp_path / "rescored",
                       cache_dir=tmp_path / "cache")
    assert guarded.metrics["metrics"]["pass@1[answer]"]["value"] == 0.75
    assert fresh.metrics["metrics"]["pass@1[answer]"]["value"] == 1.0
    assert rescored.metrics == fresh.metrics
