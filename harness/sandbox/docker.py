"""The Docker backend: chunks of programs, each chunk in one container built from the local backend's trees.

Same cache and verdict rules as the local backend (it is a LocalSandbox whose executor is Docker),
so both give the same verdicts on the same programs. Each language's programs are split into
chunks (at most MAX_CHUNK, balanced over the workers), and a chunk's programs run one after
another in one container (docker_batch.py), created from the language's image (see images.py)
with no network, a read-only root, tmpfs /box and /tmp, programs as uid nobody without any
capability, and memory, pids, CPU and file-size limits that, with one program at a time, are
that program's. The source is written with one exec, each step (compile, then run) is one more
exec whose output the host streams, keeping the head and counting the rest, and a timeout or an
output flood kills every process of the program. Before each program, every process of the last
one is killed and every writable place emptied; a program is `memory` when the container's
OOM-kill counter grew while it ran.

What a program keeps and loses against the local backend's sandbox of its own (bubblewrap):
- kept: no network, read-only toolchain, uid nobody, a /box holding only its source, an empty
  /tmp, the same limits, every process killed at its end (a background child too), OOM as
  `memory`, output cap, timeout retried once;
- lost: its own pid, IPC, UTS and mount namespaces. The programs of a chunk share the
  container's, one after another: a program sees the idle pid 1 and its `sleep` (real uid
  nobody, effective uid root: it may signal them, not ptrace them) and pids counting up from the
  last program's; SysV IPC and POSIX queues live on between programs but are emptied (ipcrm,
  /dev/mqueue) before each; the page cache its predecessors filled is charged to the same
  memory cgroup (reclaimable).
A container start costs more than most programs (0.3 s with overlay2; seconds with vfs), which
is what the chunks save. The verdicts on the mutated set are the local backend's
(tests/test_sandbox_docker.py) but for one known difference, which one container per program
had too: the JVM sizes its heap from the container's memory limit, which bubblewrap hides, so
a Java memory hoard is `failed` (OutOfMemoryError) here and `memory` locally. Why not
bubblewrap inside the container (namespaces per program): user namespaces there need a relaxed
seccomp profile and `systempaths=unconfined`, and bwrap in every image; this design keeps
Docker's default profile. Batch compilers and warm runners are not used: fast mode runs the
`[fast]` commands one program at a time, which the language files guarantee gives the same
verdicts.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from harness.errors import UsageError
from harness.sandbox.cache import ExecutionCache, execution_key
from harness.sandbox.chunks import balanced_chunks
from harness.sandbox.docker_batch import LABEL, ChunkContainer, ContainerBroken, engine_errors, remove
from harness.sandbox.images import connect, image_exists, language_image
from harness.sandbox.languages import LanguageSpec
from harness.sandbox.local import OFFICIAL_LOCALE, LocalSandbox
from harness.sandbox.process import StepResult
from harness.sandbox.rootfs import toolchain_id
from harness.sandbox.types import Execution, Limits, Program
from harness.sandbox.verdict import compile_verdict, run_verdict

if TYPE_CHECKING:
    from docker import DockerClient

MAX_CHUNK = 32  # programs per container: a start amortised over 32, and a lost container costs little


class DockerSandbox(LocalSandbox):
    """Runs chunks of programs in containers, one program at a time; see the module docstring."""

    name = "docker"
    concurrent_runs = 1  # one batch at a time: a batch's interruption and image lookups are per sandbox

    def __init__(self, mode: str = "fast", workers: int | None = None, cache: ExecutionCache | None = None,
                 sandboxes_dir: Path | None = None, locale: str = OFFICIAL_LOCALE) -> None:
        # a worker per core: the extra local worker covers cgroup joins, which containers do not make per program
        super().__init__(mode, workers or os.cpu_count() or 1, cache, sandboxes_dir, warm=False, locale=locale)
        self.session = uuid.uuid4().hex
        self._client: DockerClient | None = None
        self._engine_error: str | None = None
        self._images: dict[str, str | None] = {}
        self._interrupted = threading.Event()

    @property
    def client(self) -> "DockerClient":
        if self._client is None:
            raise RuntimeError("the Docker engine is not connected; call unavailable() first")
        return self._client

    def _engine_unavailable(self) -> str | None:
        if self._client is None and self._engine_error is None:
            try:
                self._client = connect(pool_size=3 * self.workers + 2)
            except UsageError as error:
                self._engine_error = str(error)
        return self._engine_error

    def unavailable(self, key: str) -> str | None:
        """Why programs in `key` cannot run here (unknown language, engine down, image not built), or None."""
        if key not in self.specs:
            return f"unknown language {key!r} (no sandboxes/{key}/language.toml)"
        engine = self._engine_unavailable()
        if engine is not None:
            return engine
        if key not in self._images:
            tag = self.image(key)
            try:
                found = image_exists(self.client, tag)
            except engine_errors() as error:
                return f"Docker engine error while looking for {tag}: {error}"
            self._images[key] = None if found else (
                f"the Docker image {tag} is not built; run `harness sandbox build --backend docker --language {key}`")
        return self._images[key]

    def image(self, key: str) -> str:
        return language_image(self.specs[key], list(self.specs.values()))

    def run(self, programs: Sequence[Program], limits: Limits | None = None,
            progress: Callable[[int], None] | None = None) -> list[Execution]:
        self._images.clear()  # an image built since the last batch is found; a removed one is noticed
        return super().run(programs, limits, progress)

    def _key(self, program: Program, limits: Limits) -> str:
        """Docker verdicts are cached apart from local ones: each backend's results come from itself."""
        spec = self.specs.get(program.language)
        toolchain = toolchain_id(spec, list(self.specs.values())) if spec else program.language
        return execution_key(f"docker:{toolchain}", self.cache_mode(spec, limits), limits.key(),
                             program.source_hash())

    def _execute(self, todo: dict[str, Program], limits: Limits,
                 progress: Callable[[int], None] | None) -> dict[str, Execution]:
        if not todo:
            return {}
        self._interrupted.clear()
        pool = ThreadPoolExecutor(self.workers)
        try:
            futures = [pool.submit(self._run_chunk, chunk, limits) for chunk in self._chunks(todo)]
            results = {}
            for future in as_completed(futures):
                verdicts = future.result()
                results.update(verdicts)
                if self.cache is not None:  # each chunk's verdicts as they come: a kill keeps what ran
                    self.cache.put_many(verdicts)
                if progress is not None:
                    progress(len(verdicts))
            return results
        except BaseException:
            self._interrupted.set()
            pool.shutdown(wait=False, cancel_futures=True)
            self._remove_containers()  # running programs end at once, as sandbox errors
            raise
        finally:
            pool.shutdown(wait=True)

    def _chunks(self, todo: dict[str, Program]) -> list[list[tuple[str, Program]]]:
        """Each language's programs in chunks of at most MAX_CHUNK, balanced over the workers."""
        by_language: dict[str, list[tuple[str, Program]]] = {}
        for key, program in todo.items():
            by_language.setdefault(program.language, []).append((key, program))
        return [list(chunk) for group in by_language.values()
                for chunk in balanced_chunks(group, MAX_CHUNK, self.workers)]

    def _run_chunk(self, chunk: list[tuple[str, Program]], limits: Limits) -> dict[str, Execution]:
        """The chunk's programs one after another in one container; a broken container is replaced."""
        spec = self.specs[chunk[0][1].language]
        container: ChunkContainer | None = None
        results = {}
        try:
            for key, program in chunk:
                if self._interrupted.is_set():
                    results[key] = Execution("sandbox_error", None, 0.0, reason="interrupted")
                    continue
                try:
                    if container is None:
                        container = ChunkContainer(self.client, self.image(spec.key), self.environment(spec),
                                                   spec.key, limits, self.session)
                    results[key] = self._run_with_retry(container, spec, program, limits)
                except (ContainerBroken, *engine_errors()) as error:
                    results[key] = Execution("sandbox_error", None, 0.0, reason=f"Docker engine error: {error}")
                    if container is not None:
                        container.remove()
                        container = None
        finally:
            if container is not None:
                container.remove()
        return results

    def _run_with_retry(self, container: ChunkContainer, spec: LanguageSpec, program: Program,
                        limits: Limits) -> Execution:
        """As the local backend: a timeout is tried once more, since load on the machine can cause it."""
        execution = self._run_once(container, spec, program, limits)
        if execution.status == "timeout":
            retried = self._run_once(container, spec, program, limits)
            execution = replace(retried, reason=f"{retried.reason} (twice)") if retried.status == "timeout" else retried
        return execution

    def _run_once(self, container: ChunkContainer, spec: LanguageSpec, program: Program, limits: Limits) -> Execution:
        """Compile, then run; the sweep after the last step also says whether memory ran out (the
        compile's kills count too), except after a timeout, which is the verdict anyway."""
        container.prepare(spec.source_file, program.source)
        compile_step, run_step = spec.commands(self.mode)
        compile_s = 0.0
        if compile_step is not None:
            result = container.step(compile_step.command, compile_step.timeout_s)
            if compile_verdict(result) is not None:
                failure = compile_verdict(self._with_oom(container, result))
                assert failure is not None
                return failure
            compile_s = result.duration_s
        result = container.step(run_step.command, limits.timeout_s or run_step.timeout_s)
        return run_verdict(spec.passing, self._with_oom(container, result), compile_s)

    @staticmethod
    def _with_oom(container: ChunkContainer, result: StepResult) -> StepResult:
        out_of_memory = container.finish()
        return result if result.timed_out else replace(result, out_of_memory=out_of_memory)

    def _remove_containers(self) -> None:
        """Remove every container this sandbox started (after an interrupt, or on close)."""
        if self._client is None:
            return
        try:
            found: list[dict[str, Any]] = self.client.api.containers(
                all=True, filters={"label": f"{LABEL}={self.session}"})
        except engine_errors():
            return
        for container in found:
            remove(self.client, container["Id"])

    def close(self) -> None:
        self._remove_containers()
        if self._client is not None:
            self._client.close()
            self._client = None
        super().close()
