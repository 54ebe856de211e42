"""`oracle:` answers every request with the task's gold answer, in the task's answer format.

It validates a task end to end (data, prompts, extraction, scoring, and for code tasks the
sandbox): a task whose oracle run does not score 100% has a bug somewhere in that chain.
For a reward request the reference is how many candidates (listed first) are correct: those
score 1 and the rest 0. For a loglikelihood request (a multiple-choice question) it is the gold
options' indices (JSON): those get log-probability 0 (certain) and the others -1e9, so every
choice metric (acc, acc_norm, mc2) picks the gold ones.
"""

from __future__ import annotations

import json
from typing import Sequence

from harness.errors import UsageError
from harness.types import Request, Response


# Finite, so answers stay plain JSON; exp() of it is 0, so mc2 gives the gold options all the mass.
UNLIKELY = -1e9


class OracleModel:
    """Returns `request.reference`, which the task fills from its `oracle` template."""

    chunk_size = 256
    cacheable = False

    def __init__(self, name: str = "") -> None:
        self.name = name or "oracle"

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        responses = []
        for request in requests:
            if request.reference is None:
                raise UsageError(
                    f"task gives no gold answer for sample {request.sample_id!r}: "
                    "add an `oracle:` template to its task.yaml to use --model oracle"
                )
            if request.kind == "reward":
                assert request.candidates is not None
                correct = int(request.reference)
                responses.append(Response(scores=tuple(float(i < correct) for i in range(len(request.candidates)))))
            elif request.kind == "loglikelihood":
                assert request.candidates is not None
                gold = set(json.loads(request.reference))
                responses.append(Response(scores=tuple(0.0 if i in gold else UNLIKELY for i in range(len(request.candidates))),
                                          greedy=tuple(i in gold for i in range(len(request.candidates)))))
            else:
                responses.append(Response(text=request.reference, finish_reason="stop"))
        return responses

    def fingerprint(self) -> str:
        return "oracle"
