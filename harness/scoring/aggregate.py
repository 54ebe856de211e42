"""From sample records to metrics.json: the mean of each named score, overall and per subset.

A NaN score (the model gave no answer: replay miss, API error) is left out of the mean and
counted as `unscored`, so a missing answer never reads as a wrong one; a metric with no scored
sample has value null. A sample whose record lacks the metric (its scorer found it undefined
there: READoc's table metrics on a document without tables) is counted as `undefined`: left out
of the mean as the benchmark's own averaging leaves it out, without making the run incomplete.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any, Sequence

from harness.scoring.bootstrap import mean_with_ci
from harness.scoring.candidates import derived_labels, filter_quality
from harness.scoring.pass_at_k import per_problem_pass_at_k
from harness.types import SampleRecord


def summarise(values: Sequence[float], seed: int, undefined: int = 0) -> dict[str, Any]:
    scored = [value for value in values if not math.isnan(value)]
    unscored = len(values) - len(scored)
    extra = {"undefined": undefined} if undefined else {}
    if not scored:
        return {"value": None, "n": 0, "ci_low": None, "ci_high": None, "unscored": unscored,
                "complete": False, **extra}
    return {**mean_with_ci(scored, seed=seed).as_dict(), "unscored": unscored, "complete": unscored == 0, **extra}


def pass_at_k_labels(labels: Sequence[str], repeats: int) -> dict[str, tuple[str, int]]:
    """With n > 1 attempts, every `pass@1[...]` metric also gets pass@k for k in 5, 10, ... up to n."""
    extra = {}
    for label in labels:
        if label.startswith("pass@1[") and repeats > 1:
            for k in (k for k in (2, 5, 10, 20, 50, 100) if k <= repeats):
                extra[label.replace("pass@1[", f"pass@{k}[", 1)] = (label, k)
    return extra


def _table(rows: Sequence[SampleRecord], labels: Sequence[str], repeats: int, seed: int) -> dict[str, Any]:
    table = {label: _summarise_label(rows, label, seed) for label in labels}
    for name, (label, k) in pass_at_k_labels(labels, repeats).items():
        values = per_problem_pass_at_k(((row.id, row.scores.get(label, math.nan)) for row in rows), k)
        table[name] = summarise(values, seed) if values else summarise([math.nan], seed)
    return table


def _summarise_label(rows: Sequence[SampleRecord], label: str, seed: int) -> dict[str, Any]:
    """A label's summary; records without it count as undefined (no value where none defines it)."""
    values = [row.scores[label] for row in rows if label in row.scores]
    summary = summarise(values, seed, undefined=len(rows) - len(values))
    if not values:  # defined nowhere: nothing failed, there is just nothing to report
        summary["complete"] = True
    return summary


def aggregate(task: str, labels: Sequence[str], records: Sequence[SampleRecord], seed: int = 0,
              repeats: int = 1) -> dict[str, Any]:
    """metrics.json content: {"task", "metrics": {label: {...}}, "subsets": {subset: {label: {...}}}}.

    A subset with unscored samples (a sandbox error, a missing replay answer) has complete=false.
    Tasks that declare groups (MATH: subject, level) also get "groups": {name: {value: {label: ...}}};
    runs whose responses carry adapter traces also get the candidates' labels and "filter" quality.
    """
    traces = [json.loads(record.trace) for record in records if record.trace]
    present = {label for record in records for label in record.scores}
    labels = [*labels, *(label for label in derived_labels(labels) if label in present)]
    by_subset: dict[str, list[SampleRecord]] = defaultdict(list)
    by_group: dict[str, dict[str, list[SampleRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        by_subset[record.subset].append(record)
        for name, value in record.groups.items():
            by_group[name][value].append(record)
    result = {
        "task": task,
        "metrics": _table(records, labels, repeats, seed),
        "subsets": {subset: _table(rows, labels, repeats, seed) for subset, rows in sorted(by_subset.items())},
    }
    if by_group:
        result["groups"] = {name: {value: _table(rows, labels, repeats, seed) for value, rows in sorted(values.items())}
                            for name, values in by_group.items()}
    quality = filter_quality(traces, labels)
    if quality:
        result["filter"] = quality
    return result
