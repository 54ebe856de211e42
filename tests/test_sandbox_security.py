"""Hostile programs are contained: each language family's attacks get the honest status and leave nothing behind.

Every family (CPython, a native binary, the JVM, Node, the shell, Racket) is attacked in its own idiom: the
network, writes outside the work folder, a fork bomb, a memory bomb, an infinite loop, an output
flood and a child left running after the program exits. Each program names its processes with a
unique marker (`/proc/self/comm`, argv[0] or the environment of what it spawns), so after `run()`
returns the test can look through the host's /proc for anything of the program still alive; the
cgroups the backend created for it must be gone too. A language's attacks run as one batch per
limit (the JVM's warm compiler then starts once), under small limits: 256 MB, 64 pids, and a 2 s
timeout for the programs that never end by themselves. The attacks are data, one file per language:
tests/fixtures/sandbox_attacks/<language>.toml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from harness.sandbox.local import LocalSandbox
from harness.sandbox.process import run_step
from harness.sandbox.types import Limits, Program
from tests.sandbox_support import (Outcome, assert_contained, attack_program, files_written_outside, leftover_cgroups,
                                   leftover_processes, new_marker, require_language)

FAMILIES = ("py", "cpp", "java", "js", "sh", "rkt")
ENDS_BY_ITSELF = Limits(memory_mb=256, pids=64)  # the language's own timeout: no flaky cut under load
RUNS_FOREVER = Limits(timeout_s=2, memory_mb=256, pids=64)
HELLO = {
    "py": 'print("alive")\n',
    "cpp": '#include <cstdio>\nint main() { std::puts("alive"); }\n',
    "java": 'class Problem {\n    public static void main(String[] args) { System.out.println("alive"); }\n}\n',
    "js": 'console.log("alive");\n',
    "sh": "echo alive\n",
    "rkt": '#lang racket\n(displayln "alive")\n',
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LocalSandbox]:
    local = LocalSandbox()
    yield local
    local.close()


def run_attacks(sandbox: LocalSandbox, language: str, attacks: tuple[str, ...], limits: Limits,
                port: int = 0) -> dict[str, Outcome]:
    """Run the attacks as one batch (one warm compiler for the JVM); no cgroup of theirs may remain."""
    require_language(language)
    markers = {attack: new_marker() for attack in attacks}
    executions = sandbox.run([attack_program(language, attack, markers[attack], port) for attack in attacks], limits)
    assert leftover_cgroups() == []
    return {attack: Outcome(markers[attack], execution, leftover_processes(markers[attack]))
            for attack, execution in zip(attacks, executions)}


@pytest.mark.parametrize("language", FAMILIES)
def test_escapes_and_floods_are_refused(sandbox: LocalSandbox, host_port: int, language: str) -> None:
    """No network, no write outside /box and /tmp, output cut at the cap, no child outlives the program."""
    outcomes = run_attacks(sandbox, language, ("network", "writes", "output_flood", "background_child"),
                           ENDS_BY_ITSELF, host_port)
    assert_contained(outcomes, language)
    assert files_written_outside(sandbox, language, outcomes["writes"].marker) == []


@pytest.mark.parametrize("language", FAMILIES)
def test_endless_programs_are_stopped(sandbox: LocalSandbox, language: str) -> None:
    """An infinite loop times out; a fork bomb is held to the pids limit, and the next program runs as usual."""
    assert_contained(run_attacks(sandbox, language, ("fork_bomb", "infinite_loop"), RUNS_FOREVER), language)
    follow_up = sandbox.run([Program(language, HELLO[language])])[0]
    assert (follow_up.status, follow_up.stdout) == ("passed", "alive\n"), follow_up


@pytest.mark.parametrize("language", FAMILIES)
def test_memory_bomb_is_killed_as_memory(sandbox: LocalSandbox, language: str) -> None:
    if sandbox.cgroups_unavailable:
        pytest.skip(f"rlimits alone cannot tell an OOM kill: {sandbox.cgroups_unavailable}")
    assert_contained(run_attacks(sandbox, language, ("memory_bomb",), ENDS_BY_ITSELF), language)


def test_files_may_outgrow_the_output_cap_but_not_the_file_cap(sandbox: LocalSandbox) -> None:
    """A compiled binary is often bigger than the output cap (an unoptimised Rust one is 11 MB)."""
    require_language("py")
    source = """
for size in (2 << 20, 4 << 20):
    with open(f"/box/{size}", "wb") as handle:
        try:
            handle.write(b"x" * size)
            print(size, "written")
        except OSError:
            print(size, "refused")
"""
    limits = Limits(memory_mb=256, pids=64, output_bytes=1 << 20, file_bytes=3 << 20)
    execution = sandbox.run([Program("py", source)], limits)[0]
    assert (execution.status, execution.stdout) == ("passed", f"{2 << 20} written\n{4 << 20} refused\n"), execution


DISK_FILL = """
import errno, os
written = 0
try:
    for index in range(100000):
        folder = "." if index % 2 else "/tmp"
        with open(f"{folder}/junk{index}", "wb") as handle:
            handle.write(b"x" * (4 << 20))
        written += 4
except OSError as error:
    print(errno.errorcode[error.errno], "after", written, "MB", flush=True)
"""


def test_a_program_filling_the_disk_fills_only_its_own_capped_tmpfs(sandbox: LocalSandbox, tmp_path: Path) -> None:
    """The run step's /box is a tmpfs copy of the work folder and /tmp a tmpfs, both capped at the
    memory limit: the program is stopped at the cap (OOM-killed where cgroups count tmpfs pages as
    its memory, else ENOSPC), and the host's work folder holds only what it held before."""
    require_language("py")
    spec = sandbox.specs["py"]
    work = tmp_path / "box"
    work.mkdir()
    (work / spec.source_file).write_text(DISK_FILL)
    _, run = spec.commands("fast")
    limits = Limits(memory_mb=128, pids=64)
    result = run_step(sandbox.mounts(spec, work), sandbox.environment(spec), run.command, 60, limits, tmp_path,
                      sandbox.cgroups_unavailable is None, private_box=True)
    stopped_at_cap = result.out_of_memory or result.stdout.startswith("ENOSPC after")
    assert stopped_at_cap and not result.timed_out, result
    if result.stdout:
        assert int(result.stdout.split()[2]) <= 2 * 128, "each tmpfs holds at most the memory limit"
    assert sorted(path.name for path in work.iterdir()) == [spec.source_file]
