"""Execution-based scoring: answers become programs, a sandbox runs them in one batch.

The task's `scorer.py` turns an extracted answer into a program (`program` hook, returning
`(language, source)`) or refuses it with a reason (an anti-copy guard, say). Running a whole
chunk at once lets the sandbox de-duplicate identical programs, reuse cached verdicts and
amortise compilers. A sandbox error scores NaN (unscored, reported as incomplete), never 0:
a missing toolchain is not the model's failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from harness.sandbox.types import Execution, Program, Sandbox

GUARD_STATUS = "guard"


@dataclass(frozen=True)
class Verdict:
    score: float
    status: str
    reason: str


def _verdict(execution: Execution) -> Verdict:
    if execution.status == "sandbox_error":
        return Verdict(math.nan, execution.status, execution.reason)
    score = 1.0 if execution.status == "passed" else 0.0
    detail = execution.reason
    if execution.status != "passed" and execution.stderr.strip():
        detail = f"{detail}: {execution.stderr.strip().splitlines()[0][:200]}"
    return Verdict(score, execution.status, detail)


class ExecutionScorer:
    """Builds programs with the task's hook and scores them with one sandbox batch."""

    def __init__(self, build_program: Callable[..., Any], sandbox_factory: Callable[[], Sandbox]) -> None:
        self.build_program = build_program
        self.sandbox_factory = sandbox_factory
        self._sandbox: Sandbox | None = None

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = self.sandbox_factory()
        return self._sandbox

    def score(self, items: Sequence[tuple[str, Mapping[str, Any]]], args: Mapping[str, Any]) -> list[Verdict]:
        """Verdicts for (answer, sample data) pairs, in order."""
        verdicts: list[Verdict | None] = []
        programs: list[Program] = []
        slots: list[int] = []
        for answer, data in items:
            built = self.build_program(answer, data, args)
            if isinstance(built, str):
                verdicts.append(Verdict(0.0, GUARD_STATUS, built))
            else:
                slots.append(len(verdicts))
                verdicts.append(None)
                programs.append(Program(language=built[0], source=built[1]))
        if programs:
            for slot, execution in zip(slots, self.sandbox.run(programs)):
                verdicts[slot] = _verdict(execution)
        missing = [index for index, verdict in enumerate(verdicts) if verdict is None]
        if missing:
            raise RuntimeError(f"sandbox returned no verdict for {len(missing)} programs")
        return verdicts  # type: ignore[return-value]

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
