"""Per-run pages of a leaderboard: the samples behind a cell, failures first, capped.

A run can hold tens of thousands of samples with multi-kilobyte prompts, so the page shows at
most `max_samples` of them (failures first, then in file order) and says where the rest are.
Which rows make the page is decided in Arrow; only the shown rows become Python objects.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.errors import UsageError
from harness.report.runs import RunInfo
from harness.store.run_dir import SAMPLE_SCHEMA

PAGE_COLUMNS = ["id", "subset", "attempt", "prompt", "response", "target", "extracted", "scores", "error", "execution"]
TEXT_COLUMNS = [column for column in PAGE_COLUMNS if column != "scores"]  # maps of text come out as [key, value] pairs


def read_samples(path: Path) -> pa.Table:
    """The columns cells and pages need, read once; a slim baseline run has no text columns, read as null."""
    parquet = pq.ParquetFile(path, memory_map=True, pre_buffer=False)
    names = set(parquet.schema_arrow.names)
    if not {"subset", "scores"} <= names:
        raise UsageError(f"{path} has no subset or scores column: not a samples file written by `harness run`")
    # One thread: with many runs, worker processes already use every core.
    table = parquet.read(columns=[column for column in PAGE_COLUMNS if column in names], use_threads=False)
    for column in PAGE_COLUMNS:
        if column not in names:
            table = table.append_column(SAMPLE_SCHEMA.field(column), pa.nulls(table.num_rows, SAMPLE_SCHEMA.field(column).type))
    return table


def run_slug(run: RunInfo) -> str:
    """A file name that says what the run is and stays unique: task, model, finish time, path hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{run.task}--{run.model}--{run.finished_at}").strip("_")
    return f"{readable[:80]}--{hashlib.sha256(str(run.path.resolve()).encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class PageSamples:
    """The shown samples column by column, ready for JSON, and the counts the page's note states."""

    columns: dict[str, list[Any]]
    total: int
    failures: int
    subsets: list[str]

    @property
    def shown(self) -> int:
        return len(self.columns["id"])


def page_samples(table: pa.Table, score: pa.ChunkedArray, max_samples: int) -> PageSamples:
    """Failures first, then passes, each in file order; at most `max_samples` of them.

    A sample fails when its score (one metric, from `lookup_score`) is below 1, unscored (NaN) or
    absent. Order, verdicts and score text are computed in Arrow; the shown rows become plain
    lists only to be written into the page as JSON.
    """
    failed = pc.invert(pc.fill_null(pc.greater_equal(score, 1.0), False))
    order = pa.table({"failed": failed, "position": pa.array(np.arange(table.num_rows))})
    indices = pc.sort_indices(order, sort_keys=[("failed", "descending"), ("position", "ascending")])[:max_samples]
    shown = table.take(indices)
    columns = {name: shown[name].to_pylist() for name in TEXT_COLUMNS}
    columns["scores"] = _scores_as_text(shown["scores"]).to_pylist()
    columns["failed"] = failed.take(indices).to_pylist()
    columns["verdict"] = _verdicts(score.take(indices)).to_pylist()
    subsets = sorted(pc.unique(table["subset"]).to_pylist())
    return PageSamples(columns=columns, total=table.num_rows, failures=pc.sum(failed).as_py() or 0, subsets=subsets)


def _scores_as_text(scores: pa.ChunkedArray) -> pa.ChunkedArray:
    """Score maps with text values ("1", "0", "unscored"): JSON has no NaN."""
    chunks = []
    for chunk in scores.chunks:
        items = pc.cast(chunk.items, pa.float64())
        text = pc.if_else(pc.fill_null(pc.is_nan(items), False), "unscored", pc.cast(items, pa.string()))
        chunks.append(pa.MapArray.from_arrays(chunk.offsets, chunk.keys, text))
    return pa.chunked_array(chunks, pa.map_(pa.string(), pa.string()))


def _verdicts(score: pa.ChunkedArray) -> pa.Array:
    """pass / fail for 0-1 scores, the value otherwise; unscored samples say so rather than reading as wrong."""
    score = score.combine_chunks()
    conditions = pa.StructArray.from_arrays(
        [pc.is_null(score), pc.fill_null(pc.is_nan(score), False), pc.fill_null(pc.greater_equal(score, 1.0), False),
         pc.fill_null(pc.equal(score, 0.0), False)],
        names=["absent", "unscored", "pass", "fail"])
    partial = pc.binary_join_element_wise("partial ", pc.cast(score, pa.string()), "")
    return pc.case_when(conditions, "no score", "unscored", "pass", "fail", partial)
