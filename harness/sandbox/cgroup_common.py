"""What program cgroups of both versions share: the record of how they are made here, the CPU quota
arithmetic, their names, reading their stat files, and emptying them before they are removed.

It is a module of its own because `cgroups.py`, the entry point that picks a version, imports
`cgroup_v1.py` and `cgroup_v2.py`: what they share cannot live there without an import cycle.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

LIMITED = ("memory", "pids")  # the controllers without which the rlimit fallback is used
CPU_PERIOD_US = 100_000  # the kernel's default CFS period, as Docker's --cpus uses
MIN_CPU_QUOTA_US = 1_000  # the smallest quota either version accepts
_counter = itertools.count()


@dataclass(frozen=True)
class Support:
    """How program cgroups are made here: the version, where, and why a limit is missing."""

    version: int | None  # None: no cgroups, `reason` says why
    parents: Mapping[str, Path] = field(default_factory=dict)  # v1: controller -> folder; v2: {"": folder}
    reason: str = ""
    cpu_reason: str = ""  # why there is no CPU cap ('' where there is one)
    swap_accounted: bool = False  # v2: whether memory.swap.max exists, so swap can be refused


def cpu_quota_us(cpus: float) -> int:
    """CPU time per CFS period that caps a program at `cpus` CPUs (Docker's --cpus arithmetic)."""
    return max(MIN_CPU_QUOTA_US, round(cpus * CPU_PERIOD_US))


def unique_name() -> str:
    return f"harness-{os.getpid()}-{next(_counter)}"


def stat_count(text: str, key: str) -> int:
    """The value of a `key value` line of a cgroup stat file (memory.events, memory.oom_control), or 0."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def pauses(total_s: float) -> Iterator[None]:
    """Yields, then sleeps, again and again for about `total_s` in all: 1 ms at first, then up to
    10 ms. A sandbox's init is often still exiting when its step ends, and is gone within a
    millisecond or two: a first pause of 10 ms made every fourth step that much slower."""
    pause, waited = 0.001, 0.0
    while waited < total_s:
        yield
        time.sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.01)


def kill_listed(procs: Path) -> None:
    """SIGKILL every process listed in `procs` until it lists none (a fork may race a kill)."""
    for _ in pauses(1.0):
        pids = [int(pid) for pid in procs.read_text().split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def remove_emptied(folder: Path) -> None:
    """Remove a cgroup, giving the kernel a moment to let go of processes just killed."""
    for _ in pauses(0.5):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            pass
