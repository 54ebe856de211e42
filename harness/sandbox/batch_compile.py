"""Warm batch processes: one compiler (and, where a language has one, one warm runtime) for many
programs, each in its own folder.

JVM and TypeScript compilers spend most of their time starting up (javac about 0.6 s, scalac
1.5 s, tsc 2 s per program in the official executor). A language's `[batch_compile]` command
starts one such process in a sandbox that sees the programs' folders; it reads folder paths on
stdin, compiles each folder's source exactly as the plain compile command would, and leaves
`.compile.rc` (written last), `.compile.stdout` and `.compile.stderr` there. Compilation runs no
program code, so sharing one compiler process does not weaken isolation between programs' runs.
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
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from harness.sandbox.languages import Step
from harness.sandbox.process import KEPT_OUTPUT_BYTES, StepResult, run_step
from harness.sandbox.rootfs import WORK_MOUNT
from harness.sandbox.types import Execution, Limits
from harness.sandbox.verdict import run_verdict

if TYPE_CHECKING:
    from harness.sandbox.local import Job, LocalSandbox

MAX_CHUNK = 200
RUN_TIMEOUT_VARIABLE = "HARNESS_RUN_TIMEOUT_S"  # seconds, for a `[warm]` command's own use


def _read_outcome(job: "Job", step: str) -> tuple[int, str, str] | None:
    """(exit code, stdout, stderr) the batch process left for `step` (compile or run), removing the files."""
    rc_file = job.box / f".{step}.rc"
    texts = []
    for name in (f".{step}.stdout", f".{step}.stderr"):
        path = job.box / name
        texts.append(path.read_bytes()[:KEPT_OUTPUT_BYTES].decode("utf-8", "replace") if path.exists() else "")
        path.unlink(missing_ok=True)
    if not rc_file.exists():
        return None
    exit_code = int(rc_file.read_text().strip() or 1)
    rc_file.unlink()
    return exit_code, texts[0], texts[1]


def _read_result(job: "Job") -> None:
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
    run_step(sandbox.mounts(spec, scratch), env, step.command, timeout, limits, folder,
             sandbox.cgroups_unavailable is None, stdin=job_list)
    for job in jobs:
        _read_result(job)


def submit_batch_compiles(sandbox: "LocalSandbox", jobs: Sequence["Job"], scratch: Path, limits: Limits,
                          pool: ThreadPoolExecutor) -> dict[int, Future[None]]:
    """Start the batch compiles; returns, per job (by id), the future its run must wait for."""
    by_language: dict[str, list["Job"]] = {}
    for job in jobs:
        if _batch_step(sandbox, job, limits) is not None:
            by_language.setdefault(job.spec.key, []).append(job)
    waits: dict[int, Future[None]] = {}
    for key, group in by_language.items():
        size = min(MAX_CHUNK, max(1, -(-len(group) // sandbox.workers)))
        for start in range(0, len(group), size):
            chunk = group[start:start + size]
            future = pool.submit(_compile_chunk, sandbox, chunk, scratch, f"batch-{key}-{start}", limits)
            waits.update((id(job), future) for job in chunk)
    return waits
