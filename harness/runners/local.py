"""The local runner: generation and scoring as two stages over the run's journals.

Generation (a `ResponseSource`: the model in this process, or replicas on a Ray cluster) runs on
its own thread; each batch of answers goes to the response cache and the responses journal
before anything scores it, then through a bounded queue to scoring in batches the task chooses
(where the source says: this process's main thread, or Ray tasks on the cluster), whose records
the main thread writes to the scored journal. So the model never waits for a
sandbox or sympy, a sandbox sees hundreds of programs of one language at a time when answers
come that fast, and a kill or a scorer failure loses nothing: a restart scores journaled answers
without the model and asks the model only for what neither journal nor cache holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Iterator, Sequence

from harness.models.base import Model
from harness.progress import Progress, SilentProgress
from harness.runners.generation import Answered, GenerationStage, Pending, ResponseSource
from harness.runners.scoring import Scorable, scoring_batches
from harness.store.cache import ResponseCache
from harness.store.run_dir import RunDir, StoredResponse
from harness.tasks.task import Task
from harness.types import SampleRecord

Done = dict[tuple[str, int], SampleRecord]


@dataclass
class RunStats:
    """Where the time went: the model's calls versus everything else the harness did."""

    model_s: float = 0.0
    model_requests: int = 0
    cached_requests: int = 0
    journaled_responses: int = 0
    resumed_records: int = 0
    errors: int = 0


class LocalRunner:
    """Runs one (task, model) plan into a run directory; the model's answers come from `source`."""

    def __init__(self, task: Task, model: Model, run_dir: RunDir, cache: ResponseCache | None,
                 source: ResponseSource, progress: Progress | None = None) -> None:
        self.task = task
        self.model = model
        self.run_dir = run_dir
        self.cache = cache if model.cacheable else None
        self.source = source
        self.progress = progress or SilentProgress()
        self.stats = RunStats()
        self._done: Done = {}
        self._fingerprint = ""

    def run(self, plan: Sequence[Pending], done: Done) -> list[SampleRecord]:
        """Answer and score every planned request not already in `done`; return all records in plan order."""
        self._done = done
        pending = [(sample, request) for sample, request in plan if (sample.id, request.attempt) not in done]
        self.stats.resumed_records = len(plan) - len(pending)
        self.progress.start(total=len(plan), completed=len(plan) - len(pending))
        try:
            journaled, pending = self._journaled(pending)
            cached, pending = self._cached(pending)
            self._fingerprint = self.model.fingerprint() if self.cache is not None and pending else ""
            generation = GenerationStage(self.source, pending, self._store_answers) if pending else None
            try:
                batches = chain(scoring_batches(journaled + cached, self.task.score_batch_size()),
                                self._answered_batches(generation))
                for records in self.source.records(self.task, batches):
                    self._keep(records)
            finally:
                if generation is not None:
                    generation.stop()
                self.stats.model_s = self.source.model_s
        finally:
            self.progress.stop()
        return [done[(sample.id, request.attempt)] for sample, request in plan]

    def _journaled(self, pending: list[Pending]) -> tuple[list[Scorable], list[Pending]]:
        """Answers the responses journal holds for these exact requests (a run cut short while
        scoring); they are scored without asking the model again."""
        stored = self.run_dir.read_responses()
        found: list[Scorable] = []
        rest: list[Pending] = []
        for sample, request in pending:
            answer = stored.get((sample.id, request.attempt))
            if answer is not None and answer.request_hash == request.content_hash():
                found.append((sample, request, answer.response, answer.cached))
            else:
                rest.append((sample, request))
        self.stats.journaled_responses = len(found)
        return found, rest

    def _cached(self, pending: list[Pending]) -> tuple[list[Scorable], list[Pending]]:
        if self.cache is None or not pending:
            return [], pending
        keyed = [(sample, request, request.content_hash()) for sample, request in pending]
        hits = self.cache.get_many(self.model.fingerprint(), [key for _, _, key in keyed])
        found = [(sample, request, hits[key], True) for sample, request, key in keyed if key in hits]
        self.run_dir.append_responses(StoredResponse(sample.id, request.attempt, key, hits[key], cached=True)
                                      for sample, request, key in keyed if key in hits)
        self.stats.cached_requests = len(found)
        return found, [(sample, request) for sample, request, key in keyed if key not in hits]

    def _store_answers(self, answers: list[Answered]) -> None:
        """Journal and cache a batch of the model's answers (on the generation thread)."""
        hashes = [request.content_hash() for _, request, _ in answers]
        self.run_dir.append_responses(StoredResponse(sample.id, request.attempt, key, response)
                                      for (sample, request, response), key in zip(answers, hashes))
        if self.cache is not None:
            self.cache.put_many(self._fingerprint, [(key, response) for (_, _, response), key in zip(answers, hashes)])
        self.stats.model_requests += len(answers)

    def _answered_batches(self, generation: GenerationStage | None) -> Iterator[list[Scorable]]:
        """The model's answers as they arrive, in scoring batches; ticks pass through."""
        for answers in generation.batches() if generation is not None else ():
            if not answers:
                yield []
            yield from scoring_batches([(sample, request, response, False) for sample, request, response in answers],
                                       self.task.score_batch_size())

    def _keep(self, records: list[SampleRecord]) -> None:
        """Journal a scored batch (on the main thread, the journal's only writer)."""
        self.run_dir.append(records)
        for record in records:
            self._done[(record.id, record.attempt)] = record
            self.stats.errors += record.error is not None
        self.progress.advance(len(records))
