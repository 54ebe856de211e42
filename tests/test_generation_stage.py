"""The generation stage hands answers on as they come, and ticks while the model is slow, so a
source that scores elsewhere (Ray) can journal what finished without waiting for the next answer."""

from __future__ import annotations

import threading
from typing import Iterator, Sequence

import pytest

from harness.runners import generation
from harness.runners.generation import Answered, GenerationStage, Pending
from harness.types import Request, Response, Sample


def _pending(count: int) -> list[Pending]:
    samples = [Sample(id=f"s/{index}", subset="s", index=index, data={}, target="") for index in range(count)]
    return [(sample, Request(kind="generate", sample_id=sample.id, prompt="2+2?")) for sample in samples]


class HeldSource:
    """Answers the first request, then waits for `release` before answering the rest."""

    model_s = 0.0

    def __init__(self) -> None:
        self.release = threading.Event()

    def answer(self, pending: Sequence[Pending]) -> Iterator[list[Answered]]:
        first, *rest = pending
        yield [(*first, Response(text="4"))]
        self.release.wait(timeout=30)
        yield [(sample, request, Response(text="4")) for sample, request in rest]


def test_a_slow_model_gives_ticks_between_its_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generation, "TICK_S", 0.01)
    source, stored = HeldSource(), []
    stage = GenerationStage(source, _pending(3), stored.extend)
    batches = stage.batches()
    assert [sample.id for sample, _, _ in next(batches)] == ["s/0"]
    assert next(batches) == [], "while the model holds its answers, the stage ticks"
    source.release.set()
    rest = [batch for batch in batches if batch]
    assert [[sample.id for sample, _, _ in batch] for batch in rest] == [["s/1", "s/2"]]
    assert [sample.id for sample, _, _ in stored] == ["s/0", "s/1", "s/2"], "every answer stored before it is handed on"
