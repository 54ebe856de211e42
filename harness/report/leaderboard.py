"""`harness leaderboard build`: finished runs in; leaderboard.md, leaderboard.json, index.html and run pages out.

Each eligible run's samples.parquet is read once: Arrow sums its scores per subset (for every
metric a column needs) and picks the rows of its run page; nothing per sample becomes a Python
object except the capped rows a page shows. Cells are then arithmetic on those per-subset sums.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pyarrow.parquet as pq

from harness.errors import UsageError
from harness.report.leaderboard_cells import (Cell, SubsetStats, column_cell, headline_cell, mean_cell, not_available,
                                              pooled_cell)
from harness.report.leaderboard_pages import run_slug
from harness.report.leaderboard_read import RunJob, read_runs
from harness.report.leaderboard_render import write_outputs
from harness.report.leaderboard_select import Row, Selection, select_runs
from harness.report.leaderboard_spec import ColumnSpec, HeatmapSpec, LeaderboardSpec, load_leaderboard_spec, resolve_spec_path
from harness.report.runs import RunInfo, find_runs
from harness.progress import Progress, SilentProgress

DEFAULT_MAX_SAMPLES = 500
StatsKey = tuple[int, str, str | None]  # (run index, metric label, group or None for subsets)


@dataclass(frozen=True)
class RowResult:
    row: Row
    rank: int
    cells: dict[str, Cell]


@dataclass(frozen=True)
class HeatmapResult:
    spec: HeatmapSpec
    panels: list[str]  # [""] when the view has no panels
    xs: list[str]
    cells: dict[tuple[str, str, str], Cell]  # (row key, panel, x)


@dataclass
class Leaderboard:
    spec: LeaderboardSpec
    selection: Selection
    slugs: list[str]  # run page name per run in selection.runs
    column_subsets: dict[str, list[str]] = field(default_factory=dict)  # column id -> every subset it covers in some row
    rows: list[RowResult] = field(default_factory=list)
    heatmaps: list[HeatmapResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BuildResult:
    leaderboard: Leaderboard
    outputs: list[Path]
    run_pages: Path

    def summary(self) -> str:
        """What the CLI prints: runs used and left out, warnings, files written."""
        board = self.leaderboard
        selection = board.selection
        lines = [f"{board.spec.name}: {len(board.rows)} rows from {len(selection.runs)} runs; "
                 f"{len(selection.excluded)} excluded, {selection.ignored} of other tasks ignored"]
        lines += [f"  excluded {item.path}: {item.reason}" for item in selection.excluded[:20]]
        if len(selection.excluded) > 20:
            lines.append(f"  ... and {len(selection.excluded) - 20} more (all listed in leaderboard.json)")
        lines += [f"  warning: {warning}" for warning in board.warnings]
        lines += [f"wrote {path}" for path in self.outputs]
        lines.append(f"wrote {len(selection.runs)} run pages under {self.run_pages}")
        return "\n".join(lines)


def build_leaderboard(spec_path: Path, runs_dirs: Sequence[Path], out_dir: Path,
                      max_samples: int = DEFAULT_MAX_SAMPLES, progress: Progress | None = None) -> BuildResult:
    """Read the runs under `runs_dirs`, compute the leaderboard `spec_path` declares, write it to `out_dir`."""
    if max_samples < 1:
        raise UsageError(f"--max-samples {max_samples}: give a positive number of samples per run page")
    if not runs_dirs:
        raise UsageError("give at least one --runs folder holding run directories")
    spec = load_leaderboard_spec(resolve_spec_path(spec_path))
    found, skipped = find_runs(runs_dirs)
    selection = select_runs(spec, found, skipped)
    board = Leaderboard(spec=spec, selection=selection, slugs=[run_slug(run) for run in selection.runs])
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    labels = _labels_by_task(spec)
    groups = {task: tuple(sorted({column.group for column in spec.columns if column.task == task and column.group}))
              for task in spec.tasks()}
    jobs = [RunJob(index, run, tuple(labels[run.task]), out_dir / "runs" / f"{board.slugs[index]}.html", spec.title,
                   max_samples, groups[run.task]) for index, run in enumerate(selection.runs)]
    stats: dict[StatsKey, Mapping[str, SubsetStats]] = {}
    progress = progress or SilentProgress()
    progress.start(sum(_row_count(run) for run in selection.runs), 0)
    try:
        for result in read_runs(jobs, progress.advance):
            stats.update({(result.index, label, group): sums for (label, group), sums in result.stats.items()})
    finally:
        progress.stop()
    _fill_cells(board, stats)
    return BuildResult(board, write_outputs(board, out_dir), out_dir / "runs")


def _labels_by_task(spec: LeaderboardSpec) -> dict[str, list[str]]:
    """Metric labels each task's runs need, the first column's first: it decides what a run page calls a failure."""
    labels: dict[str, list[str]] = defaultdict(list)
    for column in (column for column in spec.columns if not column.mean_of):
        if column.metric not in labels[column.task]:
            labels[column.task].append(column.metric)
    return labels


def _row_count(run: RunInfo) -> int:
    count = run.manifest.get("n_records")
    return int(count) if isinstance(count, int) else pq.ParquetFile(run.samples_path).metadata.num_rows


def _fill_cells(board: Leaderboard, stats: Mapping[StatsKey, Mapping[str, SubsetStats]]) -> None:
    """Every column's cells, rows sorted by the spec's column (n/a last), then the heatmaps."""
    spec, selection = board.spec, board.selection
    cells: dict[str, dict[str, Cell]] = {row.key: {} for row in selection.rows}
    for column in spec.columns:
        if column.mean_of:  # declared after the columns it averages, so those are filled
            for row in selection.rows:
                cells[row.key][column.id] = mean_cell(column.mean_of, [cells[row.key][part] for part in column.mean_of])
            continue
        for row_key, cell in _column_cells(board, column, stats).items():
            cells[row_key][column.id] = cell
    board.warnings += [f"no eligible run of task {task!r}: its columns are n/a" for task in selection.tasks_without_runs]
    board.rows = _sorted_rows(spec, selection.rows, cells)
    board.heatmaps = [_heatmap(view, board, stats) for view in spec.heatmaps]


def _column_cells(board: Leaderboard, column: ColumnSpec, stats: Mapping[StatsKey, Mapping[str, SubsetStats]]) -> dict[str, Cell]:
    """One column's cell per row; records the subsets (or group values) it covers, warns when none matches."""
    selection = board.selection
    covering = [index for index, run in enumerate(selection.runs) if run.task == column.task]
    expected = set(column.named_subsets())
    if column.headline is None:
        for index in covering:
            expected.update(subset for subset in stats[(index, column.metric, column.group)] if column.selects(subset))
        if covering and not expected:
            what = f"values of group {column.group!r}" if column.group else "subsets"
            board.warnings.append(f"column {column.id!r}: {what} {', '.join(column.subsets) or 'all'} match no "
                                  f"{'value' if column.group else 'subset'} of any run")
    board.column_subsets[column.id] = sorted(expected)
    cells = {}
    for row in selection.rows:
        index = row.runs.get(column.task)
        if index is None:
            cells[row.key] = not_available(f"no eligible {column.task} run for this row")
        elif column.headline is not None:
            cells[row.key] = headline_cell(column, index, selection.runs[index])
        else:
            cells[row.key] = column_cell(column, index, selection.runs[index], stats[(index, column.metric, column.group)],
                                         expected)
    return cells


def _sorted_rows(spec: LeaderboardSpec, rows: Sequence[Row], cells: dict[str, dict[str, Cell]]) -> list[RowResult]:
    sign = -1.0 if spec.sort_order == "descending" else 1.0

    def key(row: Row) -> tuple[bool, float, str]:
        value = cells[row.key][spec.sort_column].value
        return value is None, sign * value if value is not None else 0.0, row.key

    ordered = sorted(rows, key=key)
    return [RowResult(row=row, rank=rank, cells=cells[row.key]) for rank, row in enumerate(ordered, start=1)]


def _heatmap(view: HeatmapSpec, board: Leaderboard, stats: Mapping[StatsKey, Mapping[str, SubsetStats]]) -> HeatmapResult:
    """One cell per (row, panel, x): the subset's own mean, with metrics.json's interval for that subset."""
    column = board.spec.column(view.column)
    cells: dict[tuple[str, str, str], Cell] = {}
    panels: set[str] = set()
    xs: set[str] = set()
    for result in board.rows:
        index = result.row.runs.get(column.task)
        if index is None:
            continue
        run_stats = stats[(index, column.metric, column.group)]
        for subset in (subset for subset in run_stats if column.selects(subset)):
            parts = view.fields(subset)
            if parts is None:
                continue
            panel, x = parts[view.panels] if view.panels else "", parts[view.x]
            panels.add(panel)
            xs.add(x)
            cells[(result.row.key, panel, x)] = pooled_cell(index, board.selection.runs[index], column.metric,
                                                           [subset], run_stats, group=column.group)
    if any(column.task in result.row.runs for result in board.rows) and not cells:
        board.warnings.append(f"heatmap {view.title!r}: no subset matches {view.subset_name!r}")
    return HeatmapResult(spec=view, panels=sorted(panels), xs=sorted(xs), cells=cells)
