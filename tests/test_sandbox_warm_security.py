"""Warm runners contain hostile programs as a sandbox per program does, and no program reaches the
verdict on another.

A warm runner (sandboxes/README.md, "Warm runners") runs a batch of programs in one long-lived
process, so it is attacked twice over. Each warm language's attacks on the sandbox (those of
tests/test_sandbox_security.py: the network, writes outside /box and /tmp, a fork bomb, a memory
bomb, an infinite loop, an output flood, a child left running) run as a warm batch and must be
contained exactly as in a plain run. Most runners refuse them at their first line, the write of the
marker that names their processes, so the computing ones run again unmarked, to meet the runner's
own time, output and memory limits. Three attacks aim at the runner and at the programs after it:
`runner_process` writes into the runner's descriptors and kills it; `forge_verdicts` starts a shell
that writes a passing report (.run.rc, .run.stdout, .run.stderr: what the harness reads back) into
the folders of the programs after it, read-only so that the runner cannot overwrite it;
`shared_state` changes what the runtime keeps between programs, and a witness after it passes only
where the change reached it. Each attack on the runner is followed, in the same batch, by an
innocent passing and an innocent failing program (the language's selftests), each attack on the
sandbox by a passing one, and they must get their plain statuses; the
attacker must be refused by the runner (and run plain) or get its plain status. The programs
are in tests/fixtures/sandbox_attacks/<language>.toml; those aimed at a runner without a guard are
spelt the way a program gets past its source filter, since a filter that refuses the obvious
spelling proves nothing.

A runner reports only what it can vouch for, so most attacks end up on the plain path; each batch
pins how many of its programs the warm process decided (`warm_verdicts`), which shows that the warm
path ran and flags a runner change that starts deciding an attack. A batch runs with one worker: one
warm process, running the programs in the batch's order. A runner that lets an attack change a
verdict is a strict xfail naming the defect (KNOWN_ESCAPES).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pytest

from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Execution, Limits, Program
from tests.sandbox_support import (EXPECTED, Outcome, assert_contained, attack_program, attack_sources,
                                   files_written_outside, leftover_cgroups, leftover_processes, new_marker,
                                   require_language)

WARM_LANGUAGES = ("java", "scala", "rkt", "jl", "js", "ts", "py", "r", "rb", "pl", "php")
ENDING = ("network", "writes", "output_flood", "background_child")  # the attacks that end by themselves
ENDLESS = ("fork_bomb", "memory_bomb", "infinite_loop")
# The computing attacks again, without the line that marks them (which most runners refuse), so that
# they run inside the warm process and meet the runner's own timeout, memory and output limits.
UNMARKED = ("output_flood", "infinite_loop", "memory_bomb")
RUNNER_ATTACKS = ("runner_process", "forge_verdicts", "shared_state")
ENDING_TIMEOUT_S = 15  # a runner's third of it, 5 s, decides a trivial program even on a loaded machine
ENDLESS_TIMEOUT_S = 6  # 2 s before a runner gives up; a plain run's timeout is retried once
# The official `scala` script caps the heap at 256 MB, below the memory limit: the JVM throws first.
SCALA_EXPECTED = {**EXPECTED, "memory_bomb": ("failed",)}
# What a plain run gives each program of an attack on a runner.
PLAIN_STATUS = {
    "runner_process": "failed",  # it kills its parent, the sandbox's shell (Racket's exits 3 instead)
    "forge_verdicts": "passed",  # it finds no other program's folder to write into
    "shared_state": "passed",
    "shared_state_witness": "failed",  # it passes only where something leaked
}
VICTIM_MARK = "forge-victim"  # carried by the programs whose reports forge_verdicts overwrites
# Written for every other job folder (/box/*/box in a warm batch) whose program carries the victim
# mark; the mark is spelt in two halves so that the script does not match its own program.
FORGE_SCRIPT = (
    'for folder in /box/*/box; do grep -qs "forge""-victim" "$folder"/main.* || continue; '
    'printf "forged\\n" > "$folder/.run.stdout"; : > "$folder/.run.stderr"; printf "0\\n" > "$folder/.run.rc"; '
    'chmod 444 "$folder"/.run.*; done')
# Swaps the job folders (/box/N in a warm batch) of the programs after it for links to a host folder
# (which means nothing inside the sandbox, and the host folder on the host) and to the attacker's own.
SWAP_SCRIPT = (
    'for folder in /box/*; do grep -qs "forge""-victim" "$folder"/box/main.* || continue; '
    'mv "$folder" "$folder.moved"; ln -s "@HOST@" "$folder"; done')


def shell_command(script: str) -> str:
    """The script goes encoded: its words (stdout, exit, ...) are what source filters look for."""
    return f"echo {base64.b64encode(script.encode()).decode()} | base64 -d | sh"


FORGE_COMMAND = shell_command(FORGE_SCRIPT)
LINE_COMMENT = {"java": "//", "scala": "//", "rkt": ";", "jl": "#", "js": "//", "ts": "//", "py": "#", "r": "#", "rb": "#",
                "pl": "#", "php": "//"}

# Wrong verdicts a warm runner gives today. Each is its case's strict xfail; fixed, it XPASSes.
KNOWN_ESCAPES: dict[tuple[str, str], str] = {}  # none known since each runner keeps R1-R8 (sandboxes/README.md)

# How many programs of each batch the warm process decided. Java and Scala: none, since every batch
# here opens with an attack, and a JVM ends at the first program it does not decide (whatever that
# program changed may outlive it), leaving the rest of its batch plain. The others decide each
# innocent passing program; Racket, Ruby and Perl a failing one too (a rackunit failure on stderr
# with exit code 0, Test::Unit's report on stdout, a quiet `exit 1`), while Python's audit hook
# trips on a failing one's traceback. Attacks: marked, each is refused at its first line (the guard
# trips, or the source filter refuses it); unmarked, each meets the runner's own output cap, time
# (a third of the timeout) or memory limit; where that kills the runner itself (Racket's and
# JavaScript's memory bomb), the harness believes none of its reports. A forge_verdicts attacker that gets its shell (the fork
# servers) exits 0 and is decided: its own verdict is its plain one, and its forgeries are removed
# before the runner writes its reports. A shared_state attacker is decided where its change dies
# with it (a fork server's child, a JavaScript worker's isolate), and so is Perl's witness, which
# fails quietly. None: a known escape (KNOWN_ESCAPES).
WARM_DECIDED: dict[str, dict[str, int | None]] = {
    "java": {"ending": 0, "endless": 0, "runner_process": 0, "forge_verdicts": 0, "shared_state": 0},
    "scala": {"ending": 0, "endless": 0, "runner_process": 0, "forge_verdicts": 0, "shared_state": 0},
    "rkt": {"ending": 4, "endless": 0, "runner_process": 2, "forge_verdicts": 2, "shared_state": 4},
    "jl": {"ending": 4, "endless": 6, "runner_process": 1, "forge_verdicts": 1, "shared_state": 1},
    "js": {"ending": 4, "endless": 0, "runner_process": 1, "forge_verdicts": 1, "shared_state": 2},
    "ts": {"ending": 4, "endless": 0, "runner_process": 1, "forge_verdicts": 1, "shared_state": 2},
    "py": {"ending": 4, "endless": 6, "runner_process": 1, "forge_verdicts": 2, "shared_state": 2},
    "r": {"ending": 4, "endless": 6, "runner_process": 1, "forge_verdicts": 2, "shared_state": 2},
    "rb": {"ending": 4, "endless": 6, "runner_process": 2, "forge_verdicts": 3, "shared_state": 3},
    "pl": {"ending": 4, "endless": 6, "runner_process": 2, "forge_verdicts": 3, "shared_state": 4},
    "php": {"ending": 4, "endless": 6, "runner_process": 1, "forge_verdicts": 2, "shared_state": 2},
}


@dataclass(frozen=True)
class Entry:
    """One program of a warm batch and the statuses a plain run gives it."""

    name: str
    program: Program
    plain: tuple[str, ...]
    marker: str = ""  # an attack on the sandbox: what names its processes


def limits(language: str, timeout_s: float) -> Limits:
    """Small limits; Scala's batch JVM keeps a resident scalac, which needs more than 256 MB."""
    return Limits(timeout_s=timeout_s, memory_mb=1024 if language == "scala" else 256, pids=64)


def expected(language: str) -> Mapping[str, tuple[str, ...]]:
    return SCALA_EXPECTED if language == "scala" else EXPECTED


def innocent(language: str, passing: bool, index: int, mark: str = "") -> Entry:
    """The language's selftest (its test asserts f("abc") == "cba", or == "abc" to fail), on a
    string of its own: no two programs of a batch are the same, since a batch runs each once."""
    folder = Path(__file__).parents[1] / "sandboxes" / language
    source = next(folder.glob(f"selftest_{'pass' if passing else 'fail'}.*")).read_text(encoding="utf-8")
    unique = source.replace('"abc"', f'"abc{index}"').replace('"cba"', f'"{str(index)[::-1]}cba"')
    assert unique != source, f"{language}'s selftest no longer tests f(\"abc\")"
    program = Program(language, unique + (f"\n{LINE_COMMENT[language]} {mark}\n" if mark else ""))
    return Entry("passing", program, ("passed",)) if passing else Entry("failing", program, ("failed",))


def run_warm(sandbox: LocalSandbox, language: str, entries: list[Entry], timeout_s: float) -> list[Execution]:
    """The batch in one warm process (one worker: one chunk, run in order); no cgroup may remain."""
    require_language(language)
    executions = sandbox.run([entry.program for entry in entries], limits(language, timeout_s))
    assert leftover_cgroups() == []
    return executions


def status_problems(entries: list[Entry], executions: list[Execution]) -> list[str]:
    return [f"{index} {entry.name}: {execution.status} where a plain run gives {' or '.join(entry.plain)} "
            f"(exit code {execution.exit_code}, stdout {execution.stdout[:120]!r})"
            for index, (entry, execution) in enumerate(zip(entries, executions))
            if execution.status not in entry.plain]


def sandbox_attacks_contained(language: str, attacks: tuple[str, ...], unmarked: tuple[str, ...], timeout_s: float,
                              port: int) -> int:
    """Runs the attacks on the sandbox, then the unmarked ones, each followed by an innocent passing
    program, as one warm batch; asserts of each attack what the plain test asserts, and that each
    innocent program passes. Returns how many programs the warm process decided."""
    warm_sources = attack_sources(language, "warm")
    entries = []
    for index, attack in enumerate(attacks):
        marker = new_marker()
        entries += [Entry(attack, attack_program(language, attack, marker, port), expected(language)[attack], marker),
                    innocent(language, True, index)]
    for index, attack in enumerate(unmarked, start=len(attacks)):
        entries += [Entry(f"{attack} (unmarked)", Program(language, warm_sources[attack]), expected(language)[attack]),
                    innocent(language, True, index)]
    sandbox = LocalSandbox(workers=1)
    executions = run_warm(sandbox, language, entries, timeout_s)
    assert_contained({entry.name: Outcome(entry.marker, execution, leftover_processes(entry.marker))
                      for entry, execution in zip(entries, executions) if entry.marker}, language, expected(language))
    assert status_problems(entries, executions) == []
    assert [path for entry in entries if entry.marker
            for path in files_written_outside(sandbox, language, entry.marker)] == []
    return sandbox.warm_verdicts


# Scala's warm batch compiles with a resident scalac, tens of seconds a batch on 2 cores, and
# TypeScript's starts tsc before its runner (JavaScript's, which the default suite covers): slow.
SLOW_LANGUAGES = ("scala", "ts")
LANGUAGES = [pytest.param(language, marks=pytest.mark.slow) if language in SLOW_LANGUAGES else language
             for language in WARM_LANGUAGES]


@pytest.mark.parametrize("language", LANGUAGES)
def test_attacks_on_the_sandbox_are_contained_in_a_warm_batch(host_port: int, language: str) -> None:
    """No network, no write outside /box and /tmp, output cut at the cap, no child outlives the batch."""
    decided = sandbox_attacks_contained(language, ENDING, (), ENDING_TIMEOUT_S, host_port)
    assert decided == WARM_DECIDED[language]["ending"]


@pytest.mark.slow
@pytest.mark.parametrize("language", WARM_LANGUAGES)
def test_endless_attacks_are_stopped_in_a_warm_batch(language: str) -> None:
    """A fork bomb is held to the pids limit, a memory bomb is killed as memory and an infinite loop
    times out, the last two also unmarked inside the runner (with an output flood); each next program passes."""
    decided = sandbox_attacks_contained(language, ENDLESS, UNMARKED, ENDLESS_TIMEOUT_S, 0)
    assert decided == WARM_DECIDED[language]["endless"]


def runner_attack(language: str, attack: str) -> list[Entry]:
    """The attacker, the witness of a shared-state attack, and the innocent programs after them."""
    sources = attack_sources(language, "warm")
    attacker = Entry(attack, Program(language, sources[attack].replace("@FORGE@", FORGE_COMMAND)),
                     (PLAIN_STATUS[attack],))
    witness = "shared_state_witness"
    followers = [Entry(witness, Program(language, sources[witness]), (PLAIN_STATUS[witness],))] \
        if attack == "shared_state" else []
    mark = VICTIM_MARK if attack == "forge_verdicts" else ""
    return [attacker, *followers, innocent(language, True, 0, mark), innocent(language, False, 0, mark)]


def runner_cases() -> list[object]:
    """Every (language, attack on its runner): a known escape is a strict xfail, and Scala and TypeScript are slow."""
    cases: list[object] = []
    for language in WARM_LANGUAGES:
        for attack in RUNNER_ATTACKS:
            escape = KNOWN_ESCAPES.get((language, attack))
            if (escape is None) == (WARM_DECIDED[language][attack] is None):
                raise ValueError(f"{language} {attack}: pin a warm count exactly where no escape is known")
            marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=escape)] if escape else []
            marks += [pytest.mark.slow] if language in SLOW_LANGUAGES else []
            cases.append(pytest.param(language, attack, marks=marks))
    return cases


@pytest.mark.parametrize(("language", "attack"), runner_cases())
def test_attacks_on_the_runner_leave_every_verdict_plain(language: str, attack: str) -> None:
    """The attacker is refused or gets its plain status, and so do the witness and the innocent programs."""
    entries = runner_attack(language, attack)
    sandbox = LocalSandbox(workers=1)
    assert status_problems(entries, run_warm(sandbox, language, entries, ENDING_TIMEOUT_S)) == []
    if WARM_DECIDED[language][attack] is not None:
        assert sandbox.warm_verdicts == WARM_DECIDED[language][attack]


@pytest.mark.parametrize("language", LANGUAGES)
def test_folders_swapped_for_links_are_never_followed(language: str, tmp_path: Path) -> None:
    """A program past its runner's guard (the forge_verdicts attacker's way in) replaces the later
    programs' folders with links to a host folder: the harness writes nothing there and runs those
    programs afresh, with their plain statuses."""
    host_folder = tmp_path / "host"
    host_folder.mkdir()
    command = shell_command(SWAP_SCRIPT.replace("@HOST@", str(host_folder)))
    attacker = Entry("swap_folders", Program(language, attack_sources(language, "warm")["forge_verdicts"]
                                             .replace("@FORGE@", command)), (PLAIN_STATUS["forge_verdicts"],))
    entries = [attacker, innocent(language, True, 0, VICTIM_MARK), innocent(language, False, 0, VICTIM_MARK)]
    assert status_problems(entries, run_warm(LocalSandbox(workers=1), language, entries, ENDING_TIMEOUT_S)) == []
    assert list(host_folder.iterdir()) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_reports_forged_before_killing_the_runner_are_not_read(language: str) -> None:
    """The forge_verdicts shell, which then kills the runner (pid 2) before it writes its reports:
    the harness reads no report of a warm process that did not end by itself."""
    command = shell_command(FORGE_SCRIPT + "; kill -9 2")
    attacker = Entry("forge_and_kill", Program(language, attack_sources(language, "warm")["forge_verdicts"]
                                               .replace("@FORGE@", command)), ("failed",))  # plain: it kills its shell
    entries = [attacker, innocent(language, True, 0, VICTIM_MARK), innocent(language, False, 0, VICTIM_MARK)]
    assert status_problems(entries, run_warm(LocalSandbox(workers=1), language, entries, ENDING_TIMEOUT_S)) == []
