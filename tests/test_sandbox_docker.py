"""The Docker backend gives the local backend's verdicts, in one short-lived, locked-down container per program.

Needs a Docker engine: a running one is used; otherwise, as root, the session starts `dockerd`
itself and stops it at the end (with pytest-xdist the workers share it; the last one out stops
it). Without an engine, or with only the vfs storage driver (which copies the multi-GB tree for
every container: minutes per program), every test is skipped and says why. Images are built
from the local backend's trees on first use, so `harness sandbox build` must have run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness.sandbox.docker import LABEL, DockerSandbox
from harness.sandbox.images import build_images
from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Execution, Limits, Program
from tests.sandbox_support import gold_records, require_language, wrong_output_program

pytestmark = pytest.mark.docker

LANGUAGES = ("py", "cpp", "java", "js")
SMALL = Limits(memory_mb=256, pids=64)  # the language's own timeouts: no flaky cut under load
RUNS_FOREVER = Limits(timeout_s=2, memory_mb=256, pids=64)
STATE = Path(tempfile.gettempdir()) / "harness-test-dockerd"  # shared by xdist workers: lock, users, pid
ENGINE_WAIT_S = 60


def _ping() -> bool:
    import docker

    try:
        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except docker.errors.DockerException:
        return False


def _start_dockerd(log: Path) -> int:
    if os.geteuid() != 0:
        pytest.skip("no Docker engine is reachable, and only root can start one")
    if shutil.which("dockerd") is None:
        pytest.skip("no Docker engine is reachable and dockerd is not installed (apt-get install docker.io)")
    with open(log, "ab") as output:
        process = subprocess.Popen(["dockerd"], stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + ENGINE_WAIT_S
    while not _ping():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.skip(f"dockerd did not start: {log.read_text(errors='replace')[-1500:]}")
        time.sleep(0.5)
    return process.pid


def _alive(pid: int) -> bool:
    """Running, not a zombie (the worker that started it reaps it only when that worker exits)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reaps it here when this worker started it
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _stop(pid: int) -> None:
    """SIGTERM lets dockerd stop its containerd and unmount; SIGKILL only if it hangs."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + ENGINE_WAIT_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _shared_state(update: Callable[[dict[str, int]], None]) -> None:
    """Read-modify-write the workers' shared {users, pid} under an exclusive lock."""
    STATE.mkdir(exist_ok=True)
    with open(STATE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = STATE / "state.json"
        state = json.loads(path.read_text()) if path.exists() else {"users": 0, "pid": 0}
        update(state)
        path.write_text(json.dumps(state))


@pytest.fixture(scope="session")
def engine() -> Iterator[None]:
    pytest.importorskip("docker", reason="the Docker SDK is not installed: pip install 'harness[docker]'")

    def join(state: dict[str, int]) -> None:
        if not _ping():  # so no one is using an engine: any count left by a crashed session is stale
            state.update(pid=_start_dockerd(STATE / "dockerd.log"), users=0)
        state["users"] += 1

    def leave(state: dict[str, int]) -> None:
        state["users"] -= 1
        if state["users"] <= 0 and state["pid"]:
            _stop(state["pid"])
            state.update(users=0, pid=0)

    _shared_state(join)
    try:
        import docker

        client = docker.from_env()
        driver = client.info()["Driver"]
        client.close()
        if driver == "vfs":
            pytest.skip("the Docker engine uses the vfs storage driver, which copies the whole tree per container")
        yield
    finally:
        _shared_state(leave)


@pytest.fixture(scope="session")
def image(engine: None) -> Callable[[str], None]:
    """Ensures the language's image exists (built from its local tree and overlay on first use)."""
    built: set[str] = set()

    def need(language: str) -> None:
        require_language(language)
        if language not in built:
            build_images([language], log=lambda message: None)
            built.add(language)

    return need


@pytest.fixture
def sandbox() -> Iterator[DockerSandbox]:
    box = DockerSandbox(workers=1)  # pytest-xdist runs two tests at once: a third compile would risk timeouts
    yield box
    box.close()


def our_containers(box: DockerSandbox) -> list[object]:
    return box.client.api.containers(all=True, filters={"label": f"{LABEL}={box.session}"})


def statuses(executions: list[Execution]) -> list[str]:
    return [execution.status for execution in executions]


@pytest.mark.parametrize("language", LANGUAGES)
def test_gold_passes_and_mutated_fails_as_in_the_local_backend(language: str, image: Callable[[str], None],
                                                               sandbox: DockerSandbox) -> None:
    """Gold programs pass; golds given another record's answer fail (or, typed, do not compile), as locally."""
    image(language)
    spec = sandbox.specs[language]
    programs = [Program(language, row["code"]) for row in gold_records(language)[:2]]
    programs.append(Program(language, (spec.directory / spec.selftest["fail"]).read_text()))
    programs.append(Program(language, wrong_output_program(language, 1)))
    in_docker = statuses(sandbox.run(programs))
    assert in_docker[:3] == ["passed", "passed", "failed"]
    assert in_docker[3] in ("failed", "compile_error")
    assert in_docker == statuses(LocalSandbox().run(programs))
    assert our_containers(sandbox) == []


def test_limits_give_the_local_backend_statuses(image: Callable[[str], None], sandbox: DockerSandbox) -> None:
    image("py")
    image("cpp")
    programs = [
        Program("cpp", "int main( {"),
        Program("py", "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))\n"),
        Program("py", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"),
    ]
    in_docker = sandbox.run(programs, SMALL)
    assert statuses(in_docker) == ["compile_error", "memory", "output_limit"], in_docker
    assert "error" in in_docker[0].stderr
    assert statuses(in_docker) == statuses(LocalSandbox().run(programs, SMALL))
    forever = [Program("py", "while True:\n    pass\n"), Program("py", "import os\nwhile True:\n    os.fork()\n")]
    loop, fork_bomb = sandbox.run(forever, RUNS_FOREVER)
    assert loop.status == "timeout" and "(twice)" in loop.reason
    assert fork_bomb.status in ("failed", "timeout")  # a refused fork ends it, or under load the timeout
    assert our_containers(sandbox) == []


def test_network_is_unreachable(image: Callable[[str], None], sandbox: DockerSandbox) -> None:
    """Only a loopback device and no route: nothing is sent anywhere, even to find that out."""
    image("py")
    with socket.socket() as listener:  # a port on the host's loopback must not be reachable either
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        source = f"""
import os, socket
assert sorted(os.listdir("/sys/class/net")) == ["lo"], os.listdir("/sys/class/net")
assert open("/proc/net/route").read().count("\\n") == 1, open("/proc/net/route").read()
for attempt in [lambda: socket.getaddrinfo("example.com", 443),
                lambda: socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=1)]:
    try:
        attempt()
        raise SystemExit("reached the network")
    except OSError as error:
        print(error)
"""
        [execution] = sandbox.run([Program("py", source)], SMALL)
    assert execution.status == "passed", execution


def test_program_sees_what_it_sees_in_the_local_backend(image: Callable[[str], None], sandbox: DockerSandbox) -> None:
    image("py")
    source = """
import os
print(os.getuid(), os.getgid(), os.getcwd(), sorted(os.listdir(".")))
print(sorted(os.environ))
print(os.environ["PATH"], os.environ["HOME"], os.environ.get("LANG"))  # no LANG: the POSIX locale
for folder in ["/usr", "/etc", "/opt/harness/py", "/", "/tmp", "/box"]:
    try:
        open(os.path.join(folder, "probe"), "w").close()
        print(folder, "writable")
    except OSError:
        print(folder, "denied")
"""
    [in_docker] = sandbox.run([Program("py", source)])
    [local] = LocalSandbox().run([Program("py", source)])
    assert in_docker.status == local.status == "passed", in_docker
    assert in_docker.stdout == local.stdout
    assert in_docker.stdout.startswith("65534 65534 /box ['main.py']"), in_docker.stdout


def test_large_source_with_any_bytes_arrives_intact(image: Callable[[str], None], sandbox: DockerSandbox) -> None:
    image("py")
    payload = "".join(chr(code) for code in range(1, 0x800)) * 200  # over 500 KB: several exec chunks
    source = f"data = {payload!r}\nimport hashlib\nprint(hashlib.sha256(data.encode()).hexdigest())\n"
    [execution] = sandbox.run([Program("py", source)])
    assert execution.status == "passed", execution
    assert execution.stdout.strip() == hashlib.sha256(payload.encode()).hexdigest()


def test_containers_are_removed_after_an_engine_error(image: Callable[[str], None], sandbox: DockerSandbox,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    image("py")

    def broken(*args: object) -> None:
        raise OSError("injected failure")

    monkeypatch.setattr(sandbox, "_write_source", broken)
    [execution] = sandbox.run([Program("py", "pass\n")])
    assert execution.status == "sandbox_error" and "injected failure" in execution.reason
    assert our_containers(sandbox) == []


def test_containers_are_removed_after_an_interrupt(image: Callable[[str], None]) -> None:
    """Ctrl-C while a program sleeps: run() raises at once and leaves no container behind.

    The interrupt is raised from run()'s own progress callback when the quick program finishes,
    the way Ctrl-C surfaces in the calling thread, rather than by a signal from a timer thread:
    under pytest-xdist a signal's arrival relative to the containers cannot be controlled.
    """
    image("py")
    box = DockerSandbox(workers=2)
    programs = [Program("py", "pass\n"), Program("py", "import time\ntime.sleep(100)\n")]

    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            box.run(programs, progress=interrupt)
        assert time.monotonic() - started < 60  # the sleeping program was stopped, not waited for
        assert our_containers(box) == []
    finally:
        box.close()


def test_missing_image_is_a_sandbox_error_with_the_fix(engine: None, sandbox: DockerSandbox,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "image", lambda key: f"harness-sandbox-{key}:not-built")
    [execution] = sandbox.run([Program("py", "pass\n")])
    assert execution.status == "sandbox_error"
    assert "harness sandbox build --backend docker --language py" in execution.reason


def test_unreachable_engine_is_a_sandbox_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("docker", reason="the Docker SDK is not installed: pip install 'harness[docker]'")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    box = DockerSandbox()
    [execution] = box.run([Program("py", "pass\n")])
    box.close()
    assert execution.status == "sandbox_error" and "no Docker engine reachable" in execution.reason
