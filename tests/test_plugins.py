"""A third-party package adds a task, a model backend, a scorer and an extraction step through
entry points alone, and `harness run` uses them: no edit of ours, no registration code.

The package is built from source and installed with pip, as a user would, into a folder put on
PYTHONPATH (entry points are found in any sys.path entry), so the test needs no network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "harness-echo-plugin"
version = "0.1.0"

[project.entry-points."harness.task_folders"]
echo = "harness_echo_plugin:TASKS_DIR"

[project.entry-points."harness.models"]
echo = "harness_echo_plugin.model:EchoModel"

[project.entry-points."harness.scorers"]
shouted_match = "harness_echo_plugin.scoring:shouted_match"

[project.entry-points."harness.extraction_steps"]
shout = "harness_echo_plugin.scoring:shout_step"

[tool.setuptools]
packages = ["harness_echo_plugin"]

[tool.setuptools.package-data]
harness_echo_plugin = ["tasks/*/task.yaml", "tasks/*/prompts/*.j2", "tasks/*/sample/*.jsonl"]
"""
INIT = """\
from pathlib import Path

TASKS_DIR = Path(__file__).parent / "tasks"
"""
MODEL = '''\
from harness.types import Response


class EchoModel:
    """Answers the gold answer in lower case, except for Lima, which it gets wrong."""

    chunk_size = 8
    cacheable = False

    def __init__(self, name=""):
        self.name = name or "echo"

    def generate(self, requests):
        return [Response(text="nope" if request.reference == "Lima" else request.reference.lower(), finish_reason="stop")
                for request in requests]

    def fingerprint(self):
        return "echo-plugin-v1"
'''
SCORING = '''\
def shout_step():
    """An extraction step factory: the answer in upper case."""
    return lambda text: text.strip().upper()


def shouted_match(extracted, sample, **options):
    return float(extracted == sample.target.upper())
'''
TASK_YAML = """\
name: echo-plugin
version: "1"
description: A task shipped by a plugin package
dataset: {split: test, files: {test: test.jsonl}}
target: "{{ answer }}"
prompt: prompts/question.j2
oracle: "{{ target }}"
extraction:
  shouted: [shout]
metrics:
  - {name: shouted_match, scorer: shouted_match, extraction: [shouted]}
"""
ROWS = [{"id": str(i), "question": f"Capital number {i}?", "answer": city}
        for i, city in enumerate(["Paris", "Rome", "Oslo", "Lima"], start=1)]


def write_plugin(root: Path) -> Path:
    package = root / "harness_echo_plugin"
    task = package / "tasks" / "echo-plugin"
    (task / "prompts").mkdir(parents=True)
    (task / "sample").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text(INIT)
    (package / "model.py").write_text(MODEL)
    (package / "scoring.py").write_text(SCORING)
    (task / "task.yaml").write_text(TASK_YAML)
    (task / "prompts" / "question.j2").write_text("Question: {{ question }}\nAnswer:")
    (task / "sample" / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return root


def install(source: Path, target: Path) -> dict[str, str]:
    """pip-install `source` (no index, no isolation: offline) and return an environment that sees it."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=120)
    return {"PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(target.parent)}


def harness(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_an_installed_plugin_package_runs_its_task_with_its_model_scorer_and_step(tmp_path: Path) -> None:
    env = install(write_plugin(tmp_path / "plugin"), tmp_path / "site")

    listed = harness(env, tmp_path, "tasks")
    assert listed.returncode == 0, listed.stderr
    assert "echo-plugin" in listed.stdout and "gsm8k" in listed.stdout

    run = harness(env, tmp_path, "run", "--task", "echo-plugin", "--model", "echo", "--sample",
                  "--run-dir", "out", "--no-cache")
    assert run.returncode == 0, run.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())["metrics"]
    assert metrics["shouted_match[shouted]"]["value"] == 0.75  # 3 of 4: right only after the plugin's `shout` step
    assert metrics["shouted_match[shouted]"]["n"] == 4
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["task"]["name"] == "echo-plugin" and manifest["model"]["fingerprint"] == "echo-plugin-v1"
