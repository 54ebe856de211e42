"""The task engine: specs (YAML + Jinja2), data sources, few-shot, extraction pipelines.

Names are imported on first use, as in `harness/__init__.py`, so this file imports none of the
package's modules: one of them importing from `harness.tasks` never meets a half-initialised
package (an import cycle), and importing one module does not load the whole engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.tasks.catalog import list_tasks, load_task
    from harness.tasks.spec import TaskSpec
    from harness.tasks.task import Task

_EXPORTS = {"Task": "harness.tasks.task", "TaskSpec": "harness.tasks.spec",
            "list_tasks": "harness.tasks.catalog", "load_task": "harness.tasks.catalog"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
