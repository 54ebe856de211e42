"""Program cgroups, v1 and v2: where they are found, which limits they write, and that the CPU cap holds.

Three kinds of test, named so:
- real, on whatever this kernel offers: the CPU cap (a program spinning 3 processes gets at most
  about its quota of CPU time per wall-clock second: a ratio, not a speed), and, in the v2 hierarchy
  when one is mounted and writable (a hybrid host's /sys/fs/cgroup/unified too, even with no
  controllers in it), a program cgroup joined by the launcher and emptied with cgroup.kill;
- `simulated_v2`: the controller logic (subtree_control, memory.max, memory.swap.max, pids.max,
  cpu.max, oom_kill from memory.events) against a temporary folder laid out as a delegated v2
  cgroup. A plain folder does not enforce anything, refuse anything or move processes: these pin
  what is written and read, not what the kernel then does. Not tested at all: the move into
  `harness-leaf` when enabling controllers is refused as busy (a folder cannot refuse, and a real
  test needs a v2 controller enabled below the hierarchy's root, which belongs to the host here);
- parsing of /proc/self/mountinfo and /proc/self/cgroup for the layouts seen in the wild.
The memory and pids limits are held for real by tests/test_sandbox_security.py (memory bomb, fork
bomb, disk fill), through whichever version `cgroups.support()` picks on the machine running them.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.sandbox import cgroup_v1, cgroup_v2, cgroups
from harness.sandbox.local import LocalSandbox
from harness.sandbox.process import _launcher, run_step
from harness.sandbox.types import Limits
from tests.sandbox_support import require_language

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_CGROUP = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n"


def test_hybrid_layout_finds_each_v1_controller_and_the_unified_hierarchy() -> None:
    found = cgroups.find_hierarchies(HYBRID_MOUNTINFO, HYBRID_CGROUP)
    assert found.v1 == {"memory": Path("/sys/fs/cgroup/memory/process_api/abc"), "pids": Path("/sys/fs/cgroup/pids"),
                        "cpu": Path("/sys/fs/cgroup/cpu"), "cpuacct": Path("/sys/fs/cgroup/cpuacct"),
                        "name=systemd": Path("/sys/fs/cgroup/systemd")}
    assert found.v2 == Path("/sys/fs/cgroup/unified")


def test_pure_v2_layout_finds_the_own_cgroup_under_the_single_mount() -> None:
    mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    found = cgroups.find_hierarchies(mountinfo, "0::/user.slice/harness.scope\n")
    assert (found.v1, found.v2) == ({}, Path("/sys/fs/cgroup/user.slice/harness.scope"))


def test_comounted_and_container_rooted_v1_mounts_resolve_inside_the_mount() -> None:
    """cpu,cpuacct share a hierarchy on systemd hosts; a container without a cgroup namespace sees its
    own cgroup (/docker/abc) mounted as the hierarchy's root."""
    mountinfo = ("40 30 0:40 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n"
                 "41 30 0:41 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n")
    found = cgroups.find_hierarchies(mountinfo, "5:cpu,cpuacct:/docker/abc\n4:memory:/elsewhere\n")
    assert found.v1 == {"cpu": Path("/sys/fs/cgroup/cpu,cpuacct"), "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct")}


SPIN = """
import os, time
start = time.monotonic()
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        while time.monotonic() < start + 1.5:
            pass
        os._exit(0)
    children.append(pid)
cpu = 0.0
for pid in children:
    _, _, usage = os.wait4(pid, 0)
    cpu += usage.ru_utime + usage.ru_stime
print(cpu / (time.monotonic() - start))
"""


def own_program_cgroups() -> list[Path]:
    """This process's program cgroups (`harness-<pid>-*`) left in any hierarchy the sandbox uses."""
    prefix = f"harness-{os.getpid()}-"
    return [child for parent in cgroups.support().parents.values() for child in parent.iterdir()
            if child.name.startswith(prefix)]


@pytest.mark.parametrize("cpus", [1.0, 0.25])
def test_cpu_cap_holds_three_spinning_processes_to_their_quota(cpus: float, tmp_path: Path) -> None:
    """CPU time over wall time stays near `cpus` however many processes spin (2 cores would give up to 2).
    The bound is loose (1.2 x the quota, plus 0.1 for the period the program starts and ends in)."""
    if cgroups.cpu_unavailable():
        pytest.skip(f"no CPU cap on this machine: {cgroups.cpu_unavailable()}")
    require_language("py")
    sandbox = LocalSandbox()
    spec = sandbox.specs["py"]
    work = tmp_path / "box"
    work.mkdir()
    (work / spec.source_file).write_text(SPIN)
    _, run = spec.commands("plain")
    result = run_step(sandbox.mounts(spec, work), sandbox.environment(spec), run.command, 60,
                      Limits(memory_mb=256, pids=64, cpus=cpus), tmp_path, use_cgroups=True, private_box=True)
    assert result.exit_code == 0, result
    assert float(result.stdout) <= 1.2 * cpus + 0.1, result.stdout
    assert own_program_cgroups() == []


def test_cpu_quota_is_written_per_program_on_this_machine() -> None:
    """The real cgroup this machine gives a program carries the quota (v1 cpu.cfs_quota_us or v2 cpu.max)."""
    if cgroups.cpu_unavailable():
        pytest.skip(f"no CPU cap on this machine: {cgroups.cpu_unavailable()}")
    group = cgroups.create(64 << 20, 16, 0.5)
    try:
        if isinstance(group, cgroup_v1.V1Cgroup):
            written = (group.folders["cpu"] / "cpu.cfs_quota_us").read_text().split()
        else:
            assert isinstance(group, cgroup_v2.V2Cgroup)
            written = (group.folder / "cpu.max").read_text().split()[:1]
        assert written == ["50000"]
    finally:
        group.remove()
    assert own_program_cgroups() == []


def test_limits_refuse_a_cpu_count_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Limits(cpus=0)


def writable_v2_hierarchy() -> Path:
    """This process's folder in the mounted v2 hierarchy, or skip saying why there is none to use."""
    own = cgroups.find_hierarchies(Path("/proc/self/mountinfo").read_text(), Path("/proc/self/cgroup").read_text()).v2
    if own is None:
        pytest.skip("no cgroup v2 hierarchy is mounted here")
    if not os.access(own, os.W_OK) or not (own / "cgroup.procs").exists():
        pytest.skip(f"the cgroup v2 folder {own} is not writable here")
    return own


def test_v2_program_cgroup_is_joined_by_the_launcher_and_emptied_by_cgroup_kill() -> None:
    """Real, in this kernel's v2 hierarchy (controllers or not): the launcher's join puts the program
    there, its children follow, cgroup.events says populated, and cgroup.kill ends them all."""
    group = cgroup_v2.V2Cgroup(writable_v2_hierarchy())
    try:
        if not (group.folder / "cgroup.kill").exists():
            pytest.skip("this kernel has no cgroup.kill (Linux 5.14+); removal falls back to SIGKILL per pid")
        argv = _launcher(Limits(), group) + ["/bin/sh", "-c", "sleep 60 & exec sleep 60"]
        process = subprocess.Popen(argv, start_new_session=True)
        procs = group.folder / "cgroup.procs"
        deadline = time.monotonic() + 10
        while len(procs.read_text().split()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert str(process.pid) in procs.read_text().split() and len(procs.read_text().split()) == 2
        assert group.populated()
        group.kill_all()
        assert process.wait(timeout=10) == -9
        assert not group.populated() and procs.read_text() == ""
    finally:
        group.remove()
    assert not group.folder.exists()


def simulated_v2(tmp_path: Path, controllers: str = "cpu memory pids", enabled: str = "") -> Path:
    """A SIMULATION: a plain folder laid out as a delegated cgroup v2 folder (not cgroupfs)."""
    base = tmp_path / "simulated-v2"
    base.mkdir()
    (base / "cgroup.controllers").write_text(f"{controllers}\n")
    (base / "cgroup.subtree_control").write_text(f"{enabled}\n")
    (base / "cgroup.procs").write_text("")
    return base


def test_simulated_v2_enables_memory_pids_and_cpu_for_the_program_cgroups(tmp_path: Path) -> None:
    base = simulated_v2(tmp_path)
    found = cgroup_v2.prepare_v2(base)
    assert (found.version, found.parents, found.reason, found.cpu_reason) == (2, {"": base}, "", "")
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"


def test_simulated_v2_already_enabled_controllers_are_not_rewritten(tmp_path: Path) -> None:
    base = simulated_v2(tmp_path, enabled="cpu memory pids")
    assert cgroup_v2.prepare_v2(base).version == 2
    assert (base / "cgroup.subtree_control").read_text() == "cpu memory pids\n"


def test_simulated_v2_without_cpu_keeps_memory_and_pids_and_says_why(tmp_path: Path) -> None:
    base = simulated_v2(tmp_path, controllers="memory pids")
    found = cgroup_v2.prepare_v2(base)
    assert (found.version, found.reason) == (2, "")
    assert "cpu controller" in found.cpu_reason
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids"


def test_simulated_v2_without_pids_falls_back_to_rlimits_and_says_why(tmp_path: Path) -> None:
    found = cgroup_v2.prepare_v2(simulated_v2(tmp_path, controllers="cpu memory"))
    assert found.version is None and "does not offer pids" in found.reason


def test_simulated_v2_from_the_leaf_makes_program_cgroups_beside_it(tmp_path: Path) -> None:
    """Once this process (or its parent) moved into the leaf, program cgroups still go in the delegated folder."""
    base = simulated_v2(tmp_path, enabled="memory pids cpu")
    (base / cgroup_v2.LEAF).mkdir()
    assert cgroup_v2.prepare_v2(base / cgroup_v2.LEAF).parents == {"": base}


def test_simulated_v2_program_cgroup_writes_every_limit(tmp_path: Path) -> None:
    group = cgroup_v2.V2Cgroup(simulated_v2(tmp_path))
    group.limit(256 << 20, 64, 0.5, swap_accounted=True)
    written = {name: (group.folder / name).read_text() for name in ("memory.max", "memory.swap.max", "pids.max", "cpu.max")}
    assert written == {"memory.max": str(256 << 20), "memory.swap.max": "0", "pids.max": "64", "cpu.max": "50000 100000"}
    assert group.procs_files == (str(group.folder / "cgroup.procs"),)


def test_simulated_v2_without_cpu_or_swap_accounting_writes_neither(tmp_path: Path) -> None:
    group = cgroup_v2.V2Cgroup(simulated_v2(tmp_path))
    group.limit(256 << 20, 64, None, swap_accounted=False)
    assert sorted(path.name for path in group.folder.iterdir()) == ["memory.max", "pids.max"]


def test_simulated_v2_oom_kill_is_read_from_memory_events(tmp_path: Path) -> None:
    group = cgroup_v2.V2Cgroup(simulated_v2(tmp_path))
    (group.folder / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 0\noom_group_kill 0\n")
    assert not group.oom_killed()  # hitting the limit (max, oom) is not a kill
    (group.folder / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\noom_group_kill 0\n")
    assert group.oom_killed()


def simulated_v1(tmp_path: Path) -> dict[str, Path]:
    """A SIMULATION: v1 memory and pids folders (no cpu controller), as plain folders."""
    folders = {controller: tmp_path / f"simulated-v1-{controller}" for controller in ("memory", "pids")}
    for folder in folders.values():
        folder.mkdir()
        (folder / "cgroup.procs").write_text("")
    return folders


def test_simulated_v2_is_chosen_over_v1_where_it_offers_memory_and_pids(tmp_path: Path) -> None:
    hierarchies = cgroups.Hierarchies(simulated_v1(tmp_path), simulated_v2(tmp_path))
    assert cgroups.choose(hierarchies).version == 2


def test_simulated_hybrid_with_controllers_bound_to_v1_uses_v1_and_names_the_missing_cpu(tmp_path: Path) -> None:
    hierarchies = cgroups.Hierarchies(simulated_v1(tmp_path), simulated_v2(tmp_path, controllers="hugetlb"))
    found = cgroups.choose(hierarchies)
    assert (found.version, found.reason) == (1, "")
    assert "no cgroup v1 cpu controller" in found.cpu_reason
