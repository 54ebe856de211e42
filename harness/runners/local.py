"""The local runner: cache lookups, chunked model calls, scoring, journaling, in one process.

Requests are grouped by subset and sorted longest first within it before chunking (like
lm-eval's Collator, which sees one task at a time), so each chunk a backend batches holds prompts
of similar length and pads little, and each chunk a sandbox executes holds one or two languages
(a warm batch compiler then serves hundreds of programs, not a handful). After every chunk the answers
go to the response cache and the scored records to the run's journal: a kill loses at most the
chunk in flight, and a restart asks the model only for what neither holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, Sequence

from harness.models.base import Model
from harness.store.cache import ResponseCache
from harness.store.run_dir import RunDir
from harness.tasks.task import Task
from harness.types import Request, Response, Sample, SampleRecord

SCORE_CHUNK = 256


class Progress(Protocol):
    """What the runner reports while it works; the CLI shows it as a progress bar."""

    def start(self, total: int, completed: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def stop(self) -> None: ...


class SilentProgress:
    def start(self, total: int, completed: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class RunStats:
    """Where the time went: the model's calls versus everything else the harness did."""

    model_s: float = 0.0
    model_requests: int = 0
    cached_requests: int = 0
    resumed_records: int = 0
    errors: int = 0


def _records(task: Task, chunk: Sequence[tuple[Sample, Request, Response]], cached: bool) -> list[SampleRecord]:
    scored = task.score_many([(sample, response) for sample, _, response in chunk])
    return [
        SampleRecord(
            id=sample.id, subset=sample.subset, attempt=request.attempt, prompt=request.prompt_text(),
            response=response.text, target=sample.target, extracted=result.extracted, scores=result.scores,
            latency_s=response.latency_s, input_tokens=response.input_tokens,
            output_tokens=response.output_tokens, cached=cached, error=response.error, execution=result.execution,
            groups=dict(sample.groups), trace=result.trace,
            reward_scores=tuple(response.scores) if request.kind == "reward" and response.scores is not None else None,
        )
        for (sample, request, response), result in zip(chunk, scored)
    ]


def generation_order(pending: Sequence[tuple[Sample, Request]]) -> list[tuple[Sample, Request]]:
    """Subset by subset, longest prompt first within each (see the module docstring for why)."""
    return sorted(pending, key=lambda pair: (pair[0].subset, -len(pair[1].prompt_text())))


class LocalRunner:
    """Runs one (task, model) plan into a run directory."""

    def __init__(self, task: Task, model: Model, run_dir: RunDir, cache: ResponseCache | None,
                 progress: Progress | None = None) -> None:
        self.task = task
        self.model = model
        self.run_dir = run_dir
        self.cache = cache if model.cacheable else None
        self.progress = progress or SilentProgress()
        self.stats = RunStats()

    def run(self, plan: Sequence[tuple[Sample, Request]], done: dict[tuple[str, int], SampleRecord]) -> list[SampleRecord]:
        """Answer and score every planned request not already in `done`; return all records in plan order."""
        pending = [(sample, request) for sample, request in plan if (sample.id, request.attempt) not in done]
        self.stats.resumed_records = len(plan) - len(pending)
        self.progress.start(total=len(plan), completed=len(plan) - len(pending))
        try:
            pending = self._replay_cached(pending, done)
            self._generate(pending, done)
        finally:
            self.progress.stop()
        return [done[(sample.id, request.attempt)] for sample, request in plan]

    def _replay_cached(self, pending: list[tuple[Sample, Request]],
                       done: dict[tuple[str, int], SampleRecord]) -> list[tuple[Sample, Request]]:
        if self.cache is None or not pending:
            return pending
        keyed = [(sample, request, request.content_hash()) for sample, request in pending]
        hits = self.cache.get_many(self.model.fingerprint(), [key for _, _, key in keyed])
        answered = [(s, r, hits[key]) for s, r, key in keyed if key in hits]
        for start in range(0, len(answered), SCORE_CHUNK):
            chunk = answered[start:start + SCORE_CHUNK]
            self._keep(_records(self.task, chunk, cached=True), done)
        self.stats.cached_requests = len(answered)
        return [(s, r) for s, r, key in keyed if key not in hits]

    def _generate(self, pending: list[tuple[Sample, Request]], done: dict[tuple[str, int], SampleRecord]) -> None:
        ordered = generation_order(pending)
        size = max(1, int(self.model.chunk_size))
        fingerprint = self.model.fingerprint() if self.cache is not None else ""
        for start in range(0, len(ordered), size):
            chunk = ordered[start:start + size]
            began = time.perf_counter()
            responses = self.model.generate([request for _, request in chunk])
            self.stats.model_s += time.perf_counter() - began
            self.stats.model_requests += len(chunk)
            if len(responses) != len(chunk):
                raise RuntimeError(f"model {self.model.name} returned {len(responses)} responses for {len(chunk)} requests")
            if self.cache is not None:
                self.cache.put_many(fingerprint, [(r.content_hash(), resp) for (_, r), resp in zip(chunk, responses)])
            self._keep(_records(self.task, [(s, r, resp) for (s, r), resp in zip(chunk, responses)], cached=False), done)

    def _keep(self, records: list[SampleRecord], done: dict[tuple[str, int], SampleRecord]) -> None:
        self.run_dir.append(records)
        for record in records:
            done[(record.id, record.attempt)] = record
            self.stats.errors += record.error is not None
        self.progress.advance(len(records))
