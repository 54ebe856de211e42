"""Generation and scoring as separate stages: answers are journaled before scoring, scoring runs
beside generation, and a kill or a scorer failure at any point loses no answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness import evaluate
from harness.store.run_dir import read_responses

COUNT = 80
TASK_YAML = """\
name: slowscore
version: "1"
dataset: {split: test, files: {test: main.jsonl}}
target: "{{ answer }}"
prompt: question.j2
oracle: "{{ target }}"
extraction: {raw: []}
metrics:
  - {name: exact_match, scorer: "python:logged_match", extraction: [raw]}
"""
SCORER = '''
import os, time

def logged_match(answer, sample, **options):
    """Exact match that logs every call, sleeps, and fails on demand (for the tests)."""
    if os.environ.get("SCORER_FAIL") == "1":
        raise RuntimeError("scorer broke")
    with open(os.environ["EVENT_LOG"], "a") as log:
        log.write(f"score {sample.id}\\n")
    time.sleep(float(os.environ.get("SCORER_DELAY", "0")))
    return float(answer == sample.target)
'''
MODEL = '''
import os, time
from harness.types import Response

class LoggingModel:
    """Answers every other sample right; logs each chunk it is asked, so tests see model calls."""

    cacheable = False

    def __init__(self, name="", chunk_size=4, delay=0.0):
        self.name = "logging"
        self.chunk_size = int(chunk_size)
        self.delay = float(delay)

    def generate(self, requests):
        time.sleep(self.delay)
        with open(os.environ["EVENT_LOG"], "a") as log:
            log.writelines(f"generate {request.sample_id}\\n" for request in requests)
        return [Response(text=request.reference if int(request.sample_id) % 2 == 0 else "wrong",
                         finish_reason="stop") for request in requests]

    def fingerprint(self):
        return "logging-v1"
'''
RUNNER = ("import sys; from harness.registry import MODELS; "
          "MODELS.register('logging', 'logging_model:LoggingModel'); "
          "from harness.cli import main; sys.argv[0] = 'harness'; main()")


def write_task(root: Path) -> Path:
    folder = root / "tasks" / "slowscore"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(TASK_YAML)
    (folder / "question.j2").write_text("{{ question }}")
    (folder / "scorer.py").write_text(SCORER)
    (root / "data").mkdir()
    rows = [{"id": str(i), "question": f"q{i}", "answer": str(i)} for i in range(COUNT)]
    (root / "data" / "main.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (root / "logging_model.py").write_text(MODEL)
    return root


def start_run(root: Path, run_dir: Path, log: Path, model: str, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(root), "EVENT_LOG": str(log), **env}
    command = [sys.executable, "-c", RUNNER, "run", "--task", "slowscore", "--tasks-dir", str(root / "tasks"),
               "--data", str(root / "data"), "--model", model, "--run-dir", str(run_dir), "--no-cache"]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_run_killed_while_scoring_resumes_without_the_model(tmp_path: Path) -> None:
    root = write_task(tmp_path)
    run_dir, log = tmp_path / "run", tmp_path / "events.log"
    process = start_run(root, run_dir, log, "logging,chunk_size=80", SCORER_DELAY="0.05")
    deadline = time.monotonic() + 120
    while not lines(run_dir / "journal.jsonl") and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    scored = {json.loads(line)["id"] for line in lines(run_dir / "journal.jsonl")}
    assert 0 < len(scored) < COUNT, "the kill must land while scoring"
    assert len(read_responses(run_dir)) == COUNT, "every answer is journaled before it is scored"

    resumed_log = tmp_path / "resumed.log"
    resumed = start_run(root, run_dir, resumed_log, "logging,chunk_size=80")
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    assert not [event for event in lines(resumed_log) if event.startswith("generate")], "the model was asked again"
    rescored = {event.split()[1] for event in lines(resumed_log)}
    assert not rescored & scored, "a record journaled before the kill was scored again"
    rows = pq.read_table(run_dir / "samples.parquet").to_pylist()
    assert sorted(int(row["id"]) for row in rows) == list(range(COUNT))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["metrics"]["exact_match[raw]"]["value"] == 0.5
    counts = json.loads((run_dir / "manifest.json").read_text())["counts"]
    assert (counts["resumed_records"], counts["journaled_responses"], counts["model_requests"]) == (
        len(scored), COUNT - len(scored), 0)


def test_a_failing_scorer_loses_no_answer_even_without_the_cache(tmp_path: Path) -> None:
    root = write_task(tmp_path)
    run_dir, log = tmp_path / "run", tmp_path / "events.log"
    failed = start_run(root, run_dir, log, "logging", SCORER_FAIL="1")
    assert failed.wait(timeout=120) != 0
    assert "scorer broke" in failed.stderr.read()
    answered = len(read_responses(run_dir))
    assert answered >= 4, "the answers given before the failure are journaled"

    resumed_log = tmp_path / "resumed.log"
    resumed = start_run(root, run_dir, resumed_log, "logging")
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    asked_again = [event for event in lines(resumed_log) if event.startswith("generate")]
    assert len(asked_again) == COUNT - answered


def test_scoring_runs_while_the_model_still_generates(tmp_path: Path) -> None:
    root = write_task(tmp_path)
    run_dir, log = tmp_path / "run", tmp_path / "events.log"
    process = start_run(root, run_dir, log, "logging,chunk_size=8,delay=0.2")
    assert process.wait(timeout=120) == 0, process.stderr.read()
    events = lines(log)
    first_score = next(index for index, event in enumerate(events) if event.startswith("score"))
    last_generate = max(index for index, event in enumerate(events) if event.startswith("generate"))
    assert first_score < last_generate, "scoring waited for generation to end"


def test_samples_keep_every_field_the_model_gave(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_task(tmp_path)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("EVENT_LOG", str(tmp_path / "events.log"))
    from logging_model import LoggingModel  # type: ignore[import-not-found]

    evaluate("slowscore", LoggingModel(), tasks_dirs=[root / "tasks"], data=root / "data", limit=4,
             run_dir=tmp_path / "run", use_cache=False)
    rows = pq.read_table(tmp_path / "run" / "samples.parquet").to_pylist()
    # choice_logprobs and choice_greedy are filled for loglikelihood requests only
    assert {(row["finish_reason"], row["choice_logprobs"], row["choice_greedy"]) for row in rows} == {("stop", None, None)}
