"""The scoring stage: answers to sample records, in batches of the task's choosing.

A batch holds answers of one subset, up to the task's batch size: hundreds of programs of one
language for a sandbox (so a warm compiler serves many and identical programs run once), fewer
for text metrics, so records reach the journal and the progress bar steadily. An empty batch is
a tick: no answers came for a while, and a source that scores elsewhere hands on what finished.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import groupby
from typing import Iterable, Iterator, Sequence

from harness.tasks.task import Task
from harness.types import Request, Response, Sample, SampleRecord

# One answered request and whether its answer came from the response cache.
Scorable = tuple[Sample, Request, Response, bool]


def scoring_batches(items: Sequence[Scorable], batch_size: int) -> Iterator[list[Scorable]]:
    """`items` by subset (arrival order kept within one), cut into batches of `batch_size`."""
    by_subset = sorted(items, key=lambda item: item[0].subset)
    for _, group in groupby(by_subset, key=lambda item: item[0].subset):
        members = list(group)
        for start in range(0, len(members), batch_size):
            yield members[start:start + batch_size]


def score_here(task: Task, batches: Iterable[list[Scorable]]) -> Iterator[list[SampleRecord]]:
    """Score each batch in this process, records in batch order.

    On this thread by default (official graders time sympy out with `signal.alarm`, which works
    only on the main thread); a task whose scorers all allow it has that many batches in flight on
    threads, so a sandbox starts the next batch's programs while this one's last ones finish.
    """
    limit = task.concurrent_batches()
    if limit <= 1:
        for batch in batches:
            if batch:
                yield sample_records(task, batch)
        return
    pool = ThreadPoolExecutor(limit, thread_name_prefix="scoring")
    try:
        in_flight: deque[Future[list[SampleRecord]]] = deque()
        for batch in batches:
            if batch:
                in_flight.append(pool.submit(sample_records, task, batch))
            while in_flight and (len(in_flight) >= limit or in_flight[0].done()):
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
    finally:  # stopped early (Ctrl-C, a failed batch): batches not yet started never start
        pool.shutdown(wait=True, cancel_futures=True)


def sample_records(task: Task, batch: Sequence[Scorable]) -> list[SampleRecord]:
    """Score a batch and build its records, everything stored about each answer included."""
    scored = task.score_many([(sample, response) for sample, _, response, _ in batch])
    return [
        SampleRecord(
            id=sample.id, subset=sample.subset, attempt=request.attempt, prompt=request.prompt_text(),
            response=response.text, target=sample.target, extracted=result.extracted, scores=result.scores,
            latency_s=response.latency_s, input_tokens=response.input_tokens,
            output_tokens=response.output_tokens, cached=cached, error=response.error, execution=result.execution,
            groups=dict(sample.groups), trace=result.trace,
            reward_scores=tuple(response.scores) if request.kind == "reward" and response.scores is not None else None,
            choice_logprobs=tuple(response.scores) if request.kind == "loglikelihood" and response.scores is not None else None,
            choice_greedy=tuple(response.greedy) if request.kind == "loglikelihood" and response.greedy is not None else None,
            finish_reason=response.finish_reason,
        )
        for (sample, request, response, cached), result in zip(batch, scored)
    ]
