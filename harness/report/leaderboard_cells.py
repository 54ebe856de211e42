"""Leaderboard cells from sample scores: one Arrow group_by per run and metric, then arithmetic on per-subset sums.

Values come from samples.parquet rather than a run's own summary so that any subset selection
works the same way; for the metrics a run reports itself they equal metrics.json (tests pin it).
Intervals: a pooled cell over all of a run's subsets, or over exactly one, reuses metrics.json's
bootstrap interval; every other cell (subset means, pooled partial selections) gets a normal
approximation from the per-subset variances, and says which it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.report.leaderboard_spec import ColumnSpec
from harness.report.runs import RunInfo

Z95 = 1.959963984540054
BOOTSTRAP = "bootstrap"
NORMAL = "normal"
CI_METHODS = {
    BOOTSTRAP: "95% percentile bootstrap over samples (1,000 resamples), taken from the run's metrics.json",
    NORMAL: "95% normal approximation from sample variances: a mean over K subsets is ± 1.96·sqrt(Σ s²_k/n_k)/K "
            "(s²_k, n_k: variance and count of the scores in subset k); a pooled partial selection is ± 1.96·s/√n",
}


@dataclass(frozen=True)
class SubsetStats:
    """Sums over one subset's rows for one metric: enough for means and variances of any selection."""

    rows: int
    scored: int
    total: float
    squares: float
    unscored: int  # NaN score: no answer, sandbox error
    missing: int  # the metric is absent from the row

    @property
    def mean(self) -> float | None:
        return self.total / self.scored if self.scored else None

    @property
    def variance_of_mean(self) -> float | None:
        if self.scored < 2:
            return None
        variance = max(0.0, (self.squares - self.total * self.total / self.scored) / (self.scored - 1))
        return variance / self.scored


def lookup_score(scores: pa.ChunkedArray, label: str) -> pa.ChunkedArray:
    """`label`'s value in each row of a `scores` map column: null where absent, NaN where unscored.

    Equivalent to `pc.map_lookup(scores, label, "first")` (maps never repeat a key here) but several
    times faster: one vectorised comparison over the flat keys and a scatter to the parent rows.
    """
    chunks = []
    for chunk in scores.chunks:
        offsets = np.asarray(chunk.offsets)
        start, end = int(offsets[0]), int(offsets[-1])
        keys, items = chunk.keys.slice(start, end - start), chunk.items.slice(start, end - start)
        parents = np.repeat(np.arange(len(chunk)), np.diff(offsets))
        match = pc.equal(keys, label).to_numpy(zero_copy_only=False)
        values = np.full(len(chunk), np.nan)
        present = np.zeros(len(chunk), dtype=bool)
        values[parents[match]] = pc.cast(items, pa.float64()).to_numpy(zero_copy_only=False)[match]
        present[parents[match]] = True
        chunks.append(pa.array(values, mask=~present))
    return pa.chunked_array(chunks, pa.float64())


def subset_stats(subsets: pa.ChunkedArray, score: pa.ChunkedArray) -> dict[str, SubsetStats]:
    """Per-subset sums of one metric's scores (from `lookup_score`), computed with one Arrow group_by."""
    nan = pc.fill_null(pc.is_nan(score), False)
    scored = pc.if_else(nan, pa.scalar(None, pa.float64()), score)
    work = pa.table({"subset": subsets, "scored": scored, "square": pc.multiply(scored, scored),
                     "nan": nan, "missing": pc.is_null(score)})
    zero = pc.ScalarAggregateOptions(min_count=0)
    grouped = work.group_by("subset", use_threads=False).aggregate([
        ("scored", "sum", zero), ("scored", "count"), ("square", "sum", zero),
        ("nan", "sum", zero), ("missing", "sum", zero), ("missing", "count"),
    ])
    return {
        row["subset"]: SubsetStats(rows=row["missing_count"], scored=row["scored_count"], total=row["scored_sum"],
                                   squares=row["square_sum"], unscored=row["nan_sum"], missing=row["missing_sum"])
        for row in grouped.to_pylist()
    }


@dataclass(frozen=True)
class Cell:
    """One value with its interval, or n/a with the reason; `incomplete` when samples or subsets are missing."""

    status: str  # ok | incomplete | n/a
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str | None = None
    n: int = 0
    unscored: int = 0
    subsets: tuple[str, ...] = ()
    missing_subsets: tuple[str, ...] = ()
    reason: str = ""
    run: int | None = None  # index into the selection's runs

    def as_dict(self) -> dict[str, Any]:
        """JSON form; subsets as a count (leaderboard.json lists each column's subsets once), missing ones by name."""
        return {"status": self.status, "value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "ci_method": self.ci_method, "n": self.n, "unscored": self.unscored, "subsets": len(self.subsets),
                "missing_subsets": list(self.missing_subsets), "reason": self.reason, "run": self.run}


def not_available(reason: str, run: int | None = None, subsets: Sequence[str] = ()) -> Cell:
    return Cell(status="n/a", reason=reason, run=run, subsets=tuple(subsets))


def column_cell(column: ColumnSpec, run_index: int, run: RunInfo, stats: Mapping[str, SubsetStats],
                expected: set[str]) -> Cell:
    """The column's value for one run; `expected` is every subset (or group value) the column covers in some row."""
    if column.group is not None and not stats:
        return not_available(f"the run's samples carry no {column.group!r} group", run_index)
    if not stats or all(entry.missing == entry.rows for entry in stats.values()):
        return not_available(f"the run has no per-sample {column.metric!r} scores", run_index)
    selected = sorted(subset for subset in stats if column.selects(subset))
    if not selected:
        what = f"value of group {column.group!r}" if column.group else "subset"
        return not_available(f"no {what} of the run matches {', '.join(column.subsets)}", run_index)
    missing_subsets = tuple(sorted(expected - set(selected)))
    if column.aggregate == "subset_mean":
        return _subset_mean(run_index, [stats[subset] for subset in selected], selected, missing_subsets)
    return pooled_cell(run_index, run, column.metric, selected, stats, missing_subsets, column.group)


def headline_cell(column: ColumnSpec, run_index: int, run: RunInfo) -> Cell:
    """The task's own official score named `column.headline`, as its metrics.json summary reports it
    (RewardBench's weighted sections): no interval, since the task's formula reports none."""
    headline = (run.metrics.get("summary") or {}).get("headline") or {}
    if column.headline not in headline:
        return not_available(f"the run reports no official score {column.headline!r} "
                             f"(its summary.headline has: {', '.join(headline) or 'nothing'})", run_index)
    value = headline[column.headline]
    if value is None:
        return not_available(f"{column.headline!r} was not measured in this run (summary.headline is null)", run_index)
    n = int((run.metrics.get("metrics", {}).get(column.metric) or {}).get("n") or 0)
    return Cell(status="ok", value=float(value), n=n, run=run_index,
                reason="the task's official formula (metrics.json summary.headline); no interval")


def mean_cell(column_ids: Sequence[str], parts: Sequence[Cell]) -> Cell:
    """The unweighted mean of a row's cells in other columns; n/a when one of them is (a mean over
    fewer columns would not be the same number). Its interval combines theirs as independent
    normal errors, sqrt(sum of squared half-widths)/K, when every part has one."""
    missing = [column for column, cell in zip(column_ids, parts) if cell.value is None]
    if missing:
        return not_available(f"no value in {', '.join(missing)}, so the mean is not computable")
    value = sum(cell.value for cell in parts) / len(parts)  # type: ignore[misc]
    halves = [(cell.ci_high - cell.ci_low) / 2 for cell in parts if cell.ci_low is not None and cell.ci_high is not None]
    half = math.sqrt(sum(h * h for h in halves)) / len(parts) if len(halves) == len(parts) else None
    partial = [column for column, cell in zip(column_ids, parts) if cell.status == "incomplete"]
    return Cell(status="incomplete" if partial else "ok", value=value,
                ci_low=value - half if half is not None else None, ci_high=value + half if half is not None else None,
                ci_method=NORMAL if half is not None else None, n=sum(cell.n for cell in parts),
                unscored=sum(cell.unscored for cell in parts),
                reason=f"incomplete columns: {', '.join(partial)}" if partial else "")


def pooled_cell(run_index: int, run: RunInfo, label: str, selected: Sequence[str],
                stats: Mapping[str, SubsetStats], missing_subsets: tuple[str, ...] = (),
                group: str | None = None) -> Cell:
    """The mean over every scored sample of `selected` (subsets, or values of `group`);
    metrics.json's bootstrap CI where it has one."""
    chosen = [stats[subset] for subset in selected]
    scored = sum(entry.scored for entry in chosen)
    unscored = sum(entry.unscored + entry.missing for entry in chosen)
    if scored == 0:
        return not_available(f"no scored samples ({unscored} unscored)", run_index, selected)
    value = sum(entry.total for entry in chosen) / scored
    reported = _reported_entry(run, label, selected, set(stats), group)
    if reported is not None:
        low, high, method = reported["ci_low"], reported["ci_high"], BOOTSTRAP
    else:
        squares = sum(entry.squares for entry in chosen)
        variance = max(0.0, (squares - value * value * scored) / (scored - 1)) / scored if scored > 1 else None
        low, high = _normal_interval(value, variance)
        method = NORMAL
    return _finish(run_index, value, low, high, method, scored, unscored, tuple(selected), missing_subsets)


def _reported_entry(run: RunInfo, label: str, selected: Sequence[str], all_subsets: set[str],
                    group: str | None = None) -> Mapping[str, Any] | None:
    """metrics.json's entry for exactly this selection (the whole run, or one subset or group value), if it
    has an interval. All of a group's values need not be the whole run (a sample may lack the group)."""
    if group is not None:
        entry = run.metrics.get("groups", {}).get(group, {}).get(selected[0], {}).get(label) if len(selected) == 1 else None
    elif set(selected) == all_subsets:
        entry = run.metrics.get("metrics", {}).get(label)
    elif len(selected) == 1:
        entry = run.metrics.get("subsets", {}).get(selected[0], {}).get(label)
    else:
        entry = None
    return entry if entry and entry.get("ci_low") is not None and entry.get("ci_high") is not None else None


def _subset_mean(run_index: int, chosen: Sequence[SubsetStats], selected: Sequence[str],
                 missing_subsets: tuple[str, ...]) -> Cell:
    """Unweighted mean of subset means, in subset order (the order a task's own summary adds them in)."""
    unscored = sum(entry.unscored + entry.missing for entry in chosen)
    empty = [subset for subset, entry in zip(selected, chosen) if entry.mean is None]
    if empty:
        return not_available(f"subset {', '.join(empty)} has no scored samples, so the mean over subsets is undefined",
                             run_index, selected)
    means = [entry.mean for entry in chosen]
    value = sum(means) / len(means)  # type: ignore[arg-type]
    variances = [entry.variance_of_mean for entry in chosen]
    variance = None if None in variances else sum(variances) / len(variances) ** 2  # type: ignore[arg-type]
    low, high = _normal_interval(value, variance)
    scored = sum(entry.scored for entry in chosen)
    return _finish(run_index, value, low, high, NORMAL, scored, unscored, tuple(selected), missing_subsets)


def _normal_interval(value: float, variance: float | None) -> tuple[float | None, float | None]:
    if variance is None:
        return None, None
    half = Z95 * math.sqrt(variance)
    return value - half, value + half


def _finish(run_index: int, value: float, low: float | None, high: float | None, method: str, scored: int,
            unscored: int, selected: tuple[str, ...], missing_subsets: tuple[str, ...]) -> Cell:
    problems = []
    if unscored:
        problems.append(f"{unscored} unscored samples (no answer or sandbox error)")
    if missing_subsets:
        problems.append(f"missing subsets: {', '.join(missing_subsets)}")
    return Cell(status="incomplete" if problems else "ok", value=value, ci_low=low, ci_high=high,
                ci_method=method if low is not None else None, n=scored, unscored=unscored, subsets=selected,
                missing_subsets=missing_subsets, reason="; ".join(problems), run=run_index)
