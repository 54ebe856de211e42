"""From sample records to metrics.json: the mean of each named score, overall and per subset.

A NaN score (the model gave no answer: replay miss, API error) is left out of the mean and
counted as `unscored`, so a missing answer never reads as a wrong one; a metric with no scored
sample has value null.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

from harness.scoring.bootstrap import mean_with_ci
from harness.types import SampleRecord


def summarise(values: Sequence[float], seed: int) -> dict[str, Any]:
    scored = [value for value in values if not math.isnan(value)]
    unscored = len(values) - len(scored)
    if not scored:
        return {"value": None, "n": 0, "ci_low": None, "ci_high": None, "unscored": unscored}
    return {**mean_with_ci(scored, seed=seed).as_dict(), "unscored": unscored}


def aggregate(task: str, labels: Sequence[str], records: Sequence[SampleRecord], seed: int = 0) -> dict[str, Any]:
    """metrics.json content: {"task", "metrics": {label: {...}}, "subsets": {subset: {label: {...}}}}."""
    by_subset: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in records:
        by_subset[record.subset].append(record)

    def table(rows: Sequence[SampleRecord]) -> dict[str, Any]:
        return {label: summarise([row.scores.get(label, math.nan) for row in rows], seed) for label in labels}

    return {
        "task": task,
        "metrics": table(records),
        "subsets": {subset: table(rows) for subset, rows in sorted(by_subset.items())},
    }
