"""Reward-model runs seen from more than one number: accuracy by margin, and agreement between models.

"Rethinking Reward Model Evaluation" (arXiv 2410.05584) finds that pairwise accuracy predicts a
policy's quality only weakly, and that reward models with the same accuracy can rank very
differently. So besides each run's accuracy (overall, per section, the task's headline) this
report shows, from the per-candidate scores in `samples.parquet`:

- accuracy per quartile of |margin|, margin = lowest score of a correct candidate − highest of an
  incorrect one (the task's `target` says how many candidates, listed first, are correct: one,
  but several in RewardBench 2's Ties subset). A reward model whose confident calls are more
  often right is more useful to optimise against than one that is right by coin flips at the
  same accuracy;
- for each pair of runs of one task, on the samples both scored: how often they put the same
  candidate on top, Cohen's kappa on right/wrong, Spearman's rank correlation of their margins,
  and how many pairs both got wrong (a blind spot they share);
- RewardBench v1's overall score with the Prior Sets, when a `rewardbench` and a
  `rewardbench-prior` run of the same model fingerprint are both given.

Agreement counts a sample as right when its margin is positive: every correct candidate strictly
above every incorrect one (a tie is wrong, as v1 scores it). Bucket accuracies are the task's own
per-sample credit (v2 splits a tie at the top), so the buckets average to the run's accuracy over
the samples with scores. A number that cannot be computed is None with the reason, never 0.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.stats import spearmanr

from harness.errors import UsageError
from harness.report.runs import RunInfo, load_run
from harness.scoring.rewardbench import PRIOR_SECTION, V1_SECTIONS, v1_overall

ACCURACY = "accuracy"
REWARD_TASKS = ("rewardbench", "rewardbench-prior", "rewardbench-2")
V1_TASK, PRIOR_TASK = "rewardbench", "rewardbench-prior"
QUARTILES = (0.25, 0.5, 0.75)
NOTHING_SHARED = "no sample was scored by both runs"


@dataclass(frozen=True)
class Figure:
    """A reported number, or None and the reason it could not be computed."""

    value: float | None
    n: int | None = None
    ci: tuple[float, float] | None = None
    reason: str | None = None


def missing(reason: str, n: int | None = None) -> Figure:
    return Figure(None, n=n, reason=reason)


@dataclass(frozen=True)
class TaskLayout:
    """Where a reward task's metrics.json keeps its sections: the sample group naming them, the
    summary's mapping of their scores, and the summary path of the headline score."""

    group: str
    sections: str
    headline: tuple[str, ...]


LAYOUTS = {
    V1_TASK: TaskLayout("section", "sections", ("overall",)),
    PRIOR_TASK: TaskLayout("section", "sections", ("sections", PRIOR_SECTION)),
    "rewardbench-2": TaskLayout("subset", "domains", ("final",)),
}
DEFAULT_LAYOUT = TaskLayout("section", "sections", ("overall",))


@dataclass(frozen=True)
class RewardOutcomes:
    """One run's samples as reward pairs: per-sample credit, margin (NaN: no scores) and top candidates."""

    run: RunInfo
    keys: tuple[tuple[str, str, int], ...]  # (subset, id, attempt)
    credit: np.ndarray  # the task's per-sample accuracy; NaN where unscored
    margins: np.ndarray
    tops: tuple[tuple[int, ...] | None, ...]  # indices of the highest-scored candidates
    sizes: np.ndarray  # candidates scored; 0 where there are no scores


@dataclass(frozen=True)
class MarginBucket:
    """Pairs whose |margin| lies in (low, high] (the first bucket includes low)."""

    name: str
    low: float
    high: float
    accuracy: Figure


@dataclass(frozen=True)
class RunSummary:
    """One run on its own: the task's numbers (from metrics.json) and the margin view (from the samples)."""

    path: str
    task: str
    model: str
    fingerprint: str
    accuracy: Figure
    sections: dict[str, dict[str, Figure]]  # section -> {"task_score": ..., "pooled_accuracy": ...}
    headline_name: str
    headline: Figure
    buckets: list[MarginBucket]
    ties: Figure  # share of scored pairs with margin exactly 0
    without_scores: int  # samples with no candidate scores (a judge gave no verdict)


@dataclass(frozen=True)
class Agreement:
    """Two runs of one task on the pairs both scored: models of equal accuracy can still disagree
    on which pairs they get right, and the both-wrong count is a blind spot they share."""

    task: str
    first: str
    second: str
    shared: int  # samples in both runs
    compared: int  # of those, scored by both over the same candidates
    same_top: Figure
    kappa: Figure
    spearman: Figure
    both_right: int
    only_first_right: int
    only_second_right: int
    both_wrong: int


@dataclass(frozen=True)
class CombinedOverall:
    """v1's leaderboard score for one model, from its core run and its separately run Prior Sets."""

    fingerprint: str
    v1_run: str
    prior_run: str
    overall: Figure


@dataclass(frozen=True)
class RmReport:
    """Everything `harness rm-report` prints; `notes` say what was left out and why."""

    runs: list[RunSummary]
    agreements: list[Agreement]
    combined: list[CombinedOverall]
    notes: list[str] = field(default_factory=list)


def combined_v1_overall(v1_summary: Mapping[str, Any], prior_summary: Mapping[str, Any] | None) -> float | None:
    """RewardBench v1's leaderboard score: Chat, Chat Hard, Safety, Reasoning weighted 2 each and
    Prior Sets 1 (masked when there is no Prior Sets run); None when a core section is missing.
    The weighting is `harness.scoring.rewardbench.v1_overall`, the one the task's own summary uses."""
    sections = {name: summary_value(v1_summary, "sections", name) for name in V1_SECTIONS}
    sections[PRIOR_SECTION] = summary_value(prior_summary or {}, "sections", PRIOR_SECTION)
    return v1_overall(sections)


def summary_value(summary: Mapping[str, Any], *path: str) -> float | None:
    """The number at `path` in a task's summary (a plain number or a {"value": ...} entry); None if absent."""
    entry: Any = summary
    for key in path:
        entry = entry.get(key) if isinstance(entry, Mapping) else None
    value = entry.get("value") if isinstance(entry, Mapping) else entry
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def read_outcomes(run: RunInfo) -> RewardOutcomes:
    """The run's reward pairs; a run without candidate scores is a UsageError naming what makes one."""
    names = set(pq.read_schema(run.samples_path).names)
    columns = [name for name in ("id", "subset", "attempt", "target", "scores", "reward_scores") if name in names]
    table = pq.read_table(run.samples_path, columns=columns) if "reward_scores" in names else None
    if table is None or table["reward_scores"].null_count == table.num_rows:
        raise UsageError(f"run {run.path} (task {run.task!r}) has no reward scores, so it is not a reward-model run; "
                         f"rm-report reads runs of {', '.join(REWARD_TASKS)} (or any task with `request: reward`)")
    credit = pc.cast(pc.map_lookup(table["scores"], ACCURACY, "first"), "float64").to_numpy(zero_copy_only=False)
    scores = table["reward_scores"].to_pylist()
    targets = table["target"].to_pylist() if "target" in names else [None] * table.num_rows
    margins = np.array([_margin(values, _correct_count(target)) for values, target in zip(scores, targets)], dtype=float)
    tops = tuple(None if math.isnan(margin) else _tops(values) for values, margin in zip(scores, margins))
    keys = tuple(zip(table["subset"].to_pylist(), table["id"].to_pylist(), table["attempt"].to_pylist()))
    sizes = np.array([0 if math.isnan(margin) else len(values) for values, margin in zip(scores, margins)], dtype=int)
    return RewardOutcomes(run, keys, credit.astype(float), margins, tops, sizes)


def _correct_count(target: str | None) -> int:
    """A reward task's target is how many candidates, listed first, are correct (1 unless it says otherwise)."""
    return int(target) if target is not None and target.strip().isdigit() and int(target) > 0 else 1


def _margin(values: Sequence[float] | None, correct: int) -> float:
    if values is None or not 0 < correct < len(values) or any(math.isnan(value) for value in values):
        return math.nan
    return float(min(values[:correct]) - max(values[correct:]))


def _tops(values: Sequence[float]) -> tuple[int, ...]:
    best = max(values)
    return tuple(index for index, value in enumerate(values) if value == best)


def margin_buckets(margins: np.ndarray, credit: np.ndarray) -> list[MarginBucket]:
    """Accuracy per quartile of |margin| over the pairs with scores and credit.

    Edges are the quartiles of |margin| within this run (scales differ between models); equal
    |margin|s stay in one bucket, so tied margins can leave a bucket empty, which then says so.
    """
    usable = ~np.isnan(margins) & ~np.isnan(credit)
    size, right = np.abs(margins[usable]), credit[usable]
    if not size.size:
        return []
    edges = [float(size.min()), *(float(q) for q in np.quantile(size, QUARTILES)), float(size.max())]
    index = np.searchsorted(edges[1:4], size, side="left")
    buckets = []
    for bucket in range(4):
        chosen = right[index == bucket]
        low, high = edges[bucket], edges[bucket + 1]
        accuracy = (Figure(float(chosen.mean()), n=int(chosen.size)) if chosen.size else
                    missing(f"no pair has |margin| in ({low:.4g}, {high:.4g}]: tied margins filled the quartile below", 0))
        buckets.append(MarginBucket(f"Q{bucket + 1}", low, high, accuracy))
    return buckets


def cohen_kappa(first: np.ndarray, second: np.ndarray) -> Figure:
    """Kappa between two right/wrong vectors: agreement beyond what their accuracies give by chance."""
    n = int(first.size)
    if not n:
        return missing(NOTHING_SHARED, 0)
    observed = float(np.mean(first == second))
    chance = float(first.mean() * second.mean() + (1 - first.mean()) * (1 - second.mean()))
    if chance == 1.0:
        return missing("both runs got every shared pair right (or every one wrong): chance agreement is 1", n)
    return Figure((observed - chance) / (1 - chance), n=n)


def margin_spearman(first: np.ndarray, second: np.ndarray) -> Figure:
    """Spearman's rho of two runs' margins on the same pairs (ties get average ranks)."""
    n = int(first.size)
    if n < 2:
        return missing("1 pair scored by both runs; a rank correlation needs 2", n) if n else missing(NOTHING_SHARED, 0)
    if np.all(first == first[0]) or np.all(second == second[0]):
        return missing("one run gives every shared pair the same margin, so its ranks carry no order", n)
    return Figure(float(spearmanr(first, second).statistic), n=n)


def summarise_run(outcomes: RewardOutcomes) -> RunSummary:
    run, metrics = outcomes.run, outcomes.run.metrics
    summary, layout = metrics.get("summary") or {}, LAYOUTS.get(run.task, DEFAULT_LAYOUT)
    sections = metrics.get("groups", {}).get(layout.group, {})
    headline_name = layout.headline[-1]
    headline = summary_value(summary, *layout.headline)
    scored = ~np.isnan(outcomes.margins) & ~np.isnan(outcomes.credit)
    ties = (Figure(float(np.mean(outcomes.margins[scored] == 0)), n=int(scored.sum())) if scored.any()
            else missing("no sample has candidate scores", 0))
    return RunSummary(
        path=str(run.path), task=run.task_key, model=run.model, fingerprint=str(run.manifest["model"].get("fingerprint", "")),
        accuracy=_metric_figure(metrics.get("metrics", {}).get(ACCURACY)),
        sections={name: {"task_score": _summary_figure(summary, layout.sections, name),
                         "pooled_accuracy": _metric_figure(entry.get(ACCURACY))} for name, entry in sections.items()},
        headline_name=headline_name,
        headline=Figure(headline) if headline is not None else missing(
            f"the task's summary has no {headline_name!r} score (a section was not run, or the task has no summary)"),
        buckets=margin_buckets(outcomes.margins, outcomes.credit), ties=ties,
        without_scores=int(np.isnan(outcomes.margins).sum()),
    )


def _metric_figure(entry: Mapping[str, Any] | None) -> Figure:
    if entry is None:
        return missing(f"the run has no {ACCURACY!r} metric")
    if entry.get("value") is None:
        return missing("no sample was scored", 0)
    return Figure(float(entry["value"]), n=int(entry["n"]), ci=(float(entry["ci_low"]), float(entry["ci_high"])))


def _summary_figure(summary: Mapping[str, Any], *path: str) -> Figure:
    value = summary_value(summary, *path)
    return Figure(value) if value is not None else missing(f"the task's summary has no {'/'.join(path)} score")


def agreement(first: RewardOutcomes, second: RewardOutcomes) -> Agreement:
    """Two runs of one task on the samples they share, matched by (subset, id, attempt); compared
    where both scored the same number of candidates."""
    position = {key: index for index, key in enumerate(second.keys)}
    shared = [(i, position[key]) for i, key in enumerate(first.keys) if key in position]
    pairs = [(i, j) for i, j in shared if first.sizes[i] and first.sizes[i] == second.sizes[j]]
    a, b = np.array([i for i, _ in pairs], dtype=int), np.array([j for _, j in pairs], dtype=int)
    margins_a, margins_b = first.margins[a], second.margins[b]
    right_a, right_b = margins_a > 0, margins_b > 0
    n = len(pairs)
    same_top = (Figure(float(np.mean([first.tops[i] == second.tops[j] for i, j in pairs])), n=n) if n
                else missing(NOTHING_SHARED, 0))
    return Agreement(
        task=first.run.task_key, first=str(first.run.path), second=str(second.run.path), shared=len(shared), compared=n,
        same_top=same_top, kappa=cohen_kappa(right_a, right_b), spearman=margin_spearman(margins_a, margins_b),
        both_right=int(np.sum(right_a & right_b)), only_first_right=int(np.sum(right_a & ~right_b)),
        only_second_right=int(np.sum(~right_a & right_b)), both_wrong=int(np.sum(~right_a & ~right_b)),
    )


def build_rm_report(paths: Sequence[Path]) -> RmReport:
    """Every figure for the given runs: each on its own, each pair of one task, v1 with its Prior Sets."""
    if not paths:
        raise UsageError("rm-report needs at least one run directory")
    seen: dict[Path, Path] = {}
    for path in paths:
        if path.resolve() in seen:
            raise UsageError(f"run {path} is given twice (also as {seen[path.resolve()]}); pass each run once")
        seen[path.resolve()] = path
    outcomes = [read_outcomes(load_run(path)) for path in paths]
    agreements = [agreement(a, b) for a, b in itertools.combinations(outcomes, 2) if a.run.task_key == b.run.task_key]
    notes = []
    tasks = sorted({item.run.task_key for item in outcomes})
    if len(tasks) > 1:
        notes.append(f"agreement is only computed between runs of one task (given: {', '.join(tasks)})")
    combined, unmatched = combine_with_prior([item.run for item in outcomes])
    return RmReport([summarise_run(item) for item in outcomes], agreements, combined, notes + unmatched)


def combine_with_prior(runs: Sequence[RunInfo]) -> tuple[list[CombinedOverall], list[str]]:
    """v1's overall with the Prior Sets for each rewardbench / rewardbench-prior pair of one model
    fingerprint, and a note for each Prior Sets run left without its rewardbench run."""
    combined, notes = [], []
    fingerprint = {run.path: str(run.manifest["model"].get("fingerprint")) for run in runs}
    for prior in (run for run in runs if run.task == PRIOR_TASK):
        matches = [run for run in runs if run.task == V1_TASK and fingerprint[run.path] == fingerprint[prior.path]]
        if not matches:
            notes.append(f"{prior.path}: no rewardbench run of the same model (fingerprint {fingerprint[prior.path]!r}) "
                         "was given, so no combined v1 overall; add that run to the command")
        for v1 in matches:
            combined.append(CombinedOverall(fingerprint[v1.path], str(v1.path), str(prior.path),
                                            _combined_figure(v1.metrics.get("summary") or {},
                                                             prior.metrics.get("summary") or {})))
    return combined, notes


def _combined_figure(v1_summary: Mapping[str, Any], prior_summary: Mapping[str, Any]) -> Figure:
    absent = [name for name in V1_SECTIONS if summary_value(v1_summary, "sections", name) is None]
    if absent:
        return missing(f"the rewardbench run has no {', '.join(absent)} score (every v1 section must be run)")
    if summary_value(prior_summary, "sections", PRIOR_SECTION) is None:
        return missing(f"the rewardbench-prior run's summary has no {PRIOR_SECTION!r} score")
    return Figure(combined_v1_overall(v1_summary, prior_summary))


def write_rm_report_json(report: RmReport, path: Path) -> None:
    """Everything printed, machine-readable; an uncomputable number is null next to its reason."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
