"""The generation stage: answers pending requests and hands them on as they arrive.

A `ResponseSource` is what a runner profile chooses: `ModelChunks` calls one in-process model
chunk by chunk; the Ray source shards the same requests over model replicas on a cluster. Both
yield batches of answered requests in whatever order they finish. `GenerationStage` drives a
source on a thread of its own, stores each batch (journal and cache) before anything scores it,
and passes it on through a bounded queue. The source also says where its answers are scored:
the local one on the main thread (official graders time sympy out with `signal.alarm`, which
works only there), the Ray one as Ray tasks on the cluster's nodes.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol, Sequence

from harness.errors import UsageError
from harness.models.base import Model, ModelSpec
from harness.runners.scoring import Scorable, score_here
from harness.types import Request, Response, Sample, SampleRecord

if TYPE_CHECKING:
    from harness.tasks.task import Task

Pending = tuple[Sample, Request]
Answered = tuple[Sample, Request, Response]


class ResponseSource(Protocol):
    """Answers requests for one run. `model_s` is the time spent answering (summed over workers)."""

    model_s: float

    def answer(self, pending: Sequence[Pending]) -> Iterator[list[Answered]]:
        """Yield every pending request once, answered, in batches as they finish."""
        ...

    def records(self, task: Task, batches: Iterable[list[Scorable]]) -> Iterator[list[SampleRecord]]:
        """Score every batch once, yielding each batch's records as it is done (in any order);
        called on the main thread, which stores them."""
        ...

    def close(self) -> None: ...


def generation_order(pending: Sequence[Pending]) -> list[Pending]:
    """Subset by subset, longest prompt first within each.

    Like lm-eval's Collator (which sees one task at a time): a chunk a backend batches holds
    prompts of similar length and pads little, and answers reach the scorer a subset (a
    language) at a time, so a sandbox batch holds one toolchain.
    """
    return sorted(pending, key=lambda pair: (pair[0].subset, -len(pair[1].prompt_text())))


class ModelChunks:
    """The local source: one model in this process, asked `model.chunk_size` requests at a time."""

    def __init__(self, model: Model, model_spec: ModelSpec | None = None, address: str | None = None,
                 **options: object) -> None:
        if address or options:
            extra = ", ".join([*(["address " + address] if address else []), *options])
            raise UsageError(f"the local runner takes no options ({extra}); drop them or use --runner ray")
        self.model = model
        self.model_s = 0.0

    def answer(self, pending: Sequence[Pending]) -> Iterator[list[Answered]]:
        ordered = generation_order(pending)
        size = max(1, int(self.model.chunk_size))
        for start in range(0, len(ordered), size):
            chunk = ordered[start:start + size]
            began = time.perf_counter()
            responses = self.model.generate([request for _, request in chunk])
            self.model_s += time.perf_counter() - began
            if len(responses) != len(chunk):
                raise RuntimeError(f"model {self.model.name} returned {len(responses)} responses "
                                   f"for {len(chunk)} requests")
            yield [(sample, request, response) for (sample, request), response in zip(chunk, responses)]

    def records(self, task: Task, batches: Iterable[list[Scorable]]) -> Iterator[list[SampleRecord]]:
        return score_here(task, batches)

    def close(self) -> None:
        pass


QUEUE_BATCHES = 16
# With no answer for this long, `batches` yields an empty batch (a tick), so records scored
# elsewhere reach the journal while the model is slow.
TICK_S = 1.0


class _Finished:
    """The queue's last item: generation ended, with the error that ended it, if any."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class GenerationStage:
    """Runs a source on a daemon thread; `store` persists each batch before it is queued.

    The queue is bounded so a fast model cannot pile up unscored answers without limit (they are
    journaled, so a bound costs no safety, only memory); a slow scorer holds the model back only
    when the queue is full.
    """

    def __init__(self, source: ResponseSource, pending: Sequence[Pending],
                 store: Callable[[list[Answered]], None], queue_batches: int = QUEUE_BATCHES) -> None:
        self._queue: queue.Queue[list[Answered] | _Finished] = queue.Queue(maxsize=queue_batches)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(source, list(pending), store),
                                        name="harness-generation", daemon=True)
        self._thread.start()

    def batches(self) -> Iterator[list[Answered]]:
        """Answers as they arrive: each item is everything that was waiting (so batches grow
        when the scorer is the slower stage), or nothing after `TICK_S` without an answer.
        Raises the generation error, after the answers given before it."""
        while True:
            try:
                waiting = [self._queue.get(timeout=TICK_S)]
            except queue.Empty:
                yield []
                continue
            while True:
                try:
                    waiting.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            answers = [item for batch in waiting if not isinstance(batch, _Finished) for item in batch]
            if answers:
                yield answers
            finished = next((item for item in waiting if isinstance(item, _Finished)), None)
            if finished is not None:
                if finished.error is not None:
                    raise finished.error
                return

    def stop(self) -> None:
        """Ask the thread to stop after the call in progress (whose answers it still stores)."""
        self._stopping.set()

    def _work(self, source: ResponseSource, pending: list[Pending], store: Callable[[list[Answered]], None]) -> None:
        error: BaseException | None = None
        try:
            for batch in source.answer(pending):
                store(batch)
                if self._stopping.is_set():
                    return
                self._put(batch)
        except BaseException as failure:  # handed to the consuming thread
            error = failure
        self._put(_Finished(error))

    def _put(self, item: list[Answered] | _Finished) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
