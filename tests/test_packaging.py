"""`pip install .` ships the declarative folders inside the wheel, where the engine finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_tasks_and_installs_working_cli(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    [wheel] = tmp_path.glob("harness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/_assets/tasks/gsm8k/task.yaml" in names
    assert "harness/_assets/tasks/gsm8k/prompts/plain.j2" in names
    assert "harness/_assets/suites/openllm-v1.yaml" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = "import harness.assets as a, harness.tasks as t; print(a.asset_dir('tasks')); print(t.load_task('gsm8k').name)"
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(target)}, cwd=tmp_path,
                         check=True, capture_output=True, text=True).stdout.split()
    assert out == [str(target / "harness" / "_assets" / "tasks"), "gsm8k"]
