"""The local backend: bubblewrap over per-suite Debian trees, programs run in parallel.

A batch is de-duplicated and looked up in the execution cache first. In `fast` mode, languages
with a warm batch compiler (javac, scalac, tsc kept in one process) compile their programs in
one sandbox per chunk; a program the batch compiler did not report on is compiled the plain
way, so the batch path can only save time, never change a verdict. A language with a `[warm]`
command (the default; `warm=false` turns it off) also runs its programs in that warm process,
which reports only the ordinary outcomes it can vouch for; every other program gets its own
sandbox for its run.

Batches may overlap (`concurrent_runs`: a scorer keeps the next batches going while this one's
last programs finish). They share one pool of `workers` threads, so overlapping adds no
processes, only fills the workers a batch's tail leaves idle; and a program already running for
one batch is awaited by another, not run twice (an oracle run's two subtasks of a language hold
the same programs: three in flight let the next language start meanwhile).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from harness.sandbox import cgroups
from harness.sandbox.batch_compile import submit_batch_compiles
from harness.sandbox.cache import ExecutionCache, execution_key
from harness.sandbox.languages import LanguageSpec, Step, languages
from harness.sandbox.process import Mounts, run_step
from harness.sandbox.rootfs import overlay_path, rootfs_path
from harness.sandbox.types import Execution, Limits, Program
from harness.sandbox.verdict import compile_verdict, run_verdict

MODES = ("fast", "plain")
# The official CRUXEval-X image sets `ENV LANG=C.UTF-8` (docker/Dockerfile at 5c005eb), so programs
# run with that LANG; `locale=POSIX` (a sandbox option) sets none, `locale=X` sets LANG=X. Which gold
# programs change with it: tasks/cruxeval-x/README.md.
OFFICIAL_LOCALE = "C.UTF-8"
NO_LOCALE = "POSIX"
# Warm runners (each language's WarmRun) hand any program printing more than this to the plain path.
WARM_OUTPUT_CAP = 1 << 20


def default_workers() -> int:
    """One more worker than cores. Each step joins its fresh cgroups, and the kernel makes the
    first join after an idle moment wait for an RCU grace period (about 9 ms here, measured), a
    wait that uses no CPU: with workers = cores, the cores sat idle 15-20% of a plain language's
    run. One worker more cut C#'s and Go's times by 10-18% (benchmarks in sandboxes/README.md)."""
    return (os.cpu_count() or 1) + 1


@dataclass
class Job:
    """One unique program to execute, with its private folders."""

    spec: LanguageSpec
    program: Program
    folder: Path
    compiled: Execution | None = None  # set by the batch process: a compile failure verdict
    precompiled: bool = False
    ran: Execution | None = None  # set by a warm batch process: the run's verdict

    @property
    def box(self) -> Path:
        return self.folder / "box"

    def intact(self) -> bool:
        """Whether the folders are still real folders. A program of a warm batch that got past its
        runner's guard could have swapped the box (or, where the folder is not a mount point of the
        batch, the folder) for a link to another job's or to a host path the harness would then
        write into as itself."""
        return all(not path.is_symlink() and path.is_dir() for path in (self.folder, self.box))

    def reset(self) -> None:
        """A fresh work folder holding only the source; forget any batch-compile outcome."""
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            self.folder.unlink()  # a link a batch's program put here is removed, never followed
        for entry in self.folder.iterdir() if self.folder.exists() else ():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        self.box.mkdir(parents=True)
        self.folder.chmod(0o711)  # without cgroups the sandbox runs as host uid nobody: let it reach its box
        self.box.chmod(0o777)
        (self.box / self.spec.source_file).write_text(self.program.source, encoding="utf-8")
        self.compiled, self.precompiled, self.ran = None, False, None


class LocalSandbox:
    """Runs programs under bubblewrap; see the module docstring for the batching rules."""

    name = "local"
    concurrent_runs = 3  # batches in flight at once: see the module docstring

    def __init__(self, mode: str = "fast", workers: int | None = None, cache: ExecutionCache | None = None,
                 sandboxes_dir: Path | None = None, warm: bool = True, locale: str = OFFICIAL_LOCALE) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: use one of {MODES}")
        self.mode = mode
        self.locale = locale
        self.warm = warm
        self.warm_verdicts = 0  # runs a warm process decided (the rest ran in sandboxes of their own)
        self.batch_compiled = 0  # programs run from a batch compiler's output (the rest compiled alone)
        self._count_lock = threading.Lock()
        self.workers = workers or default_workers()
        self.cache = cache
        self.specs = languages(sandboxes_dir)
        self.cgroups_unavailable = cgroups.available()
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: dict[str, Future[Execution]] = {}  # key -> the verdict another batch is computing
        self._in_flight_lock = threading.Lock()
        self._tree_paths: dict[str, tuple[Path, Path]] = {}  # language -> (rootfs, overlay): see _trees

    @property
    def chunk_multiple(self) -> int:
        """How many of a language's warm or batch-compile chunks to cut for at least: one per core
        the workers keep busy. The worker beyond the cores covers cgroup waits, not compute, so a
        chunk for it would only add a runtime to start; with batches overlapping, the next batch
        fills its time."""
        return min(self.workers, os.cpu_count() or 1)

    def unavailable(self, key: str) -> str | None:
        """Why programs in `key` cannot run here, or None."""
        if key not in self.specs:
            return f"unknown language {key!r} (no sandboxes/{key}/language.toml)"
        if shutil.which("bwrap") is None:
            return "bubblewrap is not installed (apt-get install bubblewrap)"
        spec = self.specs[key]
        rootfs, overlay = self._trees(spec)
        if not (rootfs / ".complete").exists() or not (overlay / ".complete").exists():
            return f"the {spec.suite} toolchain tree for {key} is not built; run `harness sandbox build --language {key}`"
        missing = [tool for tool in spec.toolchain if not (rootfs / tool.lstrip("/")).exists()]
        if missing:
            return f"toolchain missing in the {spec.suite} tree: {', '.join(missing)}"
        return None

    def mounts(self, spec: LanguageSpec, work: Path, only: Sequence[str] = ()) -> Mounts:
        rootfs, overlay = self._trees(spec)
        return Mounts(rootfs, overlay, spec.key, work, tuple(only))

    def _trees(self, spec: LanguageSpec) -> tuple[Path, Path]:
        """The language's root and overlay trees, found once per sandbox: finding the overlay hashes
        the language folder (about 0.3 ms, which every step of a 27,000-program run would pay)."""
        trees = self._tree_paths.get(spec.key)
        if trees is None:
            all_specs = list(self.specs.values())
            trees = self._tree_paths[spec.key] = (rootfs_path(spec, all_specs), overlay_path(spec, all_specs))
        return trees

    def run(self, programs: Sequence[Program], limits: Limits | None = None,
            progress: Callable[[int], None] | None = None) -> list[Execution]:
        limits = limits or Limits()
        keys = [self._key(program, limits) for program in programs]
        results: dict[str, Execution] = {}
        pending: dict[str, Program] = {}
        for program, key in zip(programs, keys):
            reason = self.unavailable(program.language)
            if reason:
                results[key] = Execution("sandbox_error", None, 0.0, reason=reason)
            elif key not in pending:
                pending[key] = program
        if self.cache is not None and pending:
            results.update(self.cache.get_many(list(pending)))
        todo = {key: program for key, program in pending.items() if key not in results}
        if progress is not None:
            progress(len(programs) - len(todo))
        results.update(self._execute(todo, limits, progress))
        return [results[key] for key in keys]

    def _key(self, program: Program, limits: Limits) -> str:
        spec = self.specs.get(program.language)
        toolchain = self._trees(spec)[1].name if spec else program.language  # rootfs.toolchain_id
        return execution_key(toolchain, self.cache_mode(spec, limits), limits.key(), program.source_hash())

    def cache_mode(self, spec: LanguageSpec | None, limits: Limits) -> str:
        """Everything about how programs run, besides toolchain and limits, that a verdict depends on."""
        warm = "+warm" if spec is not None and self.warm_runs(spec, limits) else ""
        return f"{self.mode}{warm}/locale={self.locale}"

    def environment(self, spec: LanguageSpec) -> dict[str, str]:
        """Variables a program sees besides PATH, HOME and TMPDIR: the locale, then the language's own."""
        return ({} if self.locale == NO_LOCALE else {"LANG": self.locale}) | dict(spec.env)

    def _execute(self, todo: dict[str, Program], limits: Limits,
                 progress: Callable[[int], None] | None) -> dict[str, Execution]:
        """Run what no overlapping batch is running already; await the verdicts of what one is."""
        with self._in_flight_lock:
            awaited = {key: self._in_flight[key] for key in todo if key in self._in_flight}
            mine = {key: program for key, program in todo.items() if key not in awaited}
            promised: dict[str, Future[Execution]] = {key: Future() for key in mine}
            self._in_flight.update(promised)
        try:
            results = self._execute_own(mine, limits, promised, progress)
        finally:
            with self._in_flight_lock:
                for key, promise in promised.items():
                    del self._in_flight[key]
                    if not promise.done():
                        promise.set_exception(RuntimeError("the batch running this program failed"))
        for key, promise in awaited.items():
            results[key] = promise.result()
            if progress is not None:
                progress(1)
        return results

    def _execute_own(self, todo: dict[str, Program], limits: Limits, promised: dict[str, Future[Execution]],
                     progress: Callable[[int], None] | None) -> dict[str, Execution]:
        if not todo:
            return {}
        with self._in_flight_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sandbox")
            pool = self._pool
        scratch = Path(tempfile.mkdtemp(prefix="harness-sandbox-"))
        scratch.chmod(0o711)
        submitted: list[Future] = []
        try:
            jobs = {key: self._prepare(scratch / str(index), program) for index, (key, program) in enumerate(todo.items())}
            waits = submit_batch_compiles(self, list(jobs.values()), scratch, limits, pool) if self.mode == "fast" else {}
            submitted.extend(waits.values())
            futures = {key: pool.submit(self._execute_one, job, limits, waits.get(id(job)))
                       for key, job in jobs.items()}
            submitted.extend(futures.values())
            keys_by_future = {future: key for key, future in futures.items()}
            results = {}
            for future in as_completed(futures.values()):
                key = keys_by_future[future]
                results[key] = future.result()
                promised[key].set_result(results[key])
                if self.cache is not None:  # each verdict as it comes: a kill keeps what ran
                    self.cache.put_many({key: results[key]})
                if progress is not None:
                    progress(1)
            return results
        finally:
            for future in submitted:
                future.cancel()
            wait(submitted)  # nothing of this batch still uses its folders
            shutil.rmtree(scratch, ignore_errors=True)

    def warm_runs(self, spec: LanguageSpec, limits: Limits) -> bool:
        """Whether `spec`'s batch process also runs the programs (its `[warm]` command).

        A warm runner hands any program printing more than 1 MB to the plain path, so a batch with a
        smaller output cap runs every program the plain way.
        """
        return (self.warm and self.mode == "fast" and spec.warm is not None
                and limits.output_bytes >= WARM_OUTPUT_CAP)

    def _prepare(self, folder: Path, program: Program) -> Job:
        job = Job(self.specs[program.language], program, folder)
        job.reset()
        return job

    def _execute_one(self, job: Job, limits: Limits, batch: Future[None] | None) -> Execution:
        """Compile and run; a timeout is tried once more, since load on the machine can cause it."""
        try:
            if batch is not None:
                batch.result()
            execution = self._compile_and_run(job, limits)
            if execution.status == "timeout":
                job.reset()
                retried = self._compile_and_run(job, limits)
                execution = replace(retried, reason=f"{retried.reason} (twice)") if retried.status == "timeout" else retried
            return execution
        finally:
            shutil.rmtree(job.folder, ignore_errors=True)

    def _compile_and_run(self, job: Job, limits: Limits) -> Execution:
        if job.compiled is not None:
            return job.compiled
        if job.ran is not None:
            with self._count_lock:
                self.warm_verdicts += 1
            return job.ran
        if job.precompiled:
            with self._count_lock:
                self.batch_compiled += 1
        compile_step, run_step_spec = job.spec.commands(self.mode)
        mounts = self.mounts(job.spec, job.box)
        env = self.environment(job.spec)
        use_cgroups = self.cgroups_unavailable is None
        compile_s = 0.0
        if compile_step is not None and not job.precompiled:
            result = run_step(mounts, env, compile_step.command, compile_step.timeout_s, limits, job.folder,
                              use_cgroups)
            failure = compile_verdict(result)
            if failure is not None:
                return failure
            compile_s = result.duration_s
        if job.precompiled and job.spec.batch_run is not None:
            run_step_spec = Step(job.spec.batch_run, run_step_spec.timeout_s)
        timeout = limits.timeout_s or run_step_spec.timeout_s
        result = run_step(mounts, env, run_step_spec.command, timeout, limits, job.folder, use_cgroups,
                          private_box=True)
        return run_verdict(job.spec.passing, result, compile_s)

    def toolchain_version(self, key: str) -> str:
        """First line of the language's `version_command`, run in its sandbox; '' if unavailable."""
        spec = self.specs[key]
        if not spec.version_command or self.unavailable(key):
            return ""
        with tempfile.TemporaryDirectory(prefix="harness-version-") as folder:
            work = Path(folder) / "box"
            work.mkdir()
            result = run_step(self.mounts(spec, work), self.environment(spec), spec.version_command, 30, Limits(),
                              Path(folder), self.cgroups_unavailable is None)
        lines = (result.stdout + result.stderr).strip().splitlines()
        return lines[0].strip() if lines else ""

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self.cache is not None:
            self.cache.close()
