"""Program cgroups in cgroup v2: memory.max with memory.swap.max 0, pids.max, cpu.max, OOM kills read
from memory.events, and cgroup.kill to end everything.

Program cgroups are made beside this process in its own v2 cgroup, which must be delegated to it (a
root container's own cgroup, or `systemd-run --scope -p Delegate=yes`). A non-root cgroup cannot both
hold processes and hand controllers to its children (cgroup v2's "no internal processes" rule), so
where enabling them is refused as busy, the processes of that cgroup move into a leaf of it,
`harness-leaf`, first: what moby's dind and kind's entrypoints do, and what systemd asks of a
delegated service.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from harness.sandbox.cgroup_common import (CPU_PERIOD_US, LIMITED, Support, cpu_quota_us, kill_listed, pauses,
                                           remove_emptied, stat_count, unique_name)

LEAF = "harness-leaf"  # where a delegated v2 cgroup's own processes move so its children get controllers


def offered_controllers(folder: Path) -> set[str]:
    try:
        return set((folder / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def _move_into_leaf(base: Path) -> None:
    """Move every process of `base` into its leaf, so `base` may hand controllers to its children."""
    leaf = base / LEAF
    leaf.mkdir(exist_ok=True)
    for _ in range(3):  # a process forked while the others moved is still in `base`: go again
        pids = (base / "cgroup.procs").read_text().split()
        if not pids:
            return
        for pid in pids:
            try:
                (leaf / "cgroup.procs").write_text(pid)
            except ProcessLookupError:  # it exited meanwhile
                pass


def _enable(base: Path, controllers: list[str]) -> None:
    """Hand `controllers` to the children of `base`, moving its own processes into a leaf if it must."""
    control = base / "cgroup.subtree_control"
    if set(controllers) <= set(control.read_text().split()):
        return
    line = " ".join(f"+{controller}" for controller in controllers)
    try:
        control.write_text(line)
    except OSError as error:
        if error.errno != errno.EBUSY:  # busy: `base` holds processes ("no internal processes")
            raise
        _move_into_leaf(base)
        control.write_text(line)


def delegated_base(own: Path) -> Path:
    """The v2 cgroup program cgroups go in: this process's own, or the one above the leaf it moved into."""
    return own.parent if own.name == LEAF else own


def prepare_v2(own: Path) -> Support:
    """Program cgroups beside this process in its own v2 cgroup (above its leaf, once it moved there)."""
    base = delegated_base(own)
    offered = offered_controllers(base)
    missing = [controller for controller in LIMITED if controller not in offered]
    if missing:
        return Support(None, reason=f"cgroup v2 does not offer {' and '.join(missing)} to {base} "
                                    f"(its cgroup.controllers: {' '.join(sorted(offered)) or 'none'})")
    cpu_reason = "" if "cpu" in offered else f"cgroup v2 does not offer the cpu controller to {base}"
    try:
        _enable(base, [*LIMITED, *([] if cpu_reason else ["cpu"])])
    except OSError as error:
        if cpu_reason:
            return _refused(base, error)
        cpu_reason = f"cannot enable the cpu controller in {base} ({error.strerror})"
        try:
            _enable(base, list(LIMITED))
        except OSError as error_without_cpu:
            return _refused(base, error_without_cpu)
    probe = base / f"harness-probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
        swap_accounted = (probe / "memory.swap.max").exists()
        probe.rmdir()
    except OSError as error:
        return Support(None, reason=f"cannot create a cgroup in {base} ({error.strerror})")
    return Support(2, {"": base}, cpu_reason=cpu_reason, swap_accounted=swap_accounted)


def _refused(base: Path, error: OSError) -> Support:
    return Support(None, reason=f"cannot enable memory and pids in {base}/cgroup.subtree_control ({error.strerror}); "
                                "run the harness in a cgroup delegated to it, e.g. under "
                                "`systemd-run --scope -p Delegate=yes`")


class V2Cgroup:
    """One folder in the v2 hierarchy; `limit` writes its controllers' files."""

    def __init__(self, parent: Path) -> None:
        self.folder = parent / unique_name()
        self.folder.mkdir()

    def limit(self, memory_bytes: int, max_pids: int, cpus: float | None, swap_accounted: bool) -> None:
        """memory.max (and no swap, as v1's memsw and Docker's memswap), pids.max, cpu.max if `cpus`."""
        (self.folder / "memory.max").write_text(str(memory_bytes))
        if swap_accounted:
            (self.folder / "memory.swap.max").write_text("0")
        (self.folder / "pids.max").write_text(str(max_pids))
        if cpus is not None:
            (self.folder / "cpu.max").write_text(f"{cpu_quota_us(cpus)} {CPU_PERIOD_US}")

    @property
    def procs_files(self) -> tuple[str, ...]:
        return (str(self.folder / "cgroup.procs"),)

    def oom_killed(self) -> bool:
        return stat_count((self.folder / "memory.events").read_text(), "oom_kill") > 0

    def populated(self) -> bool:
        return stat_count((self.folder / "cgroup.events").read_text(), "populated") > 0

    def kill_all(self) -> None:
        """cgroup.kill (Linux 5.14+) takes every process at once, forks in flight included."""
        if not (self.folder / "cgroup.kill").exists():
            kill_listed(self.folder / "cgroup.procs")
            return
        (self.folder / "cgroup.kill").write_text("1")
        for _ in pauses(1.0):
            if not self.populated():
                return

    def remove(self) -> None:
        if self.folder.exists():
            self.kill_all()
        remove_emptied(self.folder)
