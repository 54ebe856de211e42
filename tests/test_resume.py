"""A run killed with SIGKILL midway resumes: nothing lost, nothing duplicated, no model call repeated."""

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
from openai_server import OpenAIServer
from typer.testing import CliRunner

from harness.cli import app
from harness.types import Response

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"
RUNNER = (
    "import sys; from harness.registry import MODELS; "
    "MODELS.register('scripted', 'scripted_models:ScriptedGSM8KModel'); "
    "from harness.cli import main; sys.argv[0] = 'harness'; main()"
)
LIMIT = 80


def harness_run(run_dir: Path, cache: Path, log: Path, delay: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "SCRIPTED_MODEL_LOG": str(log)}
    command = [sys.executable, "-c", RUNNER, "run", "--task", "gsm8k", "--model", f"scripted,delay={delay}",
               "--data", str(DATA), "--limit", str(LIMIT), "--run-dir", str(run_dir), "--cache-dir", str(cache)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def journal_lines(run_dir: Path) -> int:
    journal = run_dir / "journal.jsonl"
    return len(journal.read_text().splitlines()) if journal.exists() else 0


@pytest.mark.skipif(not DATA.is_file(), reason=f"GSM8K data not found at {DATA}")
def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    killed_dir, log = tmp_path / "killed", tmp_path / "calls.log"
    process = harness_run(killed_dir, tmp_path / "cache", log, delay=0.2)
    deadline = time.monotonic() + 60
    while journal_lines(killed_dir) < 20 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    journaled = {json.loads(line)["id"] for line in (killed_dir / "journal.jsonl").read_text().splitlines()}
    assert 20 <= len(journaled) < LIMIT, "the kill must land midway"
    assert not (killed_dir / "samples.parquet").exists()

    resumed_log = tmp_path / "resumed-calls.log"
    resumed = harness_run(killed_dir, tmp_path / "cache", resumed_log, delay=0.0)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    reference = harness_run(tmp_path / "reference", tmp_path / "other-cache", tmp_path / "ref.log", delay=0.0)
    assert reference.wait(timeout=120) == 0, reference.stderr.read()

    rows = pq.read_table(killed_dir / "samples.parquet").to_pylist()
    assert sorted(int(row["id"]) for row in rows) == list(range(LIMIT))
    calls_after = resumed_log.read_text().split()
    assert not journaled & set(calls_after), "a sample done before the kill was sent to the model again"
    assert len(calls_after) == len(set(calls_after)) <= LIMIT - len(journaled)
    assert set(log.read_text().split()) | set(calls_after) == {str(i) for i in range(LIMIT)}

    resumed_metrics = json.loads((killed_dir / "metrics.json").read_text())
    reference_metrics = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    assert resumed_metrics == reference_metrics
    assert resumed_metrics["metrics"]["exact_match[strict-match]"]["value"] == 0.5
    manifest = json.loads((killed_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    counts = manifest["counts"]
    assert counts["resumed_records"] + counts["journaled_responses"] + counts["cached_requests"] + counts["model_requests"] == LIMIT


class FixedAnswerModel:
    """What the test server answers with: the same text for every request."""

    name = "fixed"
    chunk_size = 64
    cacheable = False

    def generate(self, requests):  # type: ignore[no-untyped-def]
        return [Response(text="#### 18", input_tokens=5, output_tokens=3, finish_reason="stop") for _ in requests]

    def fingerprint(self) -> str:
        return "fixed"


def test_a_server_failing_mid_run_is_one_line_and_the_rerun_resumes(tmp_path: Path) -> None:
    """The first chunk (8 requests) is answered, then the server fails every request: the run
    stops with exit code 3 and one line naming the server, the fix and the run dir; rerun against
    a working server at the same address, it asks only for what was not saved."""
    run_dir = tmp_path / "run"
    spec = "openai:fixed,base_url={url},concurrency=2,max_retries=1,backoff=0"
    command = ["run", "--task", "gsm8k", "--sample", "--run-dir", str(run_dir), "--no-cache"]
    failing = OpenAIServer(FixedAnswerModel(), faults=[None] * 8 + ["503"] * 40)
    with failing as url:
        stopped = CliRunner().invoke(app, [*command, "--model", spec.format(url=url)])
    assert stopped.exit_code == 3
    assert "Traceback" not in stopped.output
    [line] = [line for line in stopped.output.splitlines() if line.startswith("interrupted:")]  # beside the progress bar
    assert url in line and "HTTP 503" in line
    assert f"8 of 10 samples are saved in {run_dir}: rerun with --run-dir {run_dir} to resume" in line

    working = OpenAIServer(FixedAnswerModel(), port=failing.port)
    with working as url:
        resumed = CliRunner().invoke(app, [*command, "--model", spec.format(url=url)])
    assert resumed.exit_code == 0, resumed.output
    assert working.request_count == 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (manifest["counts"]["resumed_records"], manifest["counts"]["model_requests"]) == (8, 2)
    assert len(pq.read_table(run_dir / "samples.parquet")) == 10


def test_an_unreachable_server_is_one_line_exit_3_and_the_rerun_resumes(tmp_path: Path) -> None:
    """Nothing listens at base_url: the `harness` process (so exit code and stderr are what a shell
    sees) ends with one line naming the server, the network's reason and the fix, exit code 3 and no
    traceback; the same command against a server started at that address finishes the run."""
    gone = OpenAIServer(FixedAnswerModel())
    with gone as url:
        pass  # nothing listens at `url` once the server has stopped
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "harness.cli", "run", "--task", "gsm8k", "--sample", "--no-cache",
               "--run-dir", str(run_dir), "--model", f"openai:fixed,base_url={url},max_retries=1,backoff=0"]
    stopped = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 3, stopped.stderr
    assert "Traceback" not in stopped.stderr + stopped.stdout
    line = stopped.stderr.strip().splitlines()[-1]  # after the progress bar's last frame
    assert line.startswith(f"interrupted: model 'fixed' at {url} failed after 2 attempts (last error: connection failed")
    assert "Connection refused" in line and "check that the server is up" in line
    assert f"0 of 10 samples are saved in {run_dir}: rerun with --run-dir {run_dir} to resume" in line

    working = OpenAIServer(FixedAnswerModel(), port=gone.port)
    with working:
        resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert working.request_count == 10
    assert len(pq.read_table(run_dir / "samples.parquet")) == 10
