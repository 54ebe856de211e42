"""A run directory: manifest.json, two append-only journals, then Parquet + metrics.

`responses.jsonl` holds every answer as the model gives it (all of Response's fields), before
it is scored; `journal.jsonl` holds the scored records. Both are resume sources: each batch is
appended and fsynced, a torn last line from a SIGKILL is ignored, and entries are de-duplicated
by (id, attempt), so a restarted run neither loses nor repeats a sample, and an answer whose
scoring was cut short is scored without asking the model again. The responses journal stays
after the run: it is what `harness rescore` and `replay:RUN_DIR` read. `samples.parquet` and
`metrics.json` are written from the scored journal when the run finishes, atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import UsageError
from harness.types import Response, SampleRecord

MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"
RESPONSES = "responses.jsonl"
SAMPLES = "samples.parquet"
METRICS = "metrics.json"

SAMPLE_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("subset", pa.string()),
    ("attempt", pa.int32()),
    ("prompt", pa.string()),
    ("response", pa.string()),
    ("target", pa.string()),
    ("extracted", pa.map_(pa.string(), pa.string())),
    ("scores", pa.map_(pa.string(), pa.float64())),
    ("latency_s", pa.float64()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cached", pa.bool_()),
    ("error", pa.string()),
    ("execution", pa.map_(pa.string(), pa.string())),
    ("groups", pa.map_(pa.string(), pa.string())),
    ("trace", pa.string()),
    ("reward_scores", pa.list_(pa.float64())),
    ("choice_logprobs", pa.list_(pa.float64())),
    ("choice_greedy", pa.list_(pa.bool_())),
    ("finish_reason", pa.string()),
])


def write_json_atomic(path: Path, data: Any) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {path}: {error}") from error


def write_response_files(run_path: Path, pattern: str, records: Iterable[SampleRecord]) -> None:
    """Each record's response as a file (`pattern` with `{id}`), so outputs such as a document's
    Markdown can be rescored or inspected without the Parquet file; the first attempt only."""
    root = run_path.resolve()
    for record in records:
        if record.attempt != 0:
            continue
        target = (root / pattern.format(id=record.id)).resolve()
        if root not in target.parents:
            raise UsageError(f"sample id {record.id!r} would write outside the run dir ({target}); "
                             "fix the task's id template")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(record.response, encoding="utf-8")


@dataclass(frozen=True)
class StoredResponse:
    """One journaled answer: which attempt at which sample, the hash of the request it answers
    (a resumed or re-scored run uses it only for the same request), and the whole Response."""

    id: str
    attempt: int
    request_hash: str
    response: Response
    cached: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "attempt": self.attempt, "request": self.request_hash, "cached": self.cached,
                "response": asdict(self.response)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StoredResponse":
        response = dict(data["response"])
        if response.get("scores") is not None:
            response["scores"] = tuple(response["scores"])
        return cls(id=str(data["id"]), attempt=int(data["attempt"]), request_hash=str(data["request"]),
                   response=Response(**response), cached=bool(data.get("cached", False)))


def read_responses(run_path: Path) -> dict[tuple[str, int], StoredResponse]:
    """The responses journal of a run dir, first entry per (id, attempt); torn lines skipped."""
    answers: dict[tuple[str, int], StoredResponse] = {}
    journal = run_path / RESPONSES
    if not journal.exists():
        return answers
    with open(journal, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                answer = StoredResponse.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue  # a line torn by a kill mid-write; its sample is asked again
            answers.setdefault((answer.id, answer.attempt), answer)
    return answers


def _append_lines(path: Path, rows: Iterable[Any]) -> None:
    """Append JSON lines and fsync: once this returns, a kill -9 cannot take them back."""
    lines = "".join(json.dumps(row) + "\n" for row in rows)
    if not lines:
        return
    with open(path, "a", encoding="utf-8") as journal:
        journal.write(lines)
        journal.flush()
        os.fsync(journal.fileno())


class RunDir:
    """One run's folder. `run_key` identifies what was asked; a mismatch refuses to resume."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started_at: str | None = None

    def open(self, run_key: str, manifest: Mapping[str, Any]) -> dict[tuple[str, int], SampleRecord]:
        """Create the folder or resume it; returns the records already done."""
        existing = self.path / MANIFEST
        if existing.exists():
            previous = read_json(existing)
            if previous.get("run_key") != run_key:
                raise UsageError(
                    f"run dir {self.path} holds a different run (task {previous.get('task', {}).get('name')!r}, "
                    f"model {previous.get('model', {}).get('spec')!r}, other settings or data); "
                    "pass a new --run-dir, or delete that folder to start over"
                )
            manifest = {**manifest, "started_at": previous.get("started_at", manifest.get("started_at"))}
        self.started_at = manifest.get("started_at")
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(existing, {**manifest, "run_key": run_key, "status": "running"})
        return self.read_journal()

    def read_journal(self) -> dict[tuple[str, int], SampleRecord]:
        records: dict[tuple[str, int], SampleRecord] = {}
        journal = self.path / JOURNAL
        if not journal.exists():
            return records
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
                for key in ("logprob", "is_greedy"):  # single-continuation fields of earlier versions, never filled
                    data.pop(key, None)
                for key in ("reward_scores", "choice_logprobs", "choice_greedy"):
                    if data.get(key) is not None:
                        data[key] = tuple(data[key])
                record = SampleRecord(**data)
            except (ValueError, TypeError):
                continue  # a line torn by a kill mid-write; its sample is redone
            records.setdefault((record.id, record.attempt), record)
        return records

    def append(self, records: Iterable[SampleRecord]) -> None:
        _append_lines(self.path / JOURNAL, (asdict(record) for record in records))

    def append_responses(self, answers: Iterable[StoredResponse]) -> None:
        """Journal answers before they are scored (see the module docstring)."""
        _append_lines(self.path / RESPONSES, (answer.as_json() for answer in answers))

    def read_responses(self) -> dict[tuple[str, int], StoredResponse]:
        return read_responses(self.path)

    def finish(self, records: list[SampleRecord], metrics: Mapping[str, Any], manifest: Mapping[str, Any]) -> None:
        rows = [asdict(record) for record in records]
        for row in rows:
            row["extracted"] = list(row["extracted"].items())
            row["scores"] = list(row["scores"].items())
            row["execution"] = list(row["execution"].items())
            row["groups"] = list(row["groups"].items())
        table = pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)
        temporary = self.path / (SAMPLES + ".tmp")
        pq.write_table(table, temporary)
        os.replace(temporary, self.path / SAMPLES)
        write_json_atomic(self.path / METRICS, metrics)
        write_json_atomic(self.path / MANIFEST, {**manifest, "status": "complete"})
