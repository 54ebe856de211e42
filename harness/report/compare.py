"""Two runs of one task, compared sample by sample: per-metric deltas with paired tests, and the flips.

Only samples present in both runs (same id and attempt) are compared, and only where the same
question was asked: a subset whose prompts differ on a shared sample (a changed template, a new
few-shot set) is flagged "prompt changed" and left out, because a delta there mixes the model's
change with the task's. A different task version is not compared at all; a different task content
hash with identical prompts (a README or comment edit) is only a warning, so it cannot block a
gate. A sample unscored (NaN) on either side is left out of the paired test and counted.

Every metric is taken as higher-is-better (accuracy, pass@k, similarity): a negative delta is a drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.errors import UsageError
from harness.report.runs import GROUP_PREFIX, PROMPT_HASH, RunInfo, load_run, scores_by_sample
from harness.report.significance import (CORRECTIONS, McNemar, PairedBootstrap, adjust, is_binary, mcnemar_exact,
                                         paired_bootstrap)

OVERALL = "all"


@dataclass(frozen=True)
class MetricComparison:
    """One metric on one scope (OVERALL or a subset): means over the pairs both runs scored, and the tests."""

    task: str
    label: str
    subset: str
    base: float | None
    new: float | None
    n: int
    unscored: int
    binary: bool
    bootstrap: PairedBootstrap | None
    mcnemar: McNemar | None
    p_adjusted: float | None = None
    significant: bool = False

    @property
    def delta_points(self) -> float | None:
        return None if self.base is None or self.new is None else 100 * (self.new - self.base)

    @property
    def p_value(self) -> float | None:
        """The deciding test's p: McNemar's for 0/1 scores, the paired bootstrap's otherwise."""
        if self.mcnemar is not None:
            return self.mcnemar.p_value
        return self.bootstrap.p_value if self.bootstrap is not None else None


@dataclass(frozen=True)
class ChangedSample:
    """A shared sample whose score differs (NaN, unscored, counts as a value of its own)."""

    label: str
    id: str
    subset: str
    attempt: int
    base: float
    new: float

    @property
    def regressed(self) -> bool:
        return bool(self.base > self.new) or (np.isnan(self.new) and not np.isnan(self.base))


@dataclass(frozen=True)
class RunComparison:
    """What `harness compare` reports; `problems` non-empty means the runs could not be compared."""

    base: RunInfo
    new: RunInfo
    rows: list[MetricComparison] = field(default_factory=list)
    changed: list[ChangedSample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    prompt_changed: list[str] = field(default_factory=list)
    shared: int = 0
    only_base: int = 0
    only_new: int = 0


def _comparability(base: RunInfo, new: RunInfo) -> tuple[list[str], list[str]]:
    """Problems that make the runs incomparable, and warnings that do not."""
    if base.task_key != new.task_key:
        return [f"different tasks: base {base.path} is {base.task_key!r}, new {new.path} is {new.task_key!r}"], []
    if base.task_version != new.task_version:
        return [f"{base.task_key}: task version changed ({base.task_version} -> {new.task_version}), so scores are "
                "not comparable; save a new baseline from a run of the new version (`harness baseline save`)"], []
    warnings = []
    if base.task_hash != new.task_hash:
        warnings.append(f"{base.task_key}: task files changed (content hash {base.task_hash[:12]} -> {new.task_hash[:12]}); "
                        "prompts are compared sample by sample below")
    return [], warnings


def shared_labels(base: RunInfo, new: RunInfo, wanted: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The metric labels both runs report (in the base's order), limited to `wanted`; and warnings."""
    base_labels, new_labels = list(base.metrics["metrics"]), set(new.metrics["metrics"])
    labels = [label for label in base_labels if label in new_labels]
    warnings = [f"{base.task_key}: metric {label} is only in the {side} run; not compared"
                for side, only in (("base", set(base_labels) - new_labels), ("new", new_labels - set(base_labels)))
                for label in sorted(only)]
    if wanted is None:
        return labels, warnings
    unknown = [label for label in wanted if label not in labels]
    if unknown:
        raise UsageError(f"--metric {', '.join(unknown)}: not reported by both runs; choose from {', '.join(labels)}")
    return [label for label in labels if label in wanted], []


def _pair(base: RunInfo, new: RunInfo, labels: Sequence[str], groups: Sequence[str] = ()) -> tuple[pa.Table, int, int]:
    """Samples of both runs joined on (id, attempt); the count of samples only in the base and only in the new run."""
    left, right = scores_by_sample(base, labels, groups), scores_by_sample(new, labels, groups)
    joined = left.join(right, keys=["id", "attempt"], join_type="inner", left_suffix="@base", right_suffix="@new")
    joined = joined.sort_by([("subset@base", "ascending"), ("id", "ascending"), ("attempt", "ascending")])
    return joined, left.num_rows - joined.num_rows, right.num_rows - joined.num_rows


def _scores(joined: pa.Table, label: str, side: str) -> np.ndarray:
    """A label's scores as floats; absent (null) counts as unscored (NaN)."""
    return pc.fill_null(joined[f"{label}@{side}"], np.nan).to_numpy(zero_copy_only=False).astype(float)


def _compare_scope(task: str, label: str, subset: str, base: np.ndarray, new: np.ndarray, seed: int) -> MetricComparison:
    scored = ~(np.isnan(base) | np.isnan(new))
    base, new, unscored = base[scored], new[scored], int(scored.size - np.count_nonzero(scored))
    if base.size == 0:
        return MetricComparison(task, label, subset, None, None, 0, unscored, False, None, None)
    binary = is_binary(base, new)
    return MetricComparison(
        task, label, subset, float(base.mean()), float(new.mean()), int(base.size), unscored, binary,
        paired_bootstrap(base, new, seed=seed), mcnemar_exact(base, new) if binary else None,
    )


def _changed_samples(joined: pa.Table, label: str, base: np.ndarray, new: np.ndarray,
                     keep: np.ndarray) -> list[ChangedSample]:
    same = (base == new) | (np.isnan(base) & np.isnan(new))
    rows = np.flatnonzero(keep & ~same)
    ids, subsets, attempts = (joined[column].take(pa.array(rows)).to_pylist() for column in ("id", "subset@base", "attempt"))
    return [ChangedSample(label, ids[i], subsets[i], attempts[i], float(base[row]), float(new[row]))
            for i, row in enumerate(rows)]


def shared_groups(base: RunInfo, new: RunInfo) -> list[str]:
    """Groups both runs report in metrics.json (MATH's level and subject, MMLU's subjects)."""
    return sorted(set(base.metrics.get("groups", {})) & set(new.metrics.get("groups", {})))


def compare_runs(base: RunInfo, new: RunInfo, labels: Sequence[str] | None = None, seed: int = 0,
                 by_group: bool = False) -> RunComparison:
    """Paired per-metric comparison of `new` against `base`, per subset and, when there are several, overall;
    with `by_group`, also per value of each group both runs report (scope `level=Level 5`).

    With one comparable subset the overall row would repeat it, and count twice in the correction.
    """
    problems, warnings = _comparability(base, new)
    if problems:
        return RunComparison(base, new, problems=problems)
    chosen, label_warnings = shared_labels(base, new, labels)
    groups = shared_groups(base, new) if by_group else []
    joined, only_base, only_new = _pair(base, new, chosen, groups)
    result = RunComparison(base, new, warnings=warnings + label_warnings, shared=joined.num_rows,
                           only_base=only_base, only_new=only_new)
    if joined.num_rows == 0:
        result.problems.append(f"{base.task_key}: no shared samples (id and attempt) between {base.path} and {new.path}; "
                               "compare runs over the same data")
        return result
    if only_base or only_new:
        result.warnings.append(f"{base.task_key}: {only_base} samples only in the base run and {only_new} only in the "
                               f"new run; compared on the {joined.num_rows} shared")
    subsets = np.asarray(joined["subset@base"].to_pylist(), dtype=object)
    differs = pc.not_equal(joined[f"{PROMPT_HASH}@base"], joined[f"{PROMPT_HASH}@new"]).to_numpy(zero_copy_only=False)
    result.prompt_changed.extend(sorted(set(subsets[differs])))
    comparable = ~np.isin(subsets, result.prompt_changed)
    scopes = sorted(set(subsets[comparable]))
    for label in chosen:
        base_scores, new_scores = _scores(joined, label, "base"), _scores(joined, label, "new")
        if joined[f"{label}@base"].null_count == joined.num_rows or joined[f"{label}@new"].null_count == joined.num_rows:
            result.warnings.append(f"{base.task_key}: {label} has no per-sample scores (it is derived from several); "
                                   "not compared sample by sample")
            continue
        if len(scopes) > 1:
            result.rows.append(_compare_scope(base.task_key, label, OVERALL, base_scores[comparable], new_scores[comparable], seed))
        for subset in scopes:
            mask = subsets == subset
            result.rows.append(_compare_scope(base.task_key, label, subset, base_scores[mask], new_scores[mask], seed))
        for group in groups:
            values = np.asarray(joined[f"{GROUP_PREFIX}{group}@base"].to_pylist(), dtype=object)
            for value in sorted({value for value in values[comparable] if value is not None}):
                mask = comparable & (values == value)
                result.rows.append(_compare_scope(base.task_key, label, f"{group}={value}", base_scores[mask],
                                                  new_scores[mask], seed))
        result.changed.extend(_changed_samples(joined, label, base_scores, new_scores, comparable))
    return result


def mark_significance(rows: Sequence[MetricComparison], alpha: float, correction: str) -> list[MetricComparison]:
    """Rows with adjusted p-values over the family of tested rows, and significant = adjusted p <= alpha.

    A row without scored pairs has no test; it keeps p_adjusted None and is never significant.
    """
    if correction not in CORRECTIONS:
        raise UsageError(f"--correction {correction!r}: use one of {', '.join(CORRECTIONS)}")
    tested = [index for index, row in enumerate(rows) if row.p_value is not None]
    adjusted = adjust([rows[index].p_value for index in tested], correction)  # type: ignore[misc]
    marked = list(rows)
    for index, p in zip(tested, adjusted):
        marked[index] = replace(rows[index], p_adjusted=p, significant=p <= alpha)
    return marked


def compare_paths(base: Path, new: Path, labels: Sequence[str] | None = None, alpha: float = 0.05,
                  correction: str = "holm", by_group: bool = True) -> RunComparison:
    """`harness compare`: load both runs, compare them (per group value too, unless `by_group` is off)
    and mark significance over all compared rows. The gate compares subsets only."""
    comparison = compare_runs(load_run(base), load_run(new), labels, by_group=by_group)
    return replace(comparison, rows=mark_significance(comparison.rows, alpha, correction))
