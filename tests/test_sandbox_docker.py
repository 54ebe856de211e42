"""The Docker backend gives the local backend's verdicts, in locked-down containers that each run a
chunk of programs one at a time, none of which reaches the next.

Needs a Docker engine: a running one is used; otherwise, as root, the session starts `dockerd`
itself with the best storage driver the host allows (overlay2, fuse-overlayfs, else vfs) and
stops it at the end (with pytest-xdist the workers share it; the last one out stops it).
Without an engine, or with only the vfs storage driver (which copies the multi-GB tree for every
container start), every test is skipped and says why. Images are built
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
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness.sandbox.docker import LABEL, DockerSandbox
from harness.sandbox.docker_batch import ChunkContainer
from harness.sandbox.docker_engine import start_dockerd
from harness.sandbox.images import build_images
from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Execution, Limits, Program
from tests.sandbox_support import comparable_output, gold_records, require_language, wrong_output_program
from tests.test_sandbox_warm import UNSTABLE_OUTPUT, parity_set

pytestmark = pytest.mark.docker

LANGUAGES = ("py", "cpp", "java", "js")
SMALL = Limits(memory_mb=256, pids=64)  # the language's own timeouts: no flaky cut under load
RUNS_FOREVER = Limits(timeout_s=2, memory_mb=256, pids=64)
PARITY_LIMITS = Limits(timeout_s=3, memory_mb=1024)  # as the warm parity tests: loops end in seconds
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
    """As root: the best storage driver this host allows (harness/sandbox/docker_engine.py)."""
    if os.geteuid() != 0:
        pytest.skip("no Docker engine is reachable, and only root can start one")
    if shutil.which("dockerd") is None:
        pytest.skip("no Docker engine is reachable and dockerd is not installed (apt-get install docker.io)")
    try:
        process, _ = start_dockerd(log, _ping)
    except RuntimeError as error:
        pytest.skip(str(error))
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


# The C++ mutated set (C++ has no warm runner, hence no file in tests/fixtures/warm_parity): the
# same kinds, each put at the start of main of a gold program.
CPP_MUTATIONS = {
    "exception": 'throw std::runtime_error("mutated");',
    "exit_code": "std::exit(3);",
    "exit_zero": 'std::puts("leaving"); std::exit(0);',
    "infinite_loop": "for (volatile long i = 0; ; i++) {}",
    "output_flood": 'for (int i = 0; i < 2000000; i++) std::puts("flood flood flood flood flood");',
    "stderr_only": 'std::fputs("a warning\\n", stderr);',
    "memory_hoard": "std::vector<std::vector<char>> hoard; while (true) hoard.emplace_back(64 << 20, 1);",
    "signal": "std::raise(SIGSEGV);",
    "background_child": 'if (fork() == 0) { prctl(PR_SET_NAME, "leftover"); sleep(60); return 0; } '
                        'std::puts("parent");',
    "file_write": 'std::ofstream("/box/left") << "x"; std::ofstream("/tmp/left") << "x"; '
                  'std::ofstream("/dev/shm/left") << "x";',
}
# Last: what the programs before it left behind (their files, the background child).
CPP_READER = ('for (auto path : {"/box/left", "/tmp/left", "/dev/shm/left"}) '
              'std::cout << std::ifstream(path).good(); '
              'int left = 0; for (auto& entry : std::filesystem::directory_iterator("/proc")) { '
              'std::string name; std::ifstream(entry.path() / "comm") >> name; left += name == "leftover"; } '
              'std::cout << " " << left << std::endl;')


# The one known difference: the JVM sizes its default heap from the memory limit it finds in the
# container's cgroup (a quarter of it), so a hoard meets OutOfMemoryError (failed); bubblewrap
# shows it no cgroup, so locally it sizes the heap from the machine's memory and is OOM-killed.
JVM_HEAP = {("java", "memory_hoard")}


def mutated_set(language: str) -> list[tuple[str, Program]]:
    """(kind, program): tests/fixtures/warm_parity's set, or for C++ the mutations above."""
    if language != "cpp":
        return [(row["kind"], Program(language, row["source"])) for row in parity_set(language)]
    gold = gold_records(language)[0]["code"]
    programs = [("wrong_answer", Program(language, wrong_output_program(language, index))) for index in range(4)]
    for kind, statement in [*CPP_MUTATIONS.items(), ("reads_global_state", CPP_READER)]:
        mutated = gold.replace("int main() {", "int main() {\n    " + statement, 1)
        programs.append((kind, Program(language, "#include <sys/prctl.h>\n#include <unistd.h>\n" + mutated)))
    return programs


@pytest.mark.parametrize("language", ["py", "cpp", "java", "rb"])
def test_mutated_set_gives_the_local_verdicts(language: str, image: Callable[[str], None]) -> None:
    """Each program of a chunk gets the verdict (and output) it gets alone in a local sandbox; the
    last one reads what the others could have left behind in the container, and finds nothing."""
    image(language)
    kinds, programs = zip(*mutated_set(language))
    box = DockerSandbox(workers=1)
    try:
        in_docker = box.run(programs, PARITY_LIMITS)
        assert our_containers(box) == []
    finally:
        box.close()
    local = LocalSandbox(warm=False).run(programs, PARITY_LIMITS)
    differences = []
    for kind, ours, theirs in zip(kinds, in_docker, local):
        if "timeout" in (ours.status, theirs.status) and ours.status != theirs.status:
            continue  # a slow program (a hoard, a deep recursion) racing the timeout on a loaded machine
        if (language, kind) in JVM_HEAP and (ours.status, theirs.status) == ("failed", "memory"):
            continue
        if ours.status != theirs.status:
            differences.append(f"{kind}: docker {ours.status} ({ours.reason}), local {theirs.status}")
        elif kind not in UNSTABLE_OUTPUT and comparable_output(ours.stdout) != comparable_output(theirs.stdout):
            differences.append(f"{kind}: stdout {ours.stdout[:80]!r} vs {theirs.stdout[:80]!r}")
    assert differences == []
    by_kind = dict(zip(kinds, statuses(in_docker)))
    assert by_kind["infinite_loop"] == "timeout" and by_kind["output_flood"] == "output_limit"
    assert by_kind["memory_hoard"] in ("memory", "failed")  # the JVM and Python report a refused allocation
    assert (in_docker[-1].status, in_docker[-1].stdout) == (local[-1].status, local[-1].stdout), in_docker[-1]


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
print(os.environ["PATH"], os.environ["HOME"], os.environ.get("LANG"))  # LANG=C.UTF-8 in both, the official image's
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

    monkeypatch.setattr(ChunkContainer, "prepare", broken)
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
