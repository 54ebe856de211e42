"""Running one command in a bubblewrap sandbox, with limits, and reporting what happened.

Isolation: every namespace unshared (no network), the toolchain tree mounted read-only as `/`,
a fresh writable work folder at /box, a private /tmp, uid `nobody`. A program's run step gets /box
as a tmpfs of its own, holding a copy of the work folder, and /tmp likewise, each capped at the
memory limit (as the Docker backend's are): a program that fills the disk is stopped there (the
memory cgroup counts tmpfs pages, so it is OOM-killed; without cgroups it meets ENOSPC) and the
host's disk stays untouched. Limits: cgroup (v1 or v2) memory, pids and CPU where available
(else RLIMIT_AS/RLIMIT_NPROC as an unprivileged user, and no CPU cap: see cgroups.py); RLIMIT_FSIZE at
`file_bytes` on every file written (the output cap cannot double as the file cap: an unoptimised
Rust binary alone is 11 MB); a wall-clock timeout after which the whole sandbox is killed, and the
same kill as soon as stdout or stderr (host files, measured while the step runs) reaches
`output_bytes`, since a failed write does not stop every program (the JVM's PrintStream ignores
it and spins on, Node queues the writes until it runs out of memory). Nothing outlives the step:
bubblewrap's pid namespace dies with it, and the cgroup is emptied before it is removed.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

from harness.sandbox import cgroups
from harness.sandbox.rootfs import OVERLAY_MOUNT, WORK_MOUNT
from harness.sandbox.types import Limits

KEPT_OUTPUT_BYTES = 2048  # the official MultiPL-E executor keeps 2 KB; pass rules see the same
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SIGXFSZ_EXIT = 128 + signal.SIGXFSZ
NOBODY = 65534
POLL_S = 0.05  # how often a running step's output files are measured against the cap
BOX_SOURCE = f"{OVERLAY_MOUNT}/.box"  # the work folder, read-only, that a run step copies into its /box
COPY_FAILED_EXIT = 125


@dataclass(frozen=True)
class Mounts:
    """What a step sees: the suite's tree as `/`, the language overlay, the work folder."""

    rootfs: Path
    overlay: Path
    language: str
    work: Path
    # Where set, /box holds only these folders of `work` (a batch sees its own chunk's jobs, not
    # every job of the run, nor the chunk's own job list and logs beside them).
    only: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepResult:
    exit_code: int | None
    duration_s: float
    stdout: str
    stderr: str
    timed_out: bool = False
    out_of_memory: bool = False
    output_limited: bool = False
    sandbox_failure: str = ""


def bwrap_argv(mounts: Mounts, env: Mapping[str, str], command: str, disk_bytes: int | None = None) -> list[str]:
    """The bubblewrap command line. With `disk_bytes`, /box and /tmp are tmpfs of that size and the
    work folder is copied into /box first (a run step: nothing it writes reaches the host); without,
    /box is the host work folder (a compile step, whose outputs the run step needs)."""
    if disk_bytes is None and mounts.only:
        temp, box = ["--tmpfs", "/tmp"], ["--tmpfs", WORK_MOUNT]
        for name in mounts.only:
            box += ["--bind", str(mounts.work / name), f"{WORK_MOUNT}/{name}"]
    elif disk_bytes is None:
        temp, box = ["--tmpfs", "/tmp"], ["--bind", str(mounts.work), WORK_MOUNT]
    else:
        size = ["--size", str(disk_bytes)]
        temp = [*size, "--tmpfs", "/tmp"]
        box = ["--ro-bind", str(mounts.work), BOX_SOURCE, *size, "--tmpfs", WORK_MOUNT]
        # entry by entry in byte order, so /box lists in the same order whatever the host folder's history
        copy = (f'(cd {BOX_SOURCE} && LC_ALL=C ls -A | while IFS= read -r entry; do cp -a "$entry" {WORK_MOUNT}/ '
                f'|| exit 1; done) || exit {COPY_FAILED_EXIT}')
        command = f"{copy}\n{command}"
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--ro-bind", str(mounts.rootfs), "/", "--proc", "/proc", "--dev", "/dev", *temp,
            "--tmpfs", OVERLAY_MOUNT, "--ro-bind", str(mounts.overlay), f"{OVERLAY_MOUNT}/{mounts.language}",
            *box, "--chdir", WORK_MOUNT,
            "--uid", str(NOBODY), "--gid", str(NOBODY), "--clearenv",
            "--setenv", "PATH", f"{OVERLAY_MOUNT}/{mounts.language}/bin:{BASE_PATH}",
            "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return argv + ["--", "/bin/sh", "-c", command]


def _read_head(path: Path) -> str:
    with open(path, "rb") as handle:
        return handle.read(KEPT_OUTPUT_BYTES).decode("utf-8", errors="replace")


def _launcher(limits: Limits, cgroup: cgroups.ProgramCgroup | None) -> list[str]:
    """prlimit (and, without cgroups, an unprivileged uid so RLIMIT_NPROC holds) before bwrap; with cgroups, a
    shell that joins them first, so bwrap and everything it starts are counted from their first instruction."""
    file_cap = max(limits.file_bytes, limits.output_bytes)  # stdout must be able to reach its own cap
    rlimits = [f"--fsize={file_cap}", "--nofile=1024", "--core=0"]
    if cgroup is not None:
        join = " && ".join(f"echo $$ > {shlex.quote(procs)}" for procs in cgroup.procs_files)
        return ["/bin/sh", "-c", f'{join} && exec "$@"', "sh", "prlimit", *rlimits, "--"]
    rlimits += [f"--as={limits.memory_mb << 20}", f"--nproc={limits.pids}"]
    if os.geteuid() == 0:
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "prlimit", *rlimits, "--"]
    return ["prlimit", *rlimits, "--"]


def _wait(process: subprocess.Popen[bytes], timeout_s: float, outputs: tuple[Path, ...],
          cap: int) -> tuple[int | None, bool]:
    """(exit code, timed out): the step is killed (no exit code) at the deadline or once an output reaches the cap.

    The exit is awaited on a pidfd, which wakes the moment the process ends. `Popen.wait(timeout=)`
    polls with sleeps that grow to 50 ms, which made a 20 ms program cost about 30 ms of wall time.
    """
    deadline = time.monotonic() + timeout_s
    with _exit_watch(process) as exited:
        while True:
            if exited(max(0.0, min(POLL_S, deadline - time.monotonic()))):
                return process.wait(), False
            flooded = any(path.stat().st_size >= cap for path in outputs)
            if flooded or time.monotonic() >= deadline:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return None, not flooded


@contextmanager
def _exit_watch(process: subprocess.Popen[bytes]) -> Iterator[Callable[[float], bool]]:
    """A function that waits up to N seconds for `process` to end and says whether it has."""
    descriptor = os.pidfd_open(process.pid)
    try:
        watch = select.poll()
        watch.register(descriptor, select.POLLIN)
        yield lambda seconds: bool(watch.poll(seconds * 1000))
    finally:
        os.close(descriptor)


def run_step(mounts: Mounts, env: Mapping[str, str], command: str, timeout_s: float, limits: Limits,
             outputs: Path, use_cgroups: bool, stdin: Path | None = None, private_box: bool = False) -> StepResult:
    """Run `command` (a shell line) in the sandbox; `outputs` is a host folder for stdout/stderr.
    `private_box`: the program writes into a capped tmpfs copy of the work folder, not the folder."""
    cgroup = cgroups.create(limits.memory_mb << 20, limits.pids, limits.cpus) if use_cgroups else None
    stdout_path, stderr_path = outputs / "stdout", outputs / "stderr"
    disk_bytes = limits.memory_mb << 20 if private_box else None
    argv = _launcher(limits, cgroup) + bwrap_argv(mounts, env, command, disk_bytes)
    for path in (stdout_path, stderr_path):  # created afresh ("x"): never written through a link left there
        path.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        with open(stdout_path, "xb") as out, open(stderr_path, "xb") as err, \
                open(stdin or os.devnull, "rb") as source:
            process = subprocess.Popen(argv, stdin=source, stdout=out, stderr=err, start_new_session=True)
            exit_code, timed_out = _wait(process, timeout_s, (stdout_path, stderr_path), limits.output_bytes)
        duration = time.perf_counter() - started
        out_of_memory = cgroup.oom_killed() if cgroup is not None else False
    finally:
        if cgroup is not None:
            cgroup.remove()
    stdout, stderr = _read_head(stdout_path), _read_head(stderr_path)
    limited = exit_code in (SIGXFSZ_EXIT, -signal.SIGXFSZ) or any(
        path.stat().st_size >= limits.output_bytes for path in (stdout_path, stderr_path))
    failure = stderr.strip() if exit_code == 1 and stderr.startswith("bwrap: ") else ""
    if private_box and exit_code == COPY_FAILED_EXIT and stderr.startswith("cp: "):
        failure = f"copying the work folder into the sandbox's /box failed: {stderr.strip()}"
    return StepResult(exit_code, duration, stdout, stderr, timed_out, out_of_memory, limited, failure)
