"""The Docker backend: every program in its own container built from the local backend's trees.

Same batching, cache and verdict rules as the local backend (it is a LocalSandbox whose executor
is Docker), so both give the same verdicts on the same programs. One container per program: it
is created from the language's image (see images.py) with no network, a read-only root, tmpfs
/box and /tmp, uid nobody and memory, pids, CPU and file-size limits, and idles while the host
drives it. The source is written with one exec, and each step (compile, then run) is one more
exec whose output the host streams, keeping the head and counting the rest, so a timeout or an
output flood is handled by killing the whole container. One container for both steps, because
a container start costs most of a program's time. After the last step a root exec reads the
container's own memory cgroup for OOM kills (a leftover program process, running as nobody,
cannot write into that exec's output). Batch compilation is not used: fast mode runs the `[fast]`
commands one program at a time, which the language files guarantee gives the same verdicts.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from harness.errors import UsageError
from harness.sandbox.cache import ExecutionCache, execution_key
from harness.sandbox.images import connect, image_exists, language_image
from harness.sandbox.languages import LanguageSpec
from harness.sandbox.local import OFFICIAL_LOCALE, LocalSandbox
from harness.sandbox.process import BASE_PATH, KEPT_OUTPUT_BYTES, NOBODY, SIGXFSZ_EXIT, StepResult
from harness.sandbox.rootfs import OVERLAY_MOUNT, WORK_MOUNT, toolchain_id
from harness.sandbox.types import Execution, Limits, Program
from harness.sandbox.verdict import compile_verdict, run_verdict

if TYPE_CHECKING:
    from docker import DockerClient

LABEL = "harness.sandbox"
SOURCE_CHUNK = 96 * 1024  # base64 characters per exec: under Linux's 128 KiB cap on one env string
OOM_COUNTERS = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"
EXIT_POLL_S = 0.01
CLEAN_ENV = ("env", "-u", "HOSTNAME")  # Docker adds HOSTNAME; the local backend's environment has none


def _engine_errors() -> tuple[type[BaseException], ...]:
    import docker
    import requests

    return docker.errors.DockerException, requests.RequestException, OSError


class DockerSandbox(LocalSandbox):
    """Runs each program in a fresh container; see the module docstring."""

    name = "docker"

    def __init__(self, mode: str = "fast", workers: int | None = None, cache: ExecutionCache | None = None,
                 sandboxes_dir: Path | None = None, cpus: float = 1.0, locale: str = OFFICIAL_LOCALE) -> None:
        super().__init__(mode, workers, cache, sandboxes_dir, warm=False, locale=locale)
        self.cpus = cpus
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
            except _engine_errors() as error:
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
            futures = {pool.submit(self._run_with_retry, program, limits): key for key, program in todo.items()}
            results = {}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(1)
            return results
        except BaseException:
            self._interrupted.set()
            pool.shutdown(wait=False, cancel_futures=True)
            self._remove_containers()  # running programs end at once, as sandbox errors
            raise
        finally:
            pool.shutdown(wait=True)

    def _run_with_retry(self, program: Program, limits: Limits) -> Execution:
        """As the local backend: a timeout is tried once more (in a fresh container), since load can cause it."""
        execution = self._run_once(program, limits)
        if execution.status == "timeout":
            retried = self._run_once(program, limits)
            execution = replace(retried, reason=f"{retried.reason} (twice)") if retried.status == "timeout" else retried
        return execution

    def _run_once(self, program: Program, limits: Limits) -> Execution:
        spec = self.specs[program.language]
        container: str | None = None
        if self._interrupted.is_set():
            return Execution("sandbox_error", None, 0.0, reason="interrupted")
        try:
            container = self._start(spec, limits)
            if self._interrupted.is_set():  # started after the interrupt's sweep: remove it here
                return Execution("sandbox_error", None, 0.0, reason="interrupted")
            self._write_source(container, spec.source_file, program.source)
            return self._run_steps(container, spec, limits)
        except _engine_errors() as error:
            return Execution("sandbox_error", None, 0.0, reason=f"Docker engine error: {error}")
        finally:
            if container is not None:
                self._remove(container)

    def _run_steps(self, container: str, spec: LanguageSpec, limits: Limits) -> Execution:
        """The OOM counter is read once, after the last step: it counts the compile's kills too."""
        compile_step, run_step = spec.commands(self.mode)
        compile_s = 0.0
        if compile_step is not None:
            result = self._step(container, compile_step.command, compile_step.timeout_s, limits)
            if compile_verdict(result) is not None:  # it failed: whether memory ran out decides how
                failure = compile_verdict(self._with_oom(container, result))
                assert failure is not None
                return failure
            compile_s = result.duration_s
        result = self._step(container, run_step.command, limits.timeout_s or run_step.timeout_s, limits)
        return run_verdict(spec.passing, self._with_oom(container, result), compile_s)

    def _with_oom(self, container: str, result: StepResult) -> StepResult:
        if result.timed_out:
            return result  # the container is killed, and a timeout is the verdict anyway
        return replace(result, out_of_memory=self._oom_killed(container))

    def _start(self, spec: LanguageSpec, limits: Limits) -> str:
        """Create and start the program's container: idle as nobody until the host's execs drive it."""
        from docker.types import Ulimit

        api = self.client.api
        memory = f"{limits.memory_mb}m"
        tmpfs = f"rw,exec,nosuid,nodev,size={memory},uid={NOBODY},gid={NOBODY},mode=0755"
        host_config = api.create_host_config(
            network_mode="none", mem_limit=memory, memswap_limit=memory, pids_limit=limits.pids,
            nano_cpus=int(self.cpus * 1e9), read_only=True, tmpfs={WORK_MOUNT: tmpfs, "/tmp": tmpfs},
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="fsize", soft=limits.output_bytes, hard=limits.output_bytes),
                     Ulimit(name="nofile", soft=1024, hard=1024), Ulimit(name="core", soft=0, hard=0)])
        env = {"PATH": f"{OVERLAY_MOUNT}/{spec.key}/bin:{BASE_PATH}", "HOME": "/tmp", "TMPDIR": "/tmp",
               **self.environment(spec)}
        created = api.create_container(self.image(spec.key), ["sleep", "infinity"], user=f"{NOBODY}:{NOBODY}",
                                       environment=env, working_dir=WORK_MOUNT, host_config=host_config,
                                       labels={LABEL: self.session})
        container: str = created["Id"]
        try:
            api.start(container)
        except BaseException:
            self._remove(container)
            raise
        return container

    def _write_source(self, container: str, name: str, source: str) -> None:
        """Base64 through the environment of short execs: exact bytes, and nothing left for the program to see."""
        encoded = base64.b64encode(source.encode("utf-8")).decode("ascii")
        chunks = [encoded[start:start + SOURCE_CHUNK] for start in range(0, len(encoded), SOURCE_CHUNK)] or [""]
        for chunk in chunks:
            output, exit_code = self._exec_output(container, ['printf %s "$HARNESS_CHUNK" | base64 -d >> "$0"', name],
                                                  user=f"{NOBODY}:{NOBODY}", environment={"HARNESS_CHUNK": chunk})
            if exit_code != 0:
                raise OSError(f"writing the source into the container failed (exit {exit_code}): {output[-500:]!r}")

    def _exec_output(self, container: str, script: list[str], user: str,
                     environment: dict[str, str] | None = None) -> tuple[bytes, int | None]:
        api = self.client.api
        exec_id = api.exec_create(container, ["/bin/sh", "-c", *script], user=user, workdir=WORK_MOUNT,
                                  environment=environment)["Id"]
        output = api.exec_start(exec_id)
        return output, self._exit_code(exec_id)

    def _exit_code(self, exec_id: str) -> int | None:
        """The exec's exit code; the stream can close a moment before Docker records the exit."""
        deadline = time.monotonic() + 5
        while True:
            state = self.client.api.exec_inspect(exec_id)
            if not state["Running"] or time.monotonic() > deadline:
                return state["ExitCode"]
            time.sleep(EXIT_POLL_S)

    def _step(self, container: str, command: str, timeout_s: float, limits: Limits) -> StepResult:
        """One command as nobody in /box; a timeout or an output flood kills the container."""
        api = self.client.api
        exec_id = api.exec_create(container, [*CLEAN_ENV, "/bin/sh", "-c", command], user=f"{NOBODY}:{NOBODY}",
                                  workdir=WORK_MOUNT)["Id"]
        flags = {"timed_out": False, "limited": False}

        def stop(flag: str) -> None:
            flags[flag] = True
            self._kill(container)

        def deadline() -> None:
            """The command may have ended in time while a child it left holds the output open a moment."""
            try:
                running = api.exec_inspect(exec_id)["Running"]
            except _engine_errors():
                running = True
            if running:
                stop("timed_out")

        timer = threading.Timer(timeout_s, deadline)
        heads, sizes = [bytearray(), bytearray()], [0, 0]
        started = time.perf_counter()
        stream = api.exec_start(exec_id, stream=True, demux=True)
        timer.start()
        try:
            for chunks in stream:
                for index, chunk in enumerate(chunks):
                    if chunk:
                        heads[index] += chunk[:KEPT_OUTPUT_BYTES - len(heads[index])]
                        sizes[index] += len(chunk)
                if max(sizes) >= limits.output_bytes and not flags["limited"]:
                    stop("limited")
        finally:
            timer.cancel()
        duration = time.perf_counter() - started
        stdout, stderr = (head.decode("utf-8", errors="replace") for head in heads)
        if flags["timed_out"]:
            return StepResult(None, duration, stdout, stderr, timed_out=True)
        exit_code = None if flags["limited"] else self._exit_code(exec_id)
        limited = flags["limited"] or exit_code == SIGXFSZ_EXIT
        return StepResult(exit_code, duration, stdout, stderr, output_limited=limited)

    def _oom_killed(self, container: str) -> bool:
        """Whether the kernel OOM-killed anything in the container (cgroup v2 or v1 counters).

        A container that died (its idle process killed) reports Docker's own OOMKilled flag instead.
        """
        import docker

        try:
            output, _ = self._exec_output(container, [OOM_COUNTERS], user="0:0")
        except docker.errors.APIError:
            output = b""
        for line in output.decode(errors="replace").splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return bool(self.client.api.inspect_container(container)["State"]["OOMKilled"])

    def _kill(self, container: str) -> None:
        try:
            self.client.api.kill(container)
        except _engine_errors():
            pass  # already stopped or removed: either way it runs no more

    def _remove(self, container: str) -> None:
        try:
            self.client.api.remove_container(container, force=True)
        except _engine_errors():
            pass

    def _remove_containers(self) -> None:
        """Remove every container this sandbox started (after an interrupt, or on close)."""
        if self._client is None:
            return
        try:
            found: list[dict[str, Any]] = self.client.api.containers(
                all=True, filters={"label": f"{LABEL}={self.session}"})
        except _engine_errors():
            return
        for container in found:
            self._remove(container["Id"])

    def close(self) -> None:
        self._remove_containers()
        if self._client is not None:
            self._client.close()
            self._client = None
        super().close()
