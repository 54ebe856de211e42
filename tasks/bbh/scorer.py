"""BBH hooks: each task's official description for the prompt, and the mean over tasks.

The descriptions live in `descriptions.yaml` beside this file (one per task, from the official
CoT prompt files), so the few-shot files stay plain lists of exemplars.

The pooled exact match over all 6,511 questions is lm-eval's group score (`bbh_cot_fewshot`
aggregates with weight_by_size); the paper's average weights the 27 tasks equally, so the
summary adds that mean of the per-task scores.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from harness.errors import UsageError

if TYPE_CHECKING:  # not imported at run time, so the engine does not take them for hooks
    from collections.abc import Mapping, Sequence
    from typing import Any

DESCRIPTIONS = Path(__file__).with_name("descriptions.yaml")


@lru_cache(maxsize=1)
def _descriptions() -> dict[str, str]:
    return yaml.safe_load(DESCRIPTIONS.read_text(encoding="utf-8"))


def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """The row's task description (lm-eval's `description`, less its closing blank line)."""
    subset = row.get("subset")
    if subset not in _descriptions():
        raise UsageError(f"bbh has no task {subset!r}; the tasks are listed in {DESCRIPTIONS}")
    return {"description": _descriptions()[subset]}


def summarise(records: Sequence[Any], metrics: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The unweighted mean of the per-task scores (the paper's average), beside lm-eval's pooled one."""
    summary: dict[str, Any] = {}
    for label in metrics["metrics"]:
        tasks = {subset: table[label] for subset, table in metrics["subsets"].items() if label in table}
        values = [entry["value"] for entry in tasks.values()]
        summary[f"{label}/task_mean"] = {
            "value": sum(values) / len(values) if values and None not in values else None,
            "tasks": len(values), "complete": all(entry["complete"] for entry in tasks.values()),
        }
    return summary
