"""Finding a task's rows: local files first, then the Hugging Face hub through `datasets`.

Evaluation machines are often offline, so the lookup order is explicit and every miss is
remembered: when nothing is found, the error lists each place tried and how to point the task
at local files. Local files are read with pyarrow and the json and csv modules directly: `datasets`'
builders would add a cache directory and seconds of start-up for files we read whole anyway.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pyarrow.parquet as pq

from harness.errors import UsageError
from harness.tasks.spec import DatasetSpec

SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
DATA_DIR_ENV = "HARNESS_DATA_DIR"


def read_rows(path: Path, columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a jsonl, json (a list, or an object holding one list), parquet or csv file.

    A csv's first row names its columns unless `columns` does (a headerless file, such as
    MMLU's official ones)."""
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path).to_pylist()
        if path.suffix == ".csv":
            return _csv_rows(path, columns)
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except (OSError, ValueError, csv.Error) as error:
        raise UsageError(f"cannot read data file {path}: {error}") from error
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
    if not isinstance(data, list):
        raise UsageError(f"data file {path} must hold a list of rows (or one key holding a list)")
    return data


def _csv_rows(path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of a csv file (quoted fields may hold newlines, so never split it by lines); a
    leading byte-order mark is dropped. A row whose field count differs from the columns' is an
    error: zipping it would shift or drop fields silently."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        records = list(csv.reader(handle))
    names = list(columns) or (records.pop(0) if records else [])
    for number, record in enumerate(records, start=1 if columns else 2):
        if len(record) != len(names):
            raise UsageError(f"data file {path} row {number} has {len(record)} fields but the columns are "
                             f"{names}; fix the file, or name its columns in task.yaml's dataset.columns")
    return [dict(zip(names, record)) for record in records]


def document_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """One row per file for a `files:` glob (a folder of documents, one per sample, as READoc
    ships its gold Markdown): `id` (the file stem), `path` (absolute) and `text` (its content)."""
    rows = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as error:
            raise UsageError(f"cannot read data file {path}: {error}") from error
        rows.append({"id": path.stem, "path": str(path.resolve()), "text": text})
    return rows


def split_name(split: str, subset: str | None) -> str:
    """A split may name its subset (`split: "{subset}"`): datasets such as RewardBench's Prior
    Sets keep one split per subset rather than one config per subset."""
    return split.replace("{subset}", subset or "")


def _file_names(spec: DatasetSpec, split: str, subset: str | None) -> list[str]:
    """Candidate file names for a split: the spec's own names in order, then `<split>.<suffix>`."""
    names = [name.format(subset=subset or "") for name in spec.files.get(split, ())]
    resolved = split_name(split, subset)
    names.extend(f"{resolved}{suffix}" for suffix in SUFFIXES if f"{resolved}{suffix}" not in names)
    return names


def _data_dir_candidates(spec: DatasetSpec, names: Sequence[str]) -> list[Path]:
    """Folders under HARNESS_DATA_DIR that may hold this dataset: named after its hub id, the
    task, or the task's folder (arc-easy's data sits beside arc-challenge's, in `arc/`)."""
    folders = []
    for root in filter(None, os.environ.get(DATA_DIR_ENV, "").split(os.pathsep)):
        base = Path(root)
        if spec.hub:
            folders += [base / spec.hub, base / spec.hub.replace("/", "__")]
        folders += [base / name for name in dict.fromkeys(names)]
    return folders


Reader = Callable[[Path], list[dict[str, Any]]]


class DataLocator:
    """Resolves (split, subset) to rows for one task, remembering what it tried.

    `readers` maps file-name patterns to the task's own readers (a format only one dataset
    uses, such as llama.cpp's HellaSwag text file); other files go through `read_rows`.
    """

    def __init__(self, spec: DatasetSpec, task_name: str, data: Path | None = None,
                 readers: Mapping[str, Reader] | None = None, folder: str | None = None) -> None:
        self.spec = spec
        self.task_name = task_name
        self.folder = folder or task_name
        self.data = data
        self.readers = dict(readers or {})
        if data is not None and not data.exists():
            raise UsageError(f"--data {data} does not exist; pass a data file or a folder of split files")

    def load(self, split: str, subset: str | None = None) -> list[dict[str, Any]]:
        tried: list[str] = []
        for folder, names in self._local_candidates(split, subset):
            for name in names:
                path = folder / name
                tried.append(str(path))
                if "*" in name:
                    matches = sorted(folder.glob(name))
                    if matches:
                        return document_rows(matches)
                elif path.is_file():
                    return self._read(path)
        if self.spec.hub:
            rows = self._load_hub(split, subset, tried)
            if rows is not None:
                return rows
        raise UsageError(self._not_found_message(split, subset, tried))

    def _read(self, path: Path) -> list[dict[str, Any]]:
        reader = next((read for pattern, read in self.readers.items() if fnmatch.fnmatch(path.name, pattern)), None)
        return reader(path) if reader else read_rows(path, self.spec.columns)

    def _local_candidates(self, split: str, subset: str | None) -> list[tuple[Path, list[str]]]:
        names = _file_names(self.spec, split, subset)
        candidates: list[tuple[Path, list[str]]] = []
        if self.data is not None and self.data.is_file():
            if split == self.spec.split and (subset is None or not self.spec.subsets):
                candidates.append((self.data.parent, [self.data.name]))
            else:
                candidates.append((self.data.parent, names))
        elif self.data is not None:
            candidates.append((self.data, names))
        candidates += [(folder, names) for folder in _data_dir_candidates(self.spec, (self.task_name, self.folder))]
        return candidates

    def _load_hub(self, split: str, subset: str | None, tried: list[str]) -> list[dict[str, Any]] | None:
        import datasets  # deferred: importing datasets costs about a second

        config = (self.spec.config or "").format(subset=subset or "") or None
        split = split_name(split, subset)
        tried.append(f"hub dataset {self.spec.hub!r} config {config!r} split {split!r}")
        try:
            return datasets.load_dataset(self.spec.hub, config, split=split).to_list()
        except Exception as error:  # datasets raises many types for "not reachable"
            tried[-1] += f" ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
            return None

    def _not_found_message(self, split: str, subset: str | None, tried: list[str]) -> str:
        what = f"split {split_name(split, subset)!r}" + (f" subset {subset!r}" if subset else "")
        names = " or ".join(_file_names(self.spec, split, subset)[:2])
        return (
            f"no data for task {self.task_name!r} {what} (dataset {self.spec.hub or 'local only'}); "
            f"tried: {'; '.join(tried)}. Fix: pass --data FOLDER holding {names}, "
            f"or set {DATA_DIR_ENV} to a folder holding {self.spec.hub or self.task_name}/{names} "
            "(offline? set HF_HUB_OFFLINE=1 so the hub is not retried)"
        )
