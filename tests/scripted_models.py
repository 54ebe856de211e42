"""Deterministic models for engine tests: answers depend only on the request, never on batching."""

from __future__ import annotations

import os
import re
import time
from typing import Sequence

from harness.types import Request, Response

STALL_S = 300.0


class ScriptedGSM8KModel:
    """Answers GSM8K prompts right for even sample ids and wrong for odd ones.

    It reads the gold answer from `request.reference` (as the oracle does) so the expected score
    is known exactly. Every call is appended to the file named by $SCRIPTED_MODEL_LOG, so a test
    can count how often the model was really asked; `delay` slows each chunk, and a replica that
    has answered `stall_after` requests holds every later chunk for five minutes, so a test can kill a
    run midway however loaded the machine is.
    """

    cacheable = True

    def __init__(self, name: str = "", delay: float = 0.0, chunk_size: int = 4, stall_after: int = 0) -> None:
        self.name = name or "scripted"
        self.delay = float(delay)
        self.chunk_size = int(chunk_size)
        self.stall_after = int(stall_after)
        self.answered = 0

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        log = os.environ.get("SCRIPTED_MODEL_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.writelines(f"{request.sample_id}\n" for request in requests)
        stalled = 0 < self.stall_after <= self.answered
        time.sleep(STALL_S if stalled else self.delay)
        self.answered += len(requests)
        return [self._answer(request) for request in requests]

    @staticmethod
    def _answer(request: Request) -> Response:
        gold = re.sub(r"^#### ", "", request.reference or "")
        right = int(request.sample_id.rsplit("/", 1)[-1]) % 2 == 0
        answer = gold if right else gold + "1"
        return Response(text=f"Let me think.\n#### {answer}", output_tokens=5, latency_s=0.001)

    def fingerprint(self) -> str:
        return "scripted-gsm8k-v1"


class FirstChoiceModel:
    """Prefers the first option of every multiple-choice question: log-probability 0 for it and
    -1e9 for the others, so acc and acc_norm both score the share of questions whose gold is first."""

    name = "first-choice"
    chunk_size = 256
    cacheable = False

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        return [Response(scores=tuple(0.0 if i == 0 else -1e9 for i in range(len(request.candidates or ()))),
                         greedy=tuple(i == 0 for i in range(len(request.candidates or ()))))
                for request in requests]

    def fingerprint(self) -> str:
        return "first-choice"
