"""Which runs a leaderboard uses: same task version and hash per task, newest run per model by default.

Mixing task versions (a changed prompt, a fixed scorer) in one column would compare numbers that
were not measured the same way, so each task gets one version and content hash (pinned in the
spec, or the newest run's) and every other run is listed as excluded with the reason, never
dropped silently.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from harness.report.leaderboard_spec import LeaderboardSpec
from harness.report.runs import RunInfo


@dataclass(frozen=True)
class Excluded:
    path: str
    reason: str


@dataclass(frozen=True)
class TaskIdentity:
    """The version and content hash a task's columns compare, and where the choice came from."""

    version: str
    content_hash: str
    source: str  # "pinned in the spec" or "newest run"


@dataclass(frozen=True)
class Row:
    """One leaderboard row: a model (runs: latest) or a single run (runs: all), with its run per task."""

    key: str
    model: str
    runs: Mapping[str, int]  # task -> index into Selection.runs


@dataclass
class Selection:
    runs: list[RunInfo]
    rows: list[Row]
    excluded: list[Excluded]
    identities: dict[str, TaskIdentity]
    ignored: int = 0  # finished runs of tasks that have no column here
    tasks_without_runs: list[str] = field(default_factory=list)


def _newest_first(runs: Sequence[RunInfo]) -> list[RunInfo]:
    return sorted(runs, key=lambda run: (run.finished_at, str(run.path)), reverse=True)


def _choose_identity(runs: Sequence[RunInfo], pinned: str | None) -> TaskIdentity | None:
    """The pinned version (its newest run's hash), else the newest run's version and hash."""
    candidates = [run for run in _newest_first(runs) if pinned is None or run.task_version == pinned]
    if not candidates:
        return None
    newest = candidates[0]
    return TaskIdentity(newest.task_version, newest.task_hash, "pinned in the spec" if pinned else "newest run")


def _mismatch(run: RunInfo, identity: TaskIdentity | None, pinned: str | None) -> str | None:
    if identity is None:
        return f"task {run.task} version {run.task_version!r}; the leaderboard requires version {pinned!r}"
    if run.task_version != identity.version:
        return (f"task {run.task} version {run.task_version!r} differs from version {identity.version!r} "
                f"({identity.source}) used by this leaderboard")
    if run.task_hash != identity.content_hash:
        return (f"task {run.task} content hash {run.task_hash[:12]} differs from {identity.content_hash[:12]} "
                f"({identity.source}): the task folder (spec, prompts, scorer) changed without a version bump")
    return None


def select_runs(spec: LeaderboardSpec, found: Sequence[RunInfo], skipped: Sequence[tuple[object, str]]) -> Selection:
    """Eligible runs and the rows they form; everything else lands in `excluded` with its reason."""
    excluded = [Excluded(str(path), reason) for path, reason in skipped]
    tasks = set(spec.tasks())
    by_task: dict[str, list[RunInfo]] = defaultdict(list)
    for run in found:
        if run.task in tasks:
            by_task[run.task].append(run)
    identities: dict[str, TaskIdentity] = {}
    eligible: list[RunInfo] = []
    for task, runs in sorted(by_task.items()):
        runs = _with_pinned_shots(runs, spec.num_fewshot.get(task), excluded)
        pinned = spec.task_versions.get(task)
        identity = _choose_identity(runs, pinned)
        if identity is not None:
            identities[task] = identity
        for run in runs:
            reason = _mismatch(run, identity, pinned)
            if reason:
                excluded.append(Excluded(str(run.path), reason))
            else:
                eligible.append(run)
    used, superseded = _apply_run_policy(spec.runs, _newest_first(eligible))
    excluded.extend(superseded)
    runs, rows = _rows(spec.runs, used)
    return Selection(
        runs=runs, rows=rows, excluded=excluded, identities=identities,
        ignored=sum(1 for run in found if run.task not in tasks),
        tasks_without_runs=[task for task in sorted(tasks) if not any(run.task == task for run in runs)],
    )


def _with_pinned_shots(runs: Sequence[RunInfo], shots: int | None, excluded: list[Excluded]) -> list[RunInfo]:
    """The runs with the spec's shot count for their task (all when it pins none); others excluded with the reason."""
    if shots is None:
        return list(runs)
    kept = []
    for run in runs:
        if run.num_fewshot == shots:
            kept.append(run)
        elif run.num_fewshot is None:
            excluded.append(Excluded(str(run.path), f"task {run.task}: the run does not record its few-shot count; the "
                                                    f"leaderboard requires {shots} (rerun it with this harness version)"))
        else:
            excluded.append(Excluded(str(run.path), f"task {run.task} ran {run.num_fewshot}-shot; the leaderboard "
                                                    f"requires {shots}-shot (eligibility num_fewshot)"))
    return kept


def _apply_run_policy(policy: str, newest_first: Sequence[RunInfo]) -> tuple[list[RunInfo], list[Excluded]]:
    """`latest` keeps the newest run per (task, model); `all` keeps every eligible run."""
    if policy == "all":
        return list(newest_first), []
    latest: dict[tuple[str, str], RunInfo] = {}
    superseded = []
    for run in newest_first:
        newer = latest.setdefault((run.task, run.model), run)
        if newer is not run:
            superseded.append(Excluded(str(run.path), f"superseded by the newer run {newer.path} of the same model "
                                                        "(eligibility runs: latest)"))
    return list(latest.values()), superseded


def _rows(policy: str, used: Sequence[RunInfo]) -> tuple[list[RunInfo], list[Row]]:
    """Rows in first-seen order (sorting happens once the cells are known)."""
    runs = sorted(used, key=lambda run: (run.model, run.task, run.finished_at, str(run.path)))
    if policy == "all":
        return runs, [Row(key=f"{run.model} @ {run.finished_at} ({run.path.name})", model=run.model, runs={run.task: index})
                      for index, run in enumerate(runs)]
    by_model: dict[str, dict[str, int]] = defaultdict(dict)
    for index, run in enumerate(runs):
        by_model[run.model][run.task] = index
    return runs, [Row(key=model, model=model, runs=tasks) for model, tasks in by_model.items()]
