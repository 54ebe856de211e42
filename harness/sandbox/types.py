"""What a sandbox is asked to run and what it reports back.

A verdict is never a bare bool: a program that did not pass says why (it failed its test, did
not compile, ran out of time or memory, flooded its output), and a `sandbox_error` (toolchain
missing, backend down) is kept apart so it is never scored as the model's failure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Protocol, Sequence

Status = Literal["passed", "failed", "compile_error", "timeout", "memory", "output_limit", "sandbox_error"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "compile_error", "timeout", "memory", "output_limit", "sandbox_error")
MODEL_FAILURES = frozenset({"failed", "compile_error", "timeout", "memory", "output_limit"})


@dataclass(frozen=True)
class Program:
    """One source file in one language; the language's `language.toml` says how to build and run it."""

    language: str
    source: str

    def source_hash(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Limits:
    """Resource limits for every program of a batch; None takes the language's own default.

    `cpus` is the CPU time a program may use per wall-clock second, summed over its threads and
    processes (Docker's `--cpus`). It is part of the cache key because a verdict can depend on it:
    the JVM, Go and .NET size their thread pools from the quota they find (what
    `availableProcessors()` prints), and a parallel program's timeout comes sooner under a cap.
    """

    timeout_s: float | None = None
    memory_mb: int = 2048
    pids: int = 128
    output_bytes: int = 4 << 20
    file_bytes: int = 64 << 20
    cpus: float = 1.0

    def __post_init__(self) -> None:
        if not self.cpus > 0:
            raise ValueError(f"cpus={self.cpus}: give the CPUs a program may use, a positive number such as 1.0 or 0.5")

    def key(self) -> str:
        return f"{self.timeout_s}/{self.memory_mb}/{self.pids}/{self.output_bytes}/{self.file_bytes}/{self.cpus}"


@dataclass(frozen=True)
class Execution:
    """The outcome of one program: status, exit code, output (truncated) and why, if not passed."""

    status: Status
    exit_code: int | None
    duration_s: float
    stdout: str = ""
    stderr: str = ""
    reason: str = ""
    cached: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "exit_code": self.exit_code, "duration_s": round(self.duration_s, 4),
                "stdout": self.stdout, "stderr": self.stderr, "reason": self.reason}


class Sandbox(Protocol):
    """Runs programs in isolation. Batched, so a backend can amortise compilers across programs."""

    name: str

    def run(self, programs: Sequence[Program], limits: Limits | None = None) -> list[Execution]: ...

    def close(self) -> None: ...
