"""The regression gate: did the candidate get worse than the baseline, beyond noise?

A gated metric fails when it drops by more than `max_drop` points AND the drop is significant
after correcting for the number of comparisons: the threshold alone would fire on noise in small
subsets, the test alone would fire on tiny but real drops in large ones. Exit codes follow the CLI
convention: 0 pass, 1 regression (or, with `fail_on_change`, any change at all), 2 unusable input.

Baseline and candidate are each one run directory or a folder of runs (matched by task); every
task must be on both sides, since a task that silently vanished from the candidate is not a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from harness.errors import UsageError
from harness.report.compare import MetricComparison, RunComparison, compare_runs, mark_significance, shared_labels
from harness.report.runs import RunInfo, find_runs, load_run
from harness.report.significance import CORRECTIONS
from harness.store.run_dir import MANIFEST

PASS, REGRESSION, UNUSABLE = 0, 1, 2
# metrics.json fields compared by --fail-on-change. Interval bounds are left out: the bootstrap
# draws follow record order, which a runner change may alter without changing any score.
COMPARED_FIELDS = ("value", "n", "unscored", "complete", "languages", "common_ids")


@dataclass(frozen=True)
class GateSettings:
    max_drop: float
    alpha: float
    correction: str
    fail_on_change: bool


@dataclass(frozen=True)
class GateResult:
    """The verdict and everything the summary shows; `rows` are the gated comparisons, significance marked."""

    exit_code: int
    verdict: str
    settings: GateSettings
    comparisons: list[RunComparison] = field(default_factory=list)
    rows: list[MetricComparison] = field(default_factory=list)
    failures: list[MetricComparison] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _runs_in(path: Path, side: str) -> dict[str, RunInfo]:
    """The runs at `path` (one run directory, or a folder of them) by task; unfinished or duplicate ones are errors."""
    if not path.exists():
        raise UsageError(f"--{side} {path} does not exist")
    if (path / MANIFEST).is_file():
        run = load_run(path)
        return {run.task_key: run}
    runs, skipped = find_runs([path])
    if skipped:
        raise UsageError(f"--{side} {path}: {len(skipped)} run(s) not usable, e.g. {skipped[0][1]}")
    if not runs:
        raise UsageError(f"--{side} {path} holds no run directories (no {MANIFEST} below it)")
    by_task: dict[str, RunInfo] = {}
    for run in runs:
        if run.task_key in by_task:
            raise UsageError(f"--{side} {path} holds two runs of {run.task_key} ({by_task[run.task_key].path} and "
                             f"{run.path}); keep one per task")
        by_task[run.task_key] = run
    return by_task


def match_runs(baseline: Path, candidate: Path) -> list[tuple[RunInfo, RunInfo]]:
    """(baseline run, candidate run) per task; a single run on each side is paired whatever its task."""
    base_runs, new_runs = _runs_in(baseline, "baseline"), _runs_in(candidate, "candidate")
    if len(base_runs) == 1 and len(new_runs) == 1:
        return [(next(iter(base_runs.values())), next(iter(new_runs.values())))]
    missing = [f"{task} has no {side} run" for side, ours, theirs in
               (("candidate", base_runs, new_runs), ("baseline", new_runs, base_runs)) for task in ours if task not in theirs]
    if missing:
        raise UsageError(f"tasks do not match between --baseline {baseline} and --candidate {candidate}: "
                         f"{'; '.join(missing)}")
    return [(base_runs[task], new_runs[task]) for task in sorted(base_runs)]


def _leaves(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif path.rsplit(".", 1)[-1] in COMPARED_FIELDS:
        yield path, data


def _same(left: Any, right: Any) -> bool:
    both_nan = isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right)
    return both_nan or left == right


def metric_value_changes(base: RunInfo, new: RunInfo) -> list[str]:
    """Every metrics.json value, n or count that differs between the runs, or exists on one side only."""
    left, right = dict(_leaves(base.metrics)), dict(_leaves(new.metrics))
    return [f"{base.task_key}: metrics.json {key}: {left.get(key, 'absent')} -> {right.get(key, 'absent')}"
            for key in sorted(left.keys() | right.keys()) if key not in left or key not in right
            or not _same(left[key], right[key])]


def _changes(comparison: RunComparison) -> list[str]:
    """What --fail-on-change counts: changed scores, prompts, sample sets and metric values."""
    task = comparison.base.task_key
    changes = metric_value_changes(comparison.base, comparison.new)
    changes += [f"{task}: prompts changed in subset {subset}" for subset in comparison.prompt_changed]
    if comparison.only_base or comparison.only_new:
        changes.append(f"{task}: {comparison.only_base} samples only in the baseline, {comparison.only_new} only in the candidate")
    return changes + [f"{task}: {sample.label} {sample.subset} {sample.id} (attempt {sample.attempt}): "
                      f"{sample.base:g} -> {sample.new:g}" for sample in comparison.changed]


def _verdict(failures: Sequence[MetricComparison], changes: Sequence[str], fail_on_change: bool) -> tuple[int, str]:
    if failures:
        scopes = ", ".join(sorted({f"{row.task} {row.subset}" for row in failures}))
        return REGRESSION, f"FAIL: significant regression in {len(failures)} gated metric(s) ({scopes})"
    if fail_on_change and changes:
        return REGRESSION, f"FAIL: {len(changes)} change(s) against the baseline (--fail-on-change)"
    if fail_on_change:
        return PASS, "PASS: identical to the baseline (no score or metric value changed)"
    return PASS, "PASS: no gated metric dropped significantly by more than the allowed points"


def _check_settings(settings: GateSettings) -> None:
    if settings.correction not in CORRECTIONS:
        raise UsageError(f"--correction {settings.correction!r}: use one of {', '.join(CORRECTIONS)}")
    if not 0 < settings.alpha < 1:
        raise UsageError(f"--alpha {settings.alpha}: give a significance level between 0 and 1, e.g. 0.05")
    if settings.max_drop < 0:
        raise UsageError(f"--max-drop {settings.max_drop}: give the allowed drop in points as a number >= 0, e.g. 1.0")


def _compare_all(pairs: Sequence[tuple[RunInfo, RunInfo]], metrics: Sequence[str] | None) -> list[RunComparison]:
    """One comparison per task, each limited to the requested metrics that task reports."""
    comparisons, found = [], set()
    for base, new in pairs:
        labels = None
        if metrics is not None:
            available, _ = shared_labels(base, new, None)
            labels = [label for label in metrics if label in available]
            found.update(labels)
        comparisons.append(compare_runs(base, new, labels))
    unknown = [label for label in metrics or () if label not in found]
    if unknown:
        raise UsageError(f"--metric {', '.join(unknown)}: no compared task reports it; see `harness show` for the labels")
    return comparisons


def gate(baseline: Path, candidate: Path, max_drop: float, alpha: float, metrics: Sequence[str] | None = None,
         correction: str = "holm", fail_on_change: bool = False) -> GateResult:
    """Gate `candidate` against `baseline`; unusable input gives exit code 2 with the reason, not an exception."""
    settings = GateSettings(max_drop, alpha, correction, fail_on_change)
    try:
        _check_settings(settings)
        comparisons = _compare_all(match_runs(baseline, candidate), metrics)
    except UsageError as error:
        return GateResult(UNUSABLE, f"UNUSABLE INPUT: {error}", settings, problems=[str(error)])
    problems = [problem for comparison in comparisons for problem in comparison.problems]
    rows = mark_significance([row for comparison in comparisons for row in comparison.rows], alpha, correction)
    if not problems and not any(row.p_value is not None for row in rows):
        problems.append("nothing to compare: no shared, scored samples outside prompt-changed subsets")
    if problems:
        return GateResult(UNUSABLE, f"UNUSABLE INPUT: {problems[0]}", settings, comparisons, rows, problems=problems)
    failures = [row for row in rows if row.significant and row.delta_points is not None and row.delta_points < -max_drop]
    changes = [change for comparison in comparisons for change in _changes(comparison)]
    code, verdict = _verdict(failures, changes, fail_on_change)
    return GateResult(code, verdict, settings, comparisons, rows, failures, changes)
