"""Per-program memory, pids and CPU limits through cgroups, v1 or v2, whichever this machine offers.

rlimits alone cannot do this job: RLIMIT_NPROC is not enforced for root, and RLIMIT_AS breaks
the JVM long before a program really uses that much memory. A cgroup caps what a program and
all its children actually touch, counts OOM kills (so the verdict can say `memory`), and lists
every process still alive so none is left behind after a timeout.

Which limits hold where:
- *cgroup v2* (the hierarchy at /sys/fs/cgroup on a pure-v2 host, or the hybrid layout's
  /sys/fs/cgroup/unified where it offers memory and pids): memory.max with memory.swap.max 0,
  pids.max, cpu.max, OOM kills read from memory.events, and cgroup.kill to end everything. Program
  cgroups are made beside this process in its own v2 cgroup, which must be delegated to it (a root
  container's own cgroup, or `systemd-run --scope -p Delegate=yes`). A non-root cgroup cannot both
  hold processes and hand controllers to its children (cgroup v2's "no internal processes" rule),
  so where enabling them is refused as busy, the processes of that cgroup move into a leaf of it,
  `harness-leaf`, first: what moby's dind and kind's entrypoints do, and what systemd asks of a
  delegated service.
- *cgroup v1* (one hierarchy per controller): memory.limit_in_bytes (and memsw where swap is
  accounted), pids.max, and cpu.cfs_quota_us over cpu.cfs_period_us where the cpu controller is
  mounted; OOM kills from memory.oom_control.
- *Neither* (no hierarchy, or none writable): the caller falls back to RLIMIT_AS and RLIMIT_NPROC
  as an unprivileged user (`available()` says why), and programs run without a CPU cap.
The CPU cap is the one limit that may be missing while the others hold (`cpu_unavailable()` says
why): it guards the machine's other work, not a verdict, which the wall-clock timeout still bounds.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Protocol

LIMITED = ("memory", "pids")  # the controllers without which the rlimit fallback is used
CPU_PERIOD_US = 100_000  # the kernel's default CFS period, as Docker's --cpus uses
MIN_CPU_QUOTA_US = 1_000  # the smallest quota either version accepts
LEAF = "harness-leaf"  # where a delegated v2 cgroup's own processes move so its children get controllers
_counter = itertools.count()


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


@dataclass(frozen=True)
class Support:
    """How program cgroups are made here: the version, where, and why a limit is missing."""

    version: int | None  # None: no cgroups, `reason` says why
    parents: Mapping[str, Path] = field(default_factory=dict)  # v1: controller -> folder; v2: {"": folder}
    reason: str = ""
    cpu_reason: str = ""  # why there is no CPU cap ('' where there is one)
    swap_accounted: bool = False  # v2: whether memory.swap.max exists, so swap can be refused


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


def _offered(folder: Path) -> set[str]:
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


def _delegated(own: Path) -> Path:
    """The v2 cgroup program cgroups go in: this process's own, or the one above the leaf it moved into."""
    return own.parent if own.name == LEAF else own


def prepare_v2(own: Path) -> Support:
    """Program cgroups beside this process in its own v2 cgroup (above its leaf, once it moved there)."""
    base = _delegated(own)
    offered = _offered(base)
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


def choose(hierarchies: Hierarchies) -> Support:
    """v2 where the v2 hierarchy offers memory and pids to this process, else v1, else neither."""
    v2 = hierarchies.v2
    if v2 is not None and set(LIMITED) <= _offered(_delegated(v2)):
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


def cpu_quota_us(cpus: float) -> int:
    """CPU time per CFS period that caps a program at `cpus` CPUs (Docker's --cpus arithmetic)."""
    return max(MIN_CPU_QUOTA_US, round(cpus * CPU_PERIOD_US))


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


def _name() -> str:
    return f"harness-{os.getpid()}-{next(_counter)}"


def _count(text: str, key: str) -> int:
    """The value of a `key value` line of a cgroup stat file (memory.events, memory.oom_control), or 0."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def _pauses(total_s: float) -> Iterator[None]:
    """Yields, then sleeps, again and again for about `total_s` in all: 1 ms at first, then up to
    10 ms. A sandbox's init is often still exiting when its step ends, and is gone within a
    millisecond or two: a first pause of 10 ms made every fourth step that much slower."""
    pause, waited = 0.001, 0.0
    while waited < total_s:
        yield
        time.sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.01)


def _kill_listed(procs: Path) -> None:
    """SIGKILL every process listed in `procs` until it lists none (a fork may race a kill)."""
    for _ in _pauses(1.0):
        pids = [int(pid) for pid in procs.read_text().split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _rmdir(folder: Path) -> None:
    """Remove a cgroup, giving the kernel a moment to let go of processes just killed."""
    for _ in _pauses(0.5):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            pass


class V1Cgroup:
    """One folder per v1 controller (memory, pids, and cpu where mounted), all named alike."""

    def __init__(self, parents: Mapping[str, Path], memory_bytes: int, max_pids: int, cpus: float) -> None:
        name = _name()
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
            return _count(control, "oom_kill") > 0
        return int((memory / "memory.failcnt").read_text()) > 0  # kernels before 4.13 count no kills

    def remove(self) -> None:
        """Kill everything left (the pids hierarchy lists every process), then remove each folder."""
        if self.folders["pids"].exists():
            _kill_listed(self.folders["pids"] / "cgroup.procs")
        for folder in self.folders.values():
            _rmdir(folder)


class V2Cgroup:
    """One folder in the v2 hierarchy; `limit` writes its controllers' files."""

    def __init__(self, parent: Path) -> None:
        self.folder = parent / _name()
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
        return _count((self.folder / "memory.events").read_text(), "oom_kill") > 0

    def populated(self) -> bool:
        return _count((self.folder / "cgroup.events").read_text(), "populated") > 0

    def kill_all(self) -> None:
        """cgroup.kill (Linux 5.14+) takes every process at once, forks in flight included."""
        if not (self.folder / "cgroup.kill").exists():
            _kill_listed(self.folder / "cgroup.procs")
            return
        (self.folder / "cgroup.kill").write_text("1")
        for _ in _pauses(1.0):
            if not self.populated():
                return

    def remove(self) -> None:
        if self.folder.exists():
            self.kill_all()
        _rmdir(self.folder)
