"""The scoring stage keeps records in batch order, whether batches are scored one at a time or overlap."""

from __future__ import annotations

import threading
import time
from typing import Sequence

import pytest

from harness.runners.scoring import Scorable, score_here
from harness.tasks.task import ScoredResponse
from harness.types import Request, Response, Sample


class SlowFirstTask:
    """Scores each answer by its text; the first batch is the slowest, so overlapping batches finish out of order."""

    def __init__(self, concurrent: int) -> None:
        self.concurrent = concurrent
        self.threads: set[str] = set()
        self.most_at_once = 0
        self._running = 0
        self._lock = threading.Lock()

    def concurrent_batches(self) -> int:
        return self.concurrent

    def score_many(self, pairs: Sequence[tuple[Sample, Response]]) -> list[ScoredResponse]:
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
            self.threads.add(threading.current_thread().name)
        time.sleep(0.3 if pairs[0][0].index == 0 else 0.01)
        with self._lock:
            self._running -= 1
        return [ScoredResponse({}, {"score": float(response.text)}, {}) for _, response in pairs]


def _batches(count: int) -> list[list[Scorable]]:
    batches = []
    for number in range(count):
        sample = Sample(id=f"s/{number}", subset="s", index=number, data={}, target="")
        batches.append([(sample, Request(kind="generate", sample_id=sample.id, prompt="p"), Response(text=str(number)), False)])
    return batches


@pytest.mark.parametrize("concurrent", [1, 2, 3])
def test_records_come_in_batch_order(concurrent: int) -> None:
    task = SlowFirstTask(concurrent)
    batches = _batches(5)
    batches.insert(2, [])  # a tick: no answers came for a while
    records = [record for batch in score_here(task, batches) for record in batch]  # type: ignore[arg-type]
    assert [record.id for record in records] == [f"s/{number}" for number in range(5)]
    assert [record.scores["score"] for record in records] == [0.0, 1.0, 2.0, 3.0, 4.0]
    # the slow first batch is still running when the next starts; never more than allowed at once
    assert (task.most_at_once == 1) if concurrent == 1 else (2 <= task.most_at_once <= concurrent)


def test_one_batch_at_a_time_stays_on_the_calling_thread() -> None:
    """The official MATH graders time out with signal.alarm, which works only on the main thread."""
    task = SlowFirstTask(1)
    list(score_here(task, _batches(3)))  # type: ignore[arg-type]
    assert task.threads == {threading.current_thread().name}


class FailingSecondTask(SlowFirstTask):
    """The second batch's scorer fails, as a sandbox that cannot start would."""

    def __init__(self) -> None:
        super().__init__(2)
        self.scored: list[int] = []

    def score_many(self, pairs: Sequence[tuple[Sample, Response]]) -> list[ScoredResponse]:
        number = pairs[0][0].index
        with self._lock:
            self.scored.append(number)
        if number == 1:
            raise RuntimeError("sandbox failed")
        return super().score_many(pairs)


def test_a_failed_batch_stops_the_stage_and_no_later_batch_starts() -> None:
    task = FailingSecondTask()
    with pytest.raises(RuntimeError, match="sandbox failed"):
        list(score_here(task, _batches(6)))  # type: ignore[arg-type]
    assert 1 in task.scored and max(task.scored) <= 2  # at most the batch already in flight beside it
