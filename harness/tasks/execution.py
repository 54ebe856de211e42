"""Execution-based scoring: answers become programs, a sandbox runs them in one batch.

The task's `scorer.py` turns an extracted answer into a program (`program` hook, returning
`(language, source)`) or refuses it with a reason (an anti-copy guard, say). Running a whole
batch at once lets the sandbox de-duplicate identical programs, reuse cached verdicts and
amortise compilers, which is why this scorer asks for batches of hundreds. A sandbox error
scores NaN (unscored, reported as incomplete), never 0: a missing toolchain is not the model's
failure.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Sequence

from harness.sandbox.types import Execution, Program, Sandbox
from harness.scoring.protocol import BatchScorer, Outcome, ScoreItem

GUARD_STATUS = "guard"


def _outcome(execution: Execution) -> Outcome:
    if execution.status == "sandbox_error":
        return Outcome(math.nan, execution.status, execution.reason)
    score = 1.0 if execution.status == "passed" else 0.0
    detail = execution.reason
    if execution.status != "passed" and execution.stderr.strip():
        detail = f"{detail}: {execution.stderr.strip().splitlines()[0][:200]}"
    return Outcome(score, execution.status, detail)


class ExecutionScorer(BatchScorer):
    """Builds programs with the task's hook and scores them with one sandbox batch per call."""

    aggregation = "pass@k"
    batch_size = 1024  # a whole CRUXEval-X subset (at most 800 programs of one language) in one batch
    runs_programs = True

    def __init__(self, build_program: Callable[..., Any], sandbox_factory: Callable[[], Sandbox]) -> None:
        self.build_program = build_program
        self.sandbox_factory = sandbox_factory
        self._sandbox: Sandbox | None = None
        self._sandbox_lock = threading.Lock()

    @property
    def sandbox(self) -> Sandbox:
        with self._sandbox_lock:
            if self._sandbox is None:
                self._sandbox = self.sandbox_factory()
            return self._sandbox

    def __getstate__(self) -> dict[str, Any]:
        """Shipped to a Ray worker without its lock or sandbox: the worker starts its own sandbox."""
        return {**self.__dict__, "_sandbox": None, "_sandbox_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _sandbox_lock=threading.Lock())

    @property
    def concurrent_batches(self) -> int:
        """As many as the sandbox runs at once (the local one overlaps two; Docker, one)."""
        return getattr(self.sandbox, "concurrent_runs", 1)

    def score_batch(self, items: Sequence[ScoreItem], **options: Any) -> list[Outcome]:
        """Outcomes in order; `options` (the metric's, naming the program hook) were read at construction."""
        outcomes: list[Outcome | None] = []
        programs: list[Program] = []
        slots: list[int] = []
        for item in items:
            built = self.build_program(item.answer, item.sample.data, item.args)
            if isinstance(built, str):
                outcomes.append(Outcome(0.0, GUARD_STATUS, built))
            else:
                slots.append(len(outcomes))
                outcomes.append(None)
                programs.append(Program(language=built[0], source=built[1]))
        if programs:
            for slot, execution in zip(slots, self.sandbox.run(programs)):
                outcomes[slot] = _outcome(execution)
        missing = [index for index, outcome in enumerate(outcomes) if outcome is None]
        if missing:
            raise RuntimeError(f"sandbox returned no verdict for {len(missing)} programs")
        return outcomes  # type: ignore[return-value]

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
