"""Warm batch processes: one compiler (and, where a language has one, one warm runtime) for many
programs, each in its own folder.

JVM, TypeScript and C# compilers spend most of their time starting up (javac about 0.6 s, scalac
1.5 s, tsc 2 s per program in the official executor; a cold mcs doubles a C# program's compile and
run). A language's `[batch_compile]` command starts one such process in a sandbox that sees the
programs' folders; it reads folder paths on stdin, compiles each folder's source exactly as the
plain compile command would, and leaves `.compile.rc` (written last), `.compile.stdout` and
`.compile.stderr` there. Compilation runs no program code, so sharing one compiler process does
not weaken isolation between programs' runs.
A folder without `.compile.rc` (the batch crashed or timed out) falls back to the plain compile.
A language whose official command compiles and runs in one step (D's `rdmd`, `go test`) names in its
`[batch_compile]` a `run` command for the programs the batch built; the others keep the one step.

Warm runs: a language's `[warm]` command (used unless the sandbox has `warm=false`) is the same
kind of process, which also runs each program that compiled, inside itself, and leaves
`.run.rc` (written last), `.run.stdout` and `.run.stderr`; `$HARNESS_RUN_TIMEOUT_S` holds the
run timeout a plain run of the batch would get (the language's, or the batch's own). Running
program code in a shared process is weaker isolation, so such a process reports a run only when the program did nothing
but compute and ended normally or by an ordinary exception; anything else it leaves without
`.run.rc` and the program runs in its own sandbox (each language's folder documents its rules).
The run's verdict then follows the language's pass rule as a plain run's does.

A batch's /box holds its own chunk's job folders and nothing else. The programs of a warm batch
share those, so the harness trusts nothing there that a program could have forged: it reads the
reports of a warm process only if it ended by itself (WARM_CLEAN_EXITS), only from regular files
of folders that are still folders (never through a link a program put there, which could lead to
another job or to a host path), and a program the warm process did not decide runs the plain way
from a fresh copy of its source, not from a folder another program of the batch could have
changed. What each runner does so that no program changes another's report: sandboxes/README.md.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from harness.sandbox.chunks import balanced_chunks
from harness.sandbox.languages import Step
from harness.sandbox.process import KEPT_OUTPUT_BYTES, StepResult, run_step
from harness.sandbox.rootfs import WORK_MOUNT
from harness.sandbox.types import Execution, Limits
from harness.sandbox.verdict import run_verdict

if TYPE_CHECKING:
    from harness.sandbox.local import Job, LocalSandbox

MAX_CHUNK = 200
RUN_TIMEOUT_VARIABLE = "HARNESS_RUN_TIMEOUT_S"  # seconds, for a `[warm]` command's own use
# How a warm process ends by itself: 0 when done, 124 when it stopped early on purpose (a JVM after a
# program it could not decide, whose earlier reports stand); anything else (a signal, R's exit 1 on
# SIGUSR1) means something killed it, so none of its run reports is read.
WARM_CLEAN_EXITS = (0, 124)


def _read_head(path: Path) -> bytes | None:
    """The first bytes of a regular file the batch process left, or None; never through a link."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.read(handle, KEPT_OUTPUT_BYTES) if stat.S_ISREG(os.fstat(handle).st_mode) else None
    finally:
        os.close(handle)


def _read_outcome(job: "Job", step: str) -> tuple[int, str, str] | None:
    """(exit code, stdout, stderr) the batch process left for `step` (compile or run), removing the files."""
    contents = []
    for name in (f".{step}.stdout", f".{step}.stderr", f".{step}.rc"):
        contents.append(_read_head(job.box / name))
        (job.box / name).unlink(missing_ok=True)
    stdout, stderr, rc = contents
    if rc is None:
        return None
    code = rc.decode("ascii", "replace").strip() or "1"
    if not code.lstrip("-").isdigit():
        return None
    return int(code), (stdout or b"").decode("utf-8", "replace"), (stderr or b"").decode("utf-8", "replace")


def _read_result(job: "Job", warm: bool, believed: bool) -> None:
    if not job.intact() or not believed:
        job.reset()  # nothing a killed warm process left is trusted, not even its compile reports
        return
    _read_outcomes(job)
    if warm and job.ran is None and job.compiled is None and not job.precompiled:
        job.reset()  # a program of the batch may have changed this one's folder: the plain run starts afresh


def _read_outcomes(job: "Job") -> None:
    if job.spec.batch_builds:
        compiled = _read_outcome(job, "compile")
        if compiled is None:
            _read_outcome(job, "run")  # a run without its compile's verdict is not used
            return
        exit_code, stdout, stderr = compiled
        if exit_code != 0 and job.spec.compile is None:
            return  # no plain compile step to report it as: the one-step command decides
        if exit_code != 0:
            job.compiled = Execution("compile_error", exit_code, 0.0, stdout, stderr, f"compiler exited {exit_code}")
            return
        job.precompiled = True
    ran = _read_outcome(job, "run")
    if ran is not None:
        job.ran = run_verdict(job.spec.passing, StepResult(ran[0], 0.0, ran[1], ran[2]), 0.0)


def _batch_step(sandbox: "LocalSandbox", job: "Job", limits: Limits) -> Step | None:
    """The warm process for this job's language: its `[warm]` command, else its batch compiler."""
    spec = job.spec
    if sandbox.warm_runs(spec, limits):
        return spec.warm
    return spec.batch_compile if spec.batch_builds else None


def _compile_chunk(sandbox: "LocalSandbox", jobs: Sequence["Job"], scratch: Path, name: str, limits: Limits) -> None:
    spec = jobs[0].spec
    step = _batch_step(sandbox, jobs[0], limits)
    assert step is not None
    folder = scratch / name
    folder.mkdir()
    job_list = folder / "jobs"
    job_list.write_text("".join(f"{WORK_MOUNT}/{job.folder.name}/box\n" for job in jobs))
    timeout = step.timeout_s * len(jobs) + 30
    env = sandbox.environment(spec)
    if step is spec.warm:  # the warm runner gives each program the run timeout a plain run would get
        env[RUN_TIMEOUT_VARIABLE] = f"{limits.timeout_s or spec.run.timeout_s:g}"
    ended = run_step(sandbox.mounts(spec, scratch, [job.folder.name for job in jobs]), env, step.command, timeout,
                     limits, folder, sandbox.cgroups_unavailable is None, stdin=job_list)
    # A warm process writes its reports last, once none of its programs runs; one that did not end
    # by itself (killed: a program may have forged reports, then killed it) is not believed.
    believed = step is not spec.warm or ended.exit_code in WARM_CLEAN_EXITS
    for job in jobs:
        _read_result(job, step is spec.warm, believed)


def submit_batch_compiles(sandbox: "LocalSandbox", jobs: Sequence["Job"], scratch: Path, limits: Limits,
                          pool: ThreadPoolExecutor) -> dict[int, Future[None]]:
    """Start the batch compiles; returns, per job (by id), the future its run must wait for."""
    by_language: dict[str, list["Job"]] = {}
    for job in jobs:
        if _batch_step(sandbox, job, limits) is not None:
            by_language.setdefault(job.spec.key, []).append(job)
    waits: dict[int, Future[None]] = {}
    for key, group in by_language.items():
        for number, chunk in enumerate(balanced_chunks(group, MAX_CHUNK, sandbox.chunk_multiple)):
            future = pool.submit(_compile_chunk, sandbox, chunk, scratch, f"batch-{key}-{number}", limits)
            waits.update((id(job), future) for job in chunk)
    return waits
