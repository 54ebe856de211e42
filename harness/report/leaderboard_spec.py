"""Leaderboard specs: `leaderboards/<name>.yaml` parsed into frozen, validated dataclasses.

A leaderboard is data, like a task: which task, metric and subsets make each column, how the
subsets aggregate, the sort order, which runs are eligible and which extra views to draw. It is
validated strictly (file, line and key in every error) because a misspelt subset pattern or
metric would otherwise show up as a column of n/a cells, or worse, a silently different average.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Mapping

from harness.assets import asset_dir
from harness.errors import UsageError
from harness.spec_checker import SpecChecker
from harness.task_folders import task_folders
from harness.yaml_lines import load_yaml_with_lines

TOP_LEVEL_KEYS = {"name", "title", "description", "columns", "sort", "eligibility", "views"}
COLUMN_KEYS = {"id", "label", "task", "metric", "subsets", "aggregate", "group", "headline", "mean_of"}
MEAN_OF = "mean_of"
SORT_KEYS = {"column", "order"}
ELIGIBILITY_KEYS = {"runs", "task_versions", "num_fewshot"}
HEATMAP_KEYS = {"type", "title", "column", "subset_name", "x", "panels"}
AGGREGATES = {"pooled", "subset_mean"}
RUN_POLICIES = {"latest", "all"}
ORDERS = {"descending", "ascending"}
VIEW_TYPES = {"heatmap"}
IDENTIFIER = re.compile(r"[A-Za-z0-9_-]+")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ColumnSpec:
    """One column: a task's metric over a selection of its subsets, aggregated one way.

    With `group`, the selection is over that group's values instead of subsets (MATH's `level`,
    MMLU's subjects): `subsets` then holds patterns of group values. With `headline`, the cell is
    the task's own official score of that name (metrics.json `summary.headline`: RewardBench's
    sections), which no per-sample mean equals; `metric` then only picks a run page's failures.
    With `mean_of`, the cell is the unweighted mean of other columns' cells in the row (the Open
    LLM Leaderboard's Average); such a column has no task or metric of its own.
    """

    id: str
    label: str
    task: str
    metric: str
    subsets: tuple[str, ...]  # shell-style patterns (`*.input`); empty selects every subset of the run
    aggregate: str  # pooled: the mean over all selected samples; subset_mean: the unweighted mean of subset means
    group: str | None = None
    headline: str | None = None
    mean_of: tuple[str, ...] = ()

    def selects(self, subset: str) -> bool:
        return not self.subsets or _matches(self.subsets, subset)

    def named_subsets(self) -> tuple[str, ...]:
        """Subsets named literally (no wildcard): a run without one of them covers the column only partly."""
        return tuple(pattern for pattern in self.subsets if not any(char in pattern for char in "*?["))


@functools.lru_cache(maxsize=65536)
def _matches(patterns: tuple[str, ...], subset: str) -> bool:
    """Cached: a build asks this for every subset of every run, for each column."""
    return any(fnmatchcase(subset, pattern) for pattern in patterns)


@dataclass(frozen=True)
class HeatmapSpec:
    """A grid per panel: rows are the leaderboard's rows, columns are a field parsed from the subset name.

    `subset_name: "{language}.{subtask}"` with `x: language` and `panels: subtask` gives, for
    CRUXEval-X, one models × languages grid for input and one for output.
    """

    title: str
    column: str
    subset_name: str
    x: str
    panels: str | None
    pattern: re.Pattern[str] = field(compare=False)

    def fields(self, subset: str) -> dict[str, str] | None:
        """The named parts of `subset`, or None when the subset does not have the declared shape."""
        match = self.pattern.fullmatch(subset)
        return match.groupdict() if match else None


@dataclass(frozen=True)
class LeaderboardSpec:
    name: str
    title: str
    description: str
    path: Path
    columns: tuple[ColumnSpec, ...]
    sort_column: str
    sort_order: str
    runs: str  # latest: the newest eligible run per model and task; all: every eligible run is a row
    task_versions: Mapping[str, str]  # task -> required version; unlisted tasks use their newest run's version
    heatmaps: tuple[HeatmapSpec, ...] = ()
    num_fewshot: Mapping[str, int] = field(default_factory=dict)  # task -> required shot count; unlisted: any

    def column(self, column_id: str) -> ColumnSpec:
        return next(column for column in self.columns if column.id == column_id)

    def tasks(self) -> list[str]:
        return sorted({column.task for column in self.columns if not column.mean_of})


def resolve_spec_path(spec: Path) -> Path:
    """A path to a yaml file, or the bare name of a built-in leaderboard (`main` -> leaderboards/main.yaml)."""
    if spec.is_file():
        return spec
    builtin = asset_dir("leaderboards") / f"{spec.name}.yaml"
    if spec.suffix == "" and len(spec.parts) == 1 and builtin.is_file():
        return builtin
    known = sorted(path.stem for path in asset_dir("leaderboards").glob("*.yaml"))
    raise UsageError(f"leaderboard spec {spec} not found; pass a yaml file or a built-in name ({', '.join(known)})")


def load_leaderboard_spec(path: Path) -> LeaderboardSpec:
    """Parse and validate a leaderboard yaml; every error names the file, line and key."""
    raw = load_yaml_with_lines(path)
    check = SpecChecker(path)
    check.known_keys(raw, TOP_LEVEL_KEYS, "leaderboard")
    name = check.require(raw, "name", str, "leaderboard")
    columns = _build_columns(raw, check)
    sort_column, sort_order = _build_sort(raw, check, columns)
    eligibility = check.typed(raw, "eligibility", dict) or {}
    check.known_keys(eligibility, ELIGIBILITY_KEYS, "eligibility")
    versions = check.typed(eligibility, "task_versions", dict) or {}
    for task, version in versions.items():
        if not isinstance(version, str):
            check.fail(versions, task, f"a task version is a quoted string like \"1.0\" (YAML reads 1.10 as 1.1), got {version!r}")
        if task not in {column.task for column in columns}:
            check.fail(versions, task, f"task {task!r} has no column in this leaderboard")
    return LeaderboardSpec(
        name=name,
        title=check.typed(raw, "title", str) or name,
        description=check.typed(raw, "description", str, ""),
        path=path,
        columns=columns,
        sort_column=sort_column,
        sort_order=sort_order,
        runs=check.choice(eligibility, "runs", RUN_POLICIES, "latest"),
        task_versions={str(task): version for task, version in versions.items()},
        heatmaps=_build_views(raw, check, columns),
        num_fewshot=_shot_pins(eligibility, check, columns),
    )


def _shot_pins(eligibility: Any, check: SpecChecker, columns: tuple[ColumnSpec, ...]) -> dict[str, int]:
    """`num_fewshot: {task: N}`: only runs with N few-shot examples are compared (ARC at 25 shots
    and at 0 are different measurements of one task)."""
    pins = check.typed(eligibility, "num_fewshot", dict) or {}
    for task, shots in pins.items():
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
            check.fail(pins, task, f"a shot count is a whole number of examples (0 or more), got {shots!r}")
        if task not in {column.task for column in columns}:
            check.fail(pins, task, f"task {task!r} has no column in this leaderboard")
    return {str(task): shots for task, shots in pins.items()}


def _build_columns(raw: Any, check: SpecChecker) -> tuple[ColumnSpec, ...]:
    items = check.require(raw, "columns", list, "leaderboard")
    if not items:
        check.fail(raw, "columns", "declare at least one column")
    columns: list[ColumnSpec] = []
    for item in items:
        check.known_keys(item, COLUMN_KEYS, "columns entry")
        column_id = check.require(item, "id", str, "columns entry")
        if not IDENTIFIER.fullmatch(column_id):
            check.fail(item, "id", f"{column_id!r}: use letters, digits, '-' and '_' (it names the column in sort and views)")
        if any(column.id == column_id for column in columns):
            check.fail(item, "id", f"column id {column_id!r} is used twice")
        if MEAN_OF in item:
            columns.append(_mean_column(item, check, column_id, columns))
            continue
        task = check.require(item, "task", str, f"column {column_id!r}")
        metric = check.require(item, "metric", str, f"column {column_id!r}")
        _check_metric(item, check, task, metric)
        aggregate = check.choice(item, "aggregate", AGGREGATES, "pooled")
        subsets = _subset_patterns(item, check)
        group, headline = _group_or_headline(item, check, task)
        columns.append(ColumnSpec(
            id=column_id,
            label=check.typed(item, "label", str) or f"{task} {headline or metric}",
            task=task, metric=metric, subsets=subsets, aggregate=aggregate, group=group, headline=headline,
        ))
    return tuple(columns)


def _mean_column(item: Any, check: SpecChecker, column_id: str, earlier: list[ColumnSpec]) -> ColumnSpec:
    """`mean_of: [ids]`: the mean of columns declared above it, each counting once."""
    for key in ("task", "metric", "subsets", "aggregate", "group", "headline"):
        if key in item:
            check.fail(item, key, "a mean_of column averages other columns; it has no task, metric or selection of its own")
    ids = check.typed(item, MEAN_OF, list)
    known = {column.id: column for column in earlier}
    if not ids or not all(isinstance(entry, str) for entry in ids) or len(set(ids)) != len(ids):
        check.fail(item, MEAN_OF, f"expected a list of distinct column ids declared above, got {ids!r}")
    for entry in ids:
        if entry not in known or known[entry].mean_of:
            check.fail(item, MEAN_OF, f"{entry!r} is not a task column declared above; ids: "
                                      f"{', '.join(column.id for column in earlier if not column.mean_of)}")
    return ColumnSpec(id=column_id, label=check.typed(item, "label", str) or f"mean of {', '.join(ids)}", task="",
                      metric="", subsets=(), aggregate=MEAN_OF, mean_of=tuple(ids))


def _group_or_headline(item: Any, check: SpecChecker, task: str) -> tuple[str | None, str | None]:
    """A column's `group` (checked against an installed task's groups) or `headline`; a headline
    is one number already, so it takes no subsets, group or aggregate."""
    group = check.typed(item, "group", str)
    headline = check.typed(item, "headline", str)
    if headline is not None:
        for key in ("group", "subsets", "aggregate"):
            if key in item:
                check.fail(item, key, "a headline column shows the task's own score as reported; drop this key")
    groups = _installed_groups(task)
    if group is not None and groups is not None and group not in groups:
        check.fail(item, "group", f"task {task!r} has no group {group!r}; its groups: {', '.join(sorted(groups)) or 'none'}")
    return group, headline


def _subset_patterns(item: Any, check: SpecChecker) -> tuple[str, ...]:
    """`subsets: all` (the default) or a list of subset names and shell-style patterns."""
    value = item.get("subsets", "all")
    if value == "all":
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(entry, str) and entry for entry in value):
        check.fail(item, "subsets", f"expected `all` or a non-empty list of subset names or patterns like '*.input', got {value!r}")
    return tuple(value)


def _check_metric(item: Any, check: SpecChecker, task: str, metric: str) -> None:
    """An installed task's metric must be one it reports per sample; tasks from elsewhere are checked against runs."""
    labels = _installed_metric_labels(task)
    if labels is not None and metric not in labels:
        check.fail(item, "metric", f"task {task!r} has no per-sample metric {metric!r}; known: {', '.join(sorted(labels))}")


@functools.cache
def _installed_metric_labels(task: str) -> frozenset[str] | None:
    """Per-sample metric labels of an installed task over all its variants; None for a task defined elsewhere.

    The task engine is imported here, not at module level, so reading runs and rendering a
    leaderboard never load it; only validating a column against a known task does.
    """
    folder = _installed_task_folders().get(task)
    if folder is None:
        return None
    from harness.tasks.spec import load_task_spec

    default = load_task_spec(folder / "task.yaml")
    labels = set(default.metric_labels())
    for variant in default.variants:
        if variant != default.variant:
            labels.update(load_task_spec(folder / "task.yaml", variant).metric_labels())
    return frozenset(labels)


@functools.cache
def _installed_groups(task: str) -> frozenset[str] | None:
    """Group names an installed task declares (over all its variants); None for a task defined elsewhere."""
    folder = _installed_task_folders().get(task)
    if folder is None:
        return None
    from harness.tasks.spec import load_task_spec

    default = load_task_spec(folder / "task.yaml")
    groups = set(default.groups)
    for variant in default.variants:
        if variant != default.variant:
            groups.update(load_task_spec(folder / "task.yaml", variant).groups)
    return frozenset(groups)


@functools.cache
def _installed_task_folders() -> dict[str, Path]:
    """Built-in and installed packages' task folders (not --tasks-dir: a leaderboard has none)."""
    return task_folders()


def _build_sort(raw: Any, check: SpecChecker, columns: tuple[ColumnSpec, ...]) -> tuple[str, str]:
    sort = check.typed(raw, "sort", dict) or {}
    check.known_keys(sort, SORT_KEYS, "sort")
    column = check.typed(sort, "column", str) or columns[0].id
    if column not in {item.id for item in columns}:
        check.fail(sort, "column", f"no column with id {column!r}; ids: {', '.join(item.id for item in columns)}")
    return column, check.choice(sort, "order", ORDERS, "descending")


def _build_views(raw: Any, check: SpecChecker, columns: tuple[ColumnSpec, ...]) -> tuple[HeatmapSpec, ...]:
    items = check.typed(raw, "views", list) or []
    views = []
    for item in items:
        check.known_keys(item, HEATMAP_KEYS, "views entry")
        check.require(item, "type", str, "views entry")
        check.choice(item, "type", VIEW_TYPES, "heatmap")
        column = check.require(item, "column", str, "heatmap view")
        if column not in {entry.id for entry in columns}:
            check.fail(item, "column", f"no column with id {column!r}; ids: {', '.join(entry.id for entry in columns)}")
        chosen = next(entry for entry in columns if entry.id == column)
        if chosen.headline is not None or chosen.mean_of:
            check.fail(item, "column", f"column {column!r} is one number per row; a heatmap needs a column of subsets or a group")
        subset_name = check.require(item, "subset_name", str, "heatmap view")
        names = PLACEHOLDER.findall(subset_name)
        if not names or len(set(names)) != len(names):
            check.fail(item, "subset_name", f"{subset_name!r}: name each part of the subset once, like '{{language}}.{{subtask}}'")
        x = check.require(item, "x", str, "heatmap view")
        panels = check.typed(item, "panels", str)
        for key, value in (("x", x), ("panels", panels)):
            if value is not None and value not in names:
                check.fail(item, key, f"{value!r} is not a part of subset_name {subset_name!r} ({', '.join(names)})")
        views.append(HeatmapSpec(
            title=check.typed(item, "title", str) or f"{column} by {x}",
            column=column, subset_name=subset_name, x=x, panels=panels,
            pattern=_subset_regex(subset_name),
        ))
    return tuple(views)


def _subset_regex(subset_name: str) -> re.Pattern[str]:
    """`{language}.{subtask}` -> `(?P<language>.+?)\\.(?P<subtask>.+?)`: literal text stays literal."""
    parts = PLACEHOLDER.split(subset_name)
    pattern = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts))
    return re.compile(pattern)
