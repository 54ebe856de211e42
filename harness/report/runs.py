"""Finished runs as reports see them: manifests and metrics as small dicts, samples as Arrow tables.

Leaderboards read hundreds of runs and gates read two; both find and load runs here. Samples
are never turned into Python objects: `scores_by_sample` reads only the key, prompt-hash and
score columns of a `samples.parquet` and pulls scores out of the `scores` map with Arrow compute
(the leaderboard reads its columns in `leaderboard_read.py`, in one pass per run).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.errors import UsageError
from harness.store.run_dir import MANIFEST, METRICS, SAMPLES, read_json

KEY_COLUMNS = ["id", "subset", "attempt"]
# A slim run (`harness baseline save`) stores this hash instead of the prompt text.
PROMPT_HASH = "prompt_sha256"


@dataclass(frozen=True)
class RunInfo:
    """One finished run directory: where it is, what was asked (manifest) and what it scored (metrics)."""

    path: Path
    manifest: Mapping[str, Any]
    metrics: Mapping[str, Any]

    @property
    def task(self) -> str:
        return str(self.manifest["task"]["name"])

    @property
    def task_version(self) -> str:
        return str(self.manifest["task"].get("version", ""))

    @property
    def task_hash(self) -> str:
        """Hash of the task folder (spec, prompts, scorer): differs when prompts or scoring changed."""
        return str(self.manifest["task"].get("content_hash", ""))

    @property
    def model(self) -> str:
        return str(self.manifest["model"]["spec"])

    @property
    def finished_at(self) -> str:
        return str(self.manifest.get("finished_at") or self.manifest.get("started_at") or "")

    @property
    def num_fewshot(self) -> int | None:
        """Few-shot examples per prompt as the run recorded them (`task_args` for runs that predate
        the manifest field); None when it cannot be told."""
        recorded = self.manifest["task"].get("num_fewshot")
        if recorded is None:
            recorded = self.manifest.get("settings", {}).get("task_args", {}).get("num_fewshot")
        return int(recorded) if recorded is not None else None

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES

    @property
    def task_key(self) -> str:
        """The task as a run folder is matched by: its name, with the variant unless it is the plain one."""
        variant = self.manifest["task"].get("variant")
        return f"{self.task}:{variant}" if variant and variant != "plain" else self.task


def load_run(path: Path) -> RunInfo:
    """A finished run; a missing file or an unfinished run is a UsageError that says what to do."""
    if not (path / MANIFEST).is_file():
        raise UsageError(f"{path} is not a run directory (no {MANIFEST}); pass a folder written by `harness run`")
    manifest = read_json(path / MANIFEST)
    if manifest.get("status") != "complete" or not (path / METRICS).is_file() or not (path / SAMPLES).is_file():
        raise UsageError(f"run {path} has not finished (status {manifest.get('status')!r}); "
                         "rerun the same `harness run` command with this --run-dir to complete it")
    return RunInfo(path=path, manifest=manifest, metrics=read_json(path / METRICS))


def find_runs(roots: Sequence[Path]) -> tuple[list[RunInfo], list[tuple[Path, str]]]:
    """Every finished run under `roots`, and (path, reason) for each run directory left out."""
    runs: list[RunInfo] = []
    skipped: list[tuple[Path, str]] = []
    for root in roots:
        if not root.is_dir():
            raise UsageError(f"runs folder {root} does not exist")
        for folder in _run_folders(root):
            try:
                runs.append(load_run(folder))
            except UsageError as error:
                skipped.append((folder, str(error)))
    return runs, skipped


def _run_folders(root: Path) -> list[Path]:
    """Folders under `root` holding a manifest, following symlinks (people link runs into a board's
    folder; Path.rglob in Python 3.11 does not follow them) but never entering one folder twice."""
    found, seen = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        if MANIFEST in files:
            found.append(Path(folder))
    return sorted(found)


def prompt_sha256(prompts: pa.ChunkedArray) -> pa.Array:
    """sha256 hex digest of each prompt's UTF-8 text (a missing prompt hashes as the empty string)."""
    return pa.array([hashlib.sha256((prompt or "").encode("utf-8")).hexdigest() for prompt in prompts.to_pylist()],
                    pa.string())


GROUP_PREFIX = "group:"


def scores_by_sample(run: RunInfo, labels: Sequence[str], groups: Sequence[str] = ()) -> pa.Table:
    """Columns id, subset, attempt, prompt_sha256 and one float64 column per label, one row per sample and attempt;
    and `group:NAME`, the sample's value of each of `groups` (null where it has none, or the run keeps no groups).

    Reads a full run (prompt hashes computed from its `prompt` column) and a slim one (which
    stores `prompt_sha256`) alike. An absent score (the metric did not exist in that run) is
    null; an unscored one (no answer, sandbox error) is NaN. Callers decide how each counts.
    """
    names = set(pq.read_schema(run.samples_path).names)
    hash_column = PROMPT_HASH if PROMPT_HASH in names else "prompt"
    if hash_column not in names:
        raise UsageError(f"{run.samples_path} has neither a prompt nor a {PROMPT_HASH} column; "
                         "pass a run written by `harness run` or `harness baseline save`")
    with_groups = bool(groups) and "groups" in names
    table = pq.read_table(run.samples_path, columns=[*KEY_COLUMNS, hash_column, "scores", *(["groups"] if with_groups else [])])
    hashes = table[PROMPT_HASH] if hash_column == PROMPT_HASH else prompt_sha256(table["prompt"])
    columns = {column: table[column] for column in KEY_COLUMNS}
    columns[PROMPT_HASH] = hashes
    for label in labels:
        columns[label] = pc.cast(pc.map_lookup(table["scores"], pa.scalar(label), "first"), pa.float64())
    for group in groups:
        columns[GROUP_PREFIX + group] = (pc.map_lookup(table["groups"], pa.scalar(group), "first") if with_groups
                                         else pa.nulls(table.num_rows, pa.string()))
    return pa.table(columns)
