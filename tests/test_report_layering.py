"""Reports never import the task engine: building a leaderboard reads runs, not task code.

Importing `harness.tasks` pulls in Jinja2 prompts, data sources and every scorer; a leaderboard
build over thousands of runs must not pay for that, nor break when a task's code does.
"""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES_AFTER_LEADERBOARD_IMPORT = (
    "import harness.report.leaderboard, sys; print(len([m for m in sys.modules if m.startswith('harness.tasks')]))"
)


def test_importing_the_leaderboard_loads_no_task_engine_module() -> None:
    result = subprocess.run([sys.executable, "-c", ENGINE_MODULES_AFTER_LEADERBOARD_IMPORT],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
