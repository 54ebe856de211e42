"""lm-eval's own aggregation of a run, for metrics.json's `summary`.

The per-document values go through lm-eval's result processing (`_process_results`: each
metric's aggregation function, its stderr, then every group's formula, weighted by size or not),
so each task and group number equals what `lm_eval.simple_evaluate` reports for the same
answers. Our generic table (per-sample means with bootstrap intervals) stays beside it; where
they differ (non-mean aggregations such as f1, groups averaged without size weights), this one
is lm-eval's number.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from harness.lmeval.loading import LoadedTasks

# The parts of lm-eval's results dict that describe numbers (its `configs` repeat the YAML files).
RESULT_KEYS = ("results", "groups", "group_subtasks", "versions", "n-shot", "higher_is_better", "n-samples")
NOTE = ("lm-eval's own aggregation (task formulas, group weighting); headline shows its proportions "
        "(x100), and summary.lm_eval holds every number it reports, stderr included")


def summarise(loaded: LoadedTasks, raw: Mapping[str, Mapping[tuple[str, str], list[Any]]],
              bootstrap_iters: int) -> dict[str, Any]:
    """{"lm_eval": lm-eval's results dict, "headline": its proportions by task and group, "note"}."""
    from lm_eval.evaluator_utils import _process_results
    from lm_eval.utils import handle_non_serializable

    accumulated = {name: {"task": loaded.tasks[name], "raw_metrics": dict(raw[name]), "logged_samples": []}
                   for name in loaded.names if raw.get(name)}
    groups = {name: group for name, group in loaded.groups.items()
              if all(task.task_name in accumulated for task in group.get_all_tasks())}
    results = _process_results(accumulated, groups, bootstrap_iters)._to_eval_results()  # type: ignore[arg-type]
    kept = {key: results[key] for key in RESULT_KEYS if key in results}
    lm_eval = json.loads(json.dumps(kept, default=handle_non_serializable))
    return {"lm_eval": lm_eval, "headline": _headline(lm_eval), "note": NOTE}


def _headline(results: Mapping[str, Any]) -> dict[str, float]:
    """Each task's and group's metrics that are proportions (higher is better, within 0..1),
    which the console shows in percent beside our table."""
    headline: dict[str, float] = {}
    for name, entry in results.get("results", {}).items():
        better = results.get("higher_is_better", {}).get(name, {})
        for key, value in entry.items():
            metric, _, filter_name = key.partition(",")
            if not filter_name or metric.endswith("_stderr") or not isinstance(value, (int, float)):
                continue
            if better.get(metric) and 0.0 <= value <= 1.0:
                headline[f"{name} {metric},{filter_name}"] = float(value)
    return headline
