"""Warm batch compilers: one compiler process for many programs, each in its own folder.

JVM and TypeScript compilers spend most of their time starting up (javac about 0.6 s, scalac
1.5 s, tsc 2 s per program in the official executor). A language's `[batch_compile]` command
starts one such process in a sandbox that sees the programs' folders; it reads folder paths on
stdin, compiles each folder's source exactly as the plain compile command would, and leaves
`.compile.rc` (written last), `.compile.stdout` and `.compile.stderr` there. Compilation runs no
program code, so sharing one compiler process does not weaken isolation between programs' runs.
A folder without `.compile.rc` (the batch crashed or timed out) falls back to the plain compile.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from harness.sandbox.process import KEPT_OUTPUT_BYTES, run_step
from harness.sandbox.rootfs import WORK_MOUNT
from harness.sandbox.types import Execution, Limits

if TYPE_CHECKING:
    from harness.sandbox.local import Job, LocalSandbox

MAX_CHUNK = 200


def _read_result(job: "Job") -> None:
    rc_file = job.box / ".compile.rc"
    if not rc_file.exists():
        return
    texts = []
    for name in (".compile.stdout", ".compile.stderr"):
        path = job.box / name
        texts.append(path.read_bytes()[:KEPT_OUTPUT_BYTES].decode("utf-8", "replace") if path.exists() else "")
        path.unlink(missing_ok=True)
    exit_code = int(rc_file.read_text().strip() or 1)
    rc_file.unlink()
    if exit_code == 0:
        job.precompiled = True
    else:
        job.compiled = Execution("compile_error", exit_code, 0.0, texts[0], texts[1], f"compiler exited {exit_code}")


def _compile_chunk(sandbox: "LocalSandbox", jobs: Sequence["Job"], scratch: Path, name: str, limits: Limits) -> None:
    spec = jobs[0].spec
    assert spec.batch_compile is not None
    folder = scratch / name
    folder.mkdir()
    job_list = folder / "jobs"
    job_list.write_text("".join(f"{WORK_MOUNT}/{job.folder.name}/box\n" for job in jobs))
    timeout = spec.batch_compile.timeout_s * len(jobs) + 30
    run_step(sandbox.mounts(spec, scratch), spec.env, spec.batch_compile.command, timeout, limits, folder,
             sandbox.cgroups_unavailable is None, stdin=job_list)
    for job in jobs:
        _read_result(job)


def submit_batch_compiles(sandbox: "LocalSandbox", jobs: Sequence["Job"], scratch: Path, limits: Limits,
                          pool: ThreadPoolExecutor) -> dict[int, Future[None]]:
    """Start the batch compiles; returns, per job (by id), the future its run must wait for."""
    by_language: dict[str, list["Job"]] = {}
    for job in jobs:
        if job.spec.batch_compile is not None and job.spec.compile is not None:
            by_language.setdefault(job.spec.key, []).append(job)
    waits: dict[int, Future[None]] = {}
    for key, group in by_language.items():
        size = min(MAX_CHUNK, max(1, -(-len(group) // sandbox.workers)))
        for start in range(0, len(group), size):
            chunk = group[start:start + size]
            future = pool.submit(_compile_chunk, sandbox, chunk, scratch, f"batch-{key}-{start}", limits)
            waits.update((id(job), future) for job in chunk)
    return waits
