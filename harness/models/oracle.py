"""`oracle:` answers every request with the task's gold answer, in the task's answer format.

It validates a task end to end (data, prompts, extraction, scoring, and for code tasks the
sandbox): a task whose oracle run does not score 100% has a bug somewhere in that chain.
For a reward request the reference is how many candidates (listed first) are correct: those
score 1 and the rest 0.
"""

from __future__ import annotations

from typing import Sequence

from harness.errors import UsageError
from harness.types import Request, Response


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
            else:
                responses.append(Response(text=request.reference, finish_reason="stop"))
        return responses

    def fingerprint(self) -> str:
        return "oracle"
