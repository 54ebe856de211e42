"""The CLI: exit code 2 with a one-line message for bad input; run, show and tasks work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.assets import asset_dir


def harness(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                               "HOME": str(cwd or Path.cwd())}, timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--task", "nope", "--model", "oracle"], "unknown task 'nope'"),
    (["run", "--task", "gsm8k", "--model", "warp:x"], "unknown model backend 'warp'"),
    (["run", "--task", "gsm8k", "--model", "oracle,speed=9", "--sample"], "bad arguments for model"),
    (["run", "--task", "gsm8k", "--model", "oracle", "--data", "/no/such/file.jsonl"], "--data /no/such/file.jsonl does not exist"),
    (["run", "--task", "gsm8k", "--model", "oracle", "--sample", "--task-args", "shots=2"], "unknown task arg(s) shots"),
    (["run", "--task", "gsm8k", "--model", "oracle", "--sample", "--task-args", "bad"], "expected key=value"),
    (["run", "--task", "gsm8k", "--model", "oracle", "--sample", "--limit", "0"], "--limit 0"),
    (["run", "--task", "gsm8k", "--model", "replay:/no/file.jsonl", "--sample"], "replay file '/no/file.jsonl' does not exist"),
    (["show", "/no/run"], "not a finished run directory"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = harness(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_malformed_task_yaml_exits_2_naming_key_and_line(tmp_path: Path) -> None:
    shutil.copytree(asset_dir("tasks") / "gsm8k", tmp_path / "tasks" / "gsm8k")
    spec = tmp_path / "tasks" / "gsm8k" / "task.yaml"
    spec.write_text(spec.read_text().replace("format: base", "fromat: base"))
    result = harness("run", "--task", "gsm8k", "--model", "oracle", "--tasks-dir", str(tmp_path / "tasks"), cwd=tmp_path)
    assert result.returncode == 2
    assert "task.yaml:" in result.stderr and "key 'fromat'" in result.stderr


def test_run_then_show_prints_metrics(tmp_path: Path) -> None:
    result = harness("run", "--task", "gsm8k:cot", "--model", "oracle", "--sample", "--run-dir", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["metrics"]["exact_match[strict-match]"] == {"value": 1.0, "n": 10, "ci_low": 1.0, "ci_high": 1.0, "unscored": 0, "complete": True}
    shown = harness("show", "out", cwd=tmp_path)
    assert shown.returncode == 0 and "exact_match[flexible-extract]" in shown.stdout and "100.00" in shown.stdout


def test_default_run_dir_is_runs_task_model_timestamp(tmp_path: Path) -> None:
    assert harness("run", "--task", "gsm8k", "--model", "oracle", "--sample", cwd=tmp_path).returncode == 0
    [run] = list((tmp_path / "runs" / "gsm8k" / "oracle").iterdir())
    assert {"manifest.json", "samples.parquet", "metrics.json"} <= {p.name for p in run.iterdir()}


def test_tasks_lists_gsm8k_with_variants(tmp_path: Path) -> None:
    result = harness("tasks", cwd=tmp_path)
    assert result.returncode == 0 and "gsm8k" in result.stdout and "plain, cot" in result.stdout
