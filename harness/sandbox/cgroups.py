"""Per-program memory and pids limits through cgroup v1, where this machine offers it.

rlimits alone cannot do this job: RLIMIT_NPROC is not enforced for root, and RLIMIT_AS breaks
the JVM long before a program really uses that much memory. A cgroup caps what a program and
all its children actually touch, counts OOM kills (so the verdict can say `memory`), and lists
every process still alive so none is left behind after a timeout.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()


def _own_path(controller: str) -> Path | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return ROOT / controller / path.lstrip("/")
    return None


def available() -> str | None:
    """None if memory and pids cgroups can be created here, else why not."""
    for controller in ("memory", "pids"):
        base = _own_path(controller)
        if base is None or not (base / "cgroup.procs").exists():
            return f"no cgroup v1 {controller} controller mounted"
        probe = base / f"harness-probe-{os.getpid()}"
        try:
            probe.mkdir(exist_ok=True)
            probe.rmdir()
        except OSError as error:
            return f"cannot create a {controller} cgroup ({error.strerror})"
    return None


class ProgramCgroup:
    """A memory cgroup and a pids cgroup for one program; `procs_files` are what its wrapper joins."""

    def __init__(self, memory_bytes: int, max_pids: int) -> None:
        name = f"harness-{os.getpid()}-{next(_counter)}"
        self.memory = _own_path("memory") / name  # type: ignore[operator]
        self.pids = _own_path("pids") / name  # type: ignore[operator]
        self.memory.mkdir()
        self.pids.mkdir()
        (self.memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap_limit = self.memory / "memory.memsw.limit_in_bytes"
        if swap_limit.exists():
            swap_limit.write_text(str(memory_bytes))
        (self.pids / "pids.max").write_text(str(max_pids))

    @property
    def procs_files(self) -> tuple[str, str]:
        return str(self.memory / "cgroup.procs"), str(self.pids / "cgroup.procs")

    def oom_killed(self) -> bool:
        for line in (self.memory / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1]) > 0
        return int((self.memory / "memory.failcnt").read_text()) > 0

    def kill_all(self) -> None:
        """SIGKILL everything still in the cgroup, until it is empty."""
        for _ in range(100):
            pids = [int(pid) for pid in (self.pids / "cgroup.procs").read_text().split()]
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for path in (self.memory, self.pids):
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.01)
