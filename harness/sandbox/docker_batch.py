"""One container for a chunk of programs of a language, run one after another, each in a fresh state.

Why: starting a container costs far more than running a typical program (0.3 s with overlay2,
seconds with vfs), so a container now serves a chunk of programs. Only one program runs in it
at a time, so the container's limits are that program's: memory (tmpfs pages included), pids,
CPU, and RLIMIT_FSIZE/NOFILE/CORE. Between programs nothing of the last one survives:
- *processes*: a root exec scans /proc and SIGKILLs every process of uid nobody until none is
  left. It runs as root (capabilities KILL and SETUID only, the latter for the idle pid 1, IDLE,
  which reaps what the sweep kills), so that a program's leftover process cannot ptrace it and
  stop the sweep; programs run as nobody with no capability at all.
- *files and IPC*: an exec as nobody, once nothing of the program runs, empties /box, /tmp,
  /dev/shm and /dev/mqueue and removes SysV IPC objects, then writes the next source. The root
  is read-only, so nothing else is writable.
- *OOM*: the container's memory cgroup counts OOM kills; the sweep reads the counter, and a
  program is `memory` when it grew while that program ran.
A timeout or an output flood runs the sweep at once (the step's stream then ends); if the sweep
cannot run or cannot empty the container, that program is a sandbox error, the container is
discarded and the next program gets a fresh one.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import TYPE_CHECKING

from harness.sandbox.process import BASE_PATH, KEPT_OUTPUT_BYTES, NOBODY, SIGXFSZ_EXIT, StepResult
from harness.sandbox.rootfs import OVERLAY_MOUNT, WORK_MOUNT
from harness.sandbox.types import Limits

if TYPE_CHECKING:
    from docker import DockerClient

LABEL = "harness.sandbox"
SOURCE_CHUNK = 96 * 1024  # base64 characters per exec: under Linux's 128 KiB cap on one env string
EXIT_POLL_S = 0.01
CLEAN_ENV = ("env", "-u", "HOSTNAME")  # Docker adds HOSTNAME; the local backend's environment has none
AS_NOBODY = f"{NOBODY}:{NOBODY}"
# The idle pid 1: a shell that reaps whatever is orphaned to it (its `wait` takes any child), with
# real uid nobody and effective uid root. A program may therefore signal it, as it may signal the
# local backend's pid 1 (the kernel ignores what a pid namespace's init has no handler for), but
# not ptrace it, which needs all of its uids to match; and the sweep, which goes by effective
# uid, leaves it and its `sleep` alone. (`-p`: dash would otherwise drop the effective uid.)
IDLE = ["setpriv", f"--ruid={NOBODY}", "--", "/bin/sh", "-p", "-c", "while :; do sleep 86400 & wait; done"]
# Kills every live process of (effective) uid nobody, pass after pass until a pass finds none (a fork bomb's
# children appear between passes; the pids limit bounds them), then prints the OOM-kill counter.
SWEEP = f"""
for pass in $(seq 200); do
  found=0
  for status in /proc/[0-9]*/status; do
    pid=${{status#/proc/}}; pid=${{pid%/status}}; state=; uid=
    while read -r key value effective _; do
      case $key in State:) state=$value ;; Uid:) uid=$effective; break ;; esac
    done < "$status" 2>/dev/null
    if [ "$uid" = {NOBODY} ] && [ "$state" != Z ]; then kill -9 "$pid" 2>/dev/null; found=1; fi
  done
  if [ $found = 0 ]; then
    cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null
    exit 0
  fi
done
echo "processes of uid {NOBODY} still alive after 200 passes" >&2
exit 1
"""
# Run as nobody once no program process is left: every place a program can write, emptied.
WIPE = f"""
chmod -R u+rwx {WORK_MOUNT} /tmp /dev/shm /dev/mqueue 2>/dev/null
find {WORK_MOUNT} /tmp /dev/shm /dev/mqueue -mindepth 1 -delete 2>/dev/null
chmod 0755 {WORK_MOUNT} /tmp
ipcrm -a 2>/dev/null
left=$(find {WORK_MOUNT} /tmp /dev/shm /dev/mqueue -mindepth 1 -print -quit 2>&1)
[ -z "$left" ] || {{ echo "cannot empty the writable folders: $left" >&2; exit 1; }}
"""
# A step's command, then every process it left (uid nobody; the shell itself is spared) killed, as
# the local backend's pid namespace ends with its command: a background child holding stdout open
# would otherwise keep the step running until its timeout.
END_WITH_COMMAND = '/bin/sh -c "$1"; code=$?; kill -9 -1 2>/dev/null; exit $code'
WRITE_SOURCE = 'printf %s "$HARNESS_CHUNK" | base64 -d >> "$0"'


class ContainerBroken(Exception):
    """The container could not be swept or emptied: the chunk's next program needs a fresh one."""


class ChunkContainer:
    """A started container that runs programs one at a time, each after a sweep and a wipe."""

    def __init__(self, client: "DockerClient", image: str, environment: dict[str, str], language: str,
                 limits: Limits, session: str) -> None:
        from docker.types import Ulimit

        self.client = client
        self.limits = limits
        self.oom_kills = 0  # the counter's value when the current program started
        api = client.api
        memory = f"{limits.memory_mb}m"
        tmpfs = f"rw,exec,nosuid,nodev,size={memory},uid={NOBODY},gid={NOBODY},mode=0755"
        host_config = api.create_host_config(
            network_mode="none", mem_limit=memory, memswap_limit=memory, pids_limit=limits.pids,
            nano_cpus=int(limits.cpus * 1e9), read_only=True, tmpfs={WORK_MOUNT: tmpfs, "/tmp": tmpfs},
            cap_drop=["ALL"], cap_add=["KILL", "SETUID"], security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="fsize", soft=limits.output_bytes, hard=limits.output_bytes),
                     Ulimit(name="nofile", soft=1024, hard=1024), Ulimit(name="core", soft=0, hard=0)])
        env = {"PATH": f"{OVERLAY_MOUNT}/{language}/bin:{BASE_PATH}", "HOME": "/tmp", "TMPDIR": "/tmp",
               **environment}
        created = api.create_container(image, IDLE, user="0:0", environment=env,
                                       working_dir=WORK_MOUNT, host_config=host_config,
                                       labels={LABEL: session})
        self.id: str = created["Id"]
        try:
            api.start(self.id)
        except BaseException:
            self.remove()
            raise

    def prepare(self, name: str, source: str) -> None:
        """Empty every writable place and write the source; the last program's processes are gone."""
        encoded = base64.b64encode(source.encode("utf-8")).decode("ascii")
        chunks = [encoded[start:start + SOURCE_CHUNK] for start in range(0, len(encoded), SOURCE_CHUNK)] or [""]
        for index, chunk in enumerate(chunks):
            script = (WIPE if index == 0 else "") + WRITE_SOURCE
            output, exit_code = self._exec_output([script, name], AS_NOBODY, {"HARNESS_CHUNK": chunk})
            if exit_code != 0:
                raise ContainerBroken(f"preparing the container failed (exit {exit_code}): {output[-500:]!r}")

    def finish(self) -> bool:
        """Sweep the program's processes; whether the kernel OOM-killed any of them.

        A container that died meanwhile (its idle process killed) reports Docker's OOMKilled flag
        and is broken: the next program needs a fresh one.
        """
        import docker

        try:
            output, exit_code = self._exec_output([SWEEP], "0:0")
        except docker.errors.APIError:
            exit_code, output = None, b""
        if exit_code != 0:
            if self.client.api.inspect_container(self.id)["State"]["OOMKilled"]:
                return True
            raise ContainerBroken(f"sweeping the container's processes failed (exit {exit_code}): {output[-500:]!r}")
        counter = self.oom_kills
        for line in output.decode(errors="replace").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                counter = int(value)
        killed, self.oom_kills = counter > self.oom_kills, counter
        return killed

    def step(self, command: str, timeout_s: float) -> StepResult:
        """One command as nobody in /box; a timeout or an output flood sweeps the program's processes."""
        api = self.client.api
        exec_id = api.exec_create(self.id, [*CLEAN_ENV, "/bin/sh", "-c", END_WITH_COMMAND, "sh", command],
                                  user=AS_NOBODY, workdir=WORK_MOUNT)["Id"]
        flags = {"timed_out": False, "limited": False}

        def stop(flag: str) -> None:
            """From another thread: the stream must keep being drained, or the engine stalls the sweep."""
            flags[flag] = True
            threading.Thread(target=self._stop_program, daemon=True).start()

        def deadline() -> None:
            """The command may have ended in time while a child it left holds the output open a moment."""
            try:
                running = api.exec_inspect(exec_id)["Running"]
            except engine_errors():
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
                if max(sizes) >= self.limits.output_bytes and not flags["limited"]:
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

    def _stop_program(self) -> None:
        """The sweep ends the step's stream; if even that fails, the container is killed."""
        try:
            _, exit_code = self._exec_output([SWEEP], "0:0")
        except engine_errors():
            exit_code = None
        if exit_code != 0:
            kill(self.client, self.id)

    def _exec_output(self, script: list[str], user: str,
                     environment: dict[str, str] | None = None) -> tuple[bytes, int | None]:
        api = self.client.api
        exec_id = api.exec_create(self.id, ["/bin/sh", "-c", *script], user=user, workdir=WORK_MOUNT,
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

    def remove(self) -> None:
        remove(self.client, self.id)


def engine_errors() -> tuple[type[BaseException], ...]:
    """What a call to the engine raises when the engine, or the connection to it, fails."""
    import docker
    import requests

    return docker.errors.DockerException, requests.RequestException, OSError


def kill(client: "DockerClient", container: str) -> None:
    try:
        client.api.kill(container)
    except engine_errors():
        pass  # already stopped or removed: either way it runs no more


def remove(client: "DockerClient", container: str) -> None:
    try:
        client.api.remove_container(container, force=True)
    except engine_errors():
        pass
