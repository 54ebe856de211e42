"""Program cgroups in cgroup v1, one hierarchy per controller.

memory.limit_in_bytes (and memsw where swap is accounted), pids.max, and cpu.cfs_quota_us over
cpu.cfs_period_us where the cpu controller is mounted; OOM kills from memory.oom_control. Each
program gets a folder of the same name beside this process's cgroup in each hierarchy, and what is
left in them is killed pid by pid through the pids hierarchy, which lists every process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from harness.sandbox.cgroup_common import (CPU_PERIOD_US, LIMITED, Support, cpu_quota_us, kill_listed, remove_emptied,
                                           stat_count, unique_name)


def _probe(parent: Path) -> str:
    """'' if a child cgroup can be made (and removed) in `parent`, else why not."""
    probe = parent / f"harness-probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError as error:
        return f"cannot create a cgroup in {parent} ({error.strerror})"
    return ""


def prepare_v1(folders: Mapping[str, Path]) -> Support:
    """Program cgroups beside this process's in each v1 hierarchy: memory and pids, and cpu if mounted."""
    for controller in LIMITED:
        if controller not in folders or not (folders[controller] / "cgroup.procs").exists():
            return Support(None, reason=f"no cgroup v1 {controller} controller mounted, nor cgroup v2 with it")
        failure = _probe(folders[controller])
        if failure:
            return Support(None, reason=failure)
    parents = {controller: folders[controller] for controller in LIMITED}
    cpu = folders.get("cpu")
    if cpu is None or not (cpu / "cpu.cfs_quota_us").exists():
        cpu_reason = "no cgroup v1 cpu controller (with CFS bandwidth control) is mounted"
    else:
        cpu_reason = _probe(cpu)
        if not cpu_reason:
            parents["cpu"] = cpu
    return Support(1, parents, cpu_reason=cpu_reason)


class V1Cgroup:
    """One folder per v1 controller (memory, pids, and cpu where mounted), all named alike."""

    def __init__(self, parents: Mapping[str, Path], memory_bytes: int, max_pids: int, cpus: float) -> None:
        name = unique_name()
        self.folders = {controller: parent / name for controller, parent in parents.items()}
        try:
            for folder in self.folders.values():
                folder.mkdir()
            memory = self.folders["memory"]
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():  # only where swap is accounted
                (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            (self.folders["pids"] / "pids.max").write_text(str(max_pids))
            if "cpu" in self.folders:
                (self.folders["cpu"] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (self.folders["cpu"] / "cpu.cfs_quota_us").write_text(str(cpu_quota_us(cpus)))
        except OSError:
            self.remove()
            raise

    @property
    def procs_files(self) -> tuple[str, ...]:
        return tuple(str(folder / "cgroup.procs") for folder in self.folders.values())

    def oom_killed(self) -> bool:
        memory = self.folders["memory"]
        control = (memory / "memory.oom_control").read_text()
        if "oom_kill " in control:
            return stat_count(control, "oom_kill") > 0
        return int((memory / "memory.failcnt").read_text()) > 0  # kernels before 4.13 count no kills

    def remove(self) -> None:
        """Kill everything left (the pids hierarchy lists every process), then remove each folder."""
        if self.folders["pids"].exists():
            kill_listed(self.folders["pids"] / "cgroup.procs")
        for folder in self.folders.values():
            remove_emptied(folder)
