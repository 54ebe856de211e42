"""Reading a leaderboard's runs: each samples.parquet once, in worker processes when there are many.

One pass per run does everything that needs its samples: Arrow sums the scores per subset for
every metric a column uses, picks the rows of the run's page and renders it. Runs are
independent, so with many of them the work is spread over the machine's cores (forked workers
inherit the imported modules, so they start at once); what comes back is only the small
per-subset sums.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.report.leaderboard_cells import SubsetStats, lookup_score, subset_stats
from harness.report.leaderboard_pages import page_samples, read_samples
from harness.report.leaderboard_render import render_run_page
from harness.report.runs import RunInfo

PARALLEL_MIN_RUNS = 16  # below this, starting workers costs more than it saves
MAX_WORKERS = 8


@dataclass(frozen=True)
class RunJob:
    index: int
    run: RunInfo
    labels: tuple[str, ...]  # the first decides what the run page calls a failure
    page: Path
    board_title: str
    max_samples: int
    groups: tuple[str, ...] = ()  # group names columns partition by, besides subsets


@dataclass(frozen=True)
class RunRead:
    index: int
    stats: Mapping[tuple[str, str | None], Mapping[str, SubsetStats]]  # (label, group or None) -> subset or value -> sums
    rows: int


def read_run(job: RunJob) -> RunRead:
    """Per-subset sums for the job's labels (and per value of each of its groups); writes the run's page on the way."""
    table = read_samples(job.run.samples_path)
    scores = {label: lookup_score(table["scores"], label) for label in job.labels}
    stats: dict[tuple[str, str | None], Mapping[str, SubsetStats]] = {
        (label, None): subset_stats(table["subset"], score) for label, score in scores.items()}
    for group, values in group_values(job.run.samples_path, job.groups).items():
        for label, score in scores.items():
            stats[(label, group)] = {value: sums for value, sums in subset_stats(values, score).items() if value is not None}
    samples = page_samples(table, scores[job.labels[0]], job.max_samples)
    render_run_page(job.page, job.board_title, job.run, job.labels[0], samples)
    return RunRead(job.index, stats, table.num_rows)


def group_values(path: Path, groups: tuple[str, ...]) -> dict[str, pa.ChunkedArray]:
    """Each group's value per sample row (null where a row has none, and everywhere in a run
    whose samples carry no groups column, such as a slim baseline)."""
    if not groups:
        return {}
    if "groups" not in pq.read_schema(path).names:
        rows = pq.ParquetFile(path).metadata.num_rows
        return {group: pa.chunked_array([pa.nulls(rows, pa.string())]) for group in groups}
    column = pq.read_table(path, columns=["groups"], use_threads=False)["groups"]
    return {group: pc.map_lookup(column, pa.scalar(group), "first") for group in groups}


def read_runs(jobs: Sequence[RunJob], advance: Callable[[int], None]) -> Iterator[RunRead]:
    """Results in job order; `advance` is told the samples read after each run."""
    workers = min(len(os.sched_getaffinity(0)), MAX_WORKERS)
    if len(jobs) < PARALLEL_MIN_RUNS or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for job in jobs:
            result = read_run(job)
            advance(result.rows)
            yield result
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for result in pool.map(read_run, jobs, chunksize=max(1, len(jobs) // (workers * 8))):
            advance(result.rows)
            yield result
