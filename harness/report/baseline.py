"""Slim baselines: a finished run without prompt and response text, small enough to live in git.

A gate needs, per sample, only the key, the scores and a way to tell whether the question
changed; the prompts and raw responses are most of a run's size (a CRUXEval-X prompt is a few
kilobytes of few-shot code). A slim run keeps id, subset, attempt, target, extracted answers,
scores, the execution status per metric (not the compiler or runtime output, which can name
temporary paths) and the sha256 of each prompt, plus the run's manifest.json and metrics.json, so
`load_run`, `harness compare` and `harness gate` read it like any run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import UsageError
from harness.report.runs import KEY_COLUMNS, PROMPT_HASH, RunInfo, load_run, prompt_sha256
from harness.store.run_dir import MANIFEST, METRICS, SAMPLES

SLIM_COLUMNS = [*KEY_COLUMNS, "target", "extracted", "scores", "execution"]


def _execution_status(table: pa.Table) -> pa.Array:
    """The execution map with only the entries named after a score (its status), not their details."""
    statuses = []
    for execution, scores in zip(table["execution"].to_pylist(), table["scores"].to_pylist()):
        labels = {label for label, _ in scores or ()}
        statuses.append([(key, value) for key, value in execution or () if key in labels])
    return pa.array(statuses, table.schema.field("execution").type)


def slim_samples(run: RunInfo) -> pa.Table:
    """The run's samples as a slim table, sorted by subset, id and attempt so that a re-save diffs cleanly."""
    names = set(pq.read_schema(run.samples_path).names)
    hashed = PROMPT_HASH in names
    table = pq.read_table(run.samples_path, columns=[*SLIM_COLUMNS, PROMPT_HASH if hashed else "prompt"])
    hashes = table[PROMPT_HASH] if hashed else prompt_sha256(table["prompt"])
    slim = pa.table({**{column: table[column] for column in SLIM_COLUMNS if column != "execution"},
                     "execution": _execution_status(table), PROMPT_HASH: hashes})
    return slim.sort_by([("subset", "ascending"), ("id", "ascending"), ("attempt", "ascending")])


def save_baseline(run_dir: Path, destination: Path) -> RunInfo:
    """Write the slim copy of the finished run `run_dir` into `destination`; returns it as loaded back."""
    run = load_run(run_dir)
    if destination.resolve() == run_dir.resolve():
        raise UsageError(f"baseline destination {destination} is the run itself; pass another folder")
    destination.mkdir(parents=True, exist_ok=True)
    temporary = destination / (SAMPLES + ".tmp")
    pq.write_table(slim_samples(run), temporary, compression="zstd")
    temporary.replace(destination / SAMPLES)
    shutil.copyfile(run.path / METRICS, destination / METRICS)
    # The manifest goes last: it says "complete", so a half-written baseline is never loaded as one.
    shutil.copyfile(run.path / MANIFEST, destination / MANIFEST)
    return load_run(destination)
