"""Per-program memory, pids and CPU limits through cgroups, v1 or v2, whichever this machine offers.

rlimits alone cannot do this job: RLIMIT_NPROC is not enforced for root, and RLIMIT_AS breaks
the JVM long before a program really uses that much memory. A cgroup caps what a program and
all its children actually touch, counts OOM kills (so the verdict can say `memory`), and lists
every process still alive so none is left behind after a timeout.

This module finds this process's cgroups and picks a version; each version's limits are written by
its own module:
- *cgroup v2* (the hierarchy at /sys/fs/cgroup on a pure-v2 host, or the hybrid layout's
  /sys/fs/cgroup/unified where it offers memory and pids): `cgroup_v2.py`, in this process's own
  v2 cgroup, which must be delegated to it.
- *cgroup v1* (one hierarchy per controller): `cgroup_v1.py`, with a CPU cap where the cpu
  controller is mounted.
- *Neither* (no hierarchy, or none writable): the caller falls back to RLIMIT_AS and RLIMIT_NPROC
  as an unprivileged user (`available()` says why), and programs run without a CPU cap.
The CPU cap is the one limit that may be missing while the others hold (`cpu_unavailable()` says
why): it guards the machine's other work, not a verdict, which the wall-clock timeout still bounds.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol

from harness.sandbox.cgroup_common import LIMITED, Support
from harness.sandbox.cgroup_v1 import V1Cgroup, prepare_v1
from harness.sandbox.cgroup_v2 import V2Cgroup, delegated_base, offered_controllers, prepare_v2


class ProgramCgroup(Protocol):
    """The cgroup(s) of one program; its wrapper writes its pid into each of `procs_files`."""

    @property
    def procs_files(self) -> tuple[str, ...]: ...

    def oom_killed(self) -> bool: ...

    def remove(self) -> None: ...


@dataclass(frozen=True)
class Hierarchies:
    """This process's own cgroup folder in each hierarchy it can see: per v1 controller, and in v2."""

    v1: Mapping[str, Path] = field(default_factory=dict)
    v2: Path | None = None


def _unescape(text: str) -> str:
    """mountinfo writes spaces, tabs, newlines and backslashes in paths as octal escapes."""
    for code in ("040", "011", "012", "134"):
        text = text.replace(f"\\{code}", chr(int(code, 8)))
    return text


def find_hierarchies(mountinfo: str, membership: str) -> Hierarchies:
    """Where this process's cgroups are, from /proc/self/mountinfo and /proc/self/cgroup.

    Paths in /proc/self/cgroup are relative to a hierarchy's root, which need not be the mount's
    root (a container sees its own cgroup mounted as /sys/fs/cgroup/<controller>), so each is joined
    to its mount point relative to the mount's root; a cgroup outside every mount is not reachable.
    """
    v1_mounts: dict[str, tuple[str, Path]] = {}
    v2_mount: tuple[str, Path] | None = None
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point = _unescape(fields[3]), Path(_unescape(fields[4]))
        if tail[0] == "cgroup2" and v2_mount is None:
            v2_mount = (root, point)
        elif tail[0] == "cgroup":
            for controller in tail[2].split(","):
                v1_mounts.setdefault(controller, (root, point))
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in membership.splitlines():
        hierarchy_id, controllers, path = line.split(":", 2)
        if hierarchy_id == "0" and not controllers:
            v2 = _inside(v2_mount, path) if v2_mount else None
            continue
        for controller in controllers.split(","):
            folder = _inside(v1_mounts[controller], path) if controller in v1_mounts else None
            if folder is not None:
                v1[controller] = folder
    return Hierarchies(v1, v2)


def _inside(mount: tuple[str, Path], path: str) -> Path | None:
    root, point = mount
    relative = os.path.relpath(path, root)
    return None if relative.startswith("..") else Path(os.path.normpath(point / relative))


def choose(hierarchies: Hierarchies) -> Support:
    """v2 where the v2 hierarchy offers memory and pids to this process, else v1, else neither."""
    v2 = hierarchies.v2
    if v2 is not None and set(LIMITED) <= offered_controllers(delegated_base(v2)):
        return prepare_v2(v2)
    v1 = prepare_v1(hierarchies.v1)
    if v1.version is None and v2 is not None and not set(LIMITED) & set(hierarchies.v1):
        return prepare_v2(v2)  # no v1 at all: v2's own reason is the one to tell
    return v1


@functools.cache
def support() -> Support:
    """What this machine offers this process; decided once (it may move the process into a leaf)."""
    try:
        hierarchies = find_hierarchies(Path("/proc/self/mountinfo").read_text(), Path("/proc/self/cgroup").read_text())
    except OSError as error:
        found = Support(None, reason=f"cannot read this process's cgroups ({error.strerror})")
    else:
        found = choose(hierarchies)
    if found.reason or found.cpu_reason:
        logging.getLogger(__name__).warning("sandboxed programs run without a CPU cap: %s",
                                            found.reason or found.cpu_reason)
    return found


def available() -> str | None:
    """None if memory and pids cgroups can be created here, else why not (rlimits are used instead)."""
    return support().reason or None


def cpu_unavailable() -> str | None:
    """None if programs get a CPU cap here, else why they run without one."""
    found = support()
    return found.reason or found.cpu_reason or None


def create(memory_bytes: int, max_pids: int, cpus: float) -> ProgramCgroup:
    """A fresh cgroup for one program, with every limit this machine can hold (see `support()`)."""
    found = support()
    if found.version == 2:
        group = V2Cgroup(found.parents[""])
        try:
            group.limit(memory_bytes, max_pids, None if found.cpu_reason else cpus, found.swap_accounted)
        except OSError:
            group.remove()
            raise
        return group
    if found.version == 1:
        return V1Cgroup(found.parents, memory_bytes, max_pids, cpus)
    raise RuntimeError(f"no cgroups here ({found.reason}); check cgroups.available() first")
