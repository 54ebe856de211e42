"""Shared helpers for sandbox tests: real programs from the data, hostile programs and what they
leave behind, and skips that say why."""

from __future__ import annotations

import functools
import json
import os
import re
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pytest

from harness.sandbox import cgroups
from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Execution, Program

CRUXEVAL_X = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval-x"


@functools.cache
def gold_records(language: str) -> list[dict[str, Any]]:
    path = CRUXEVAL_X / "cruxeval_preprocessed" / f"{language}.jsonl"
    if not path.is_file():
        pytest.skip(f"CRUXEval-X data not found at {path}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


REQUIRE_ENV = "HARNESS_REQUIRE_SANDBOXES"
# Ruby's Test::Unit reports how long the tests took: two fresh runs of one program differ there.
TIMINGS = re.compile(r"Finished in [0-9.e-]+ seconds\.|[0-9.e+-]+ tests/s, [0-9.e+-]+ assertions/s")


def comparable_output(text: str) -> str:
    """`text` with what differs between two fresh runs of the same program (timings) masked."""
    return TIMINGS.sub("<timing>", text)


def require_language(language: str) -> None:
    """Skip with the sandbox's own reason when the language cannot run here.

    CI builds every toolchain and sets HARNESS_REQUIRE_SANDBOXES=1, so there a missing one is a
    failure, not a skip that would hide it.
    """
    reason = LocalSandbox().unavailable(language)
    if reason and os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{language}: {reason}")
    if reason:
        pytest.skip(f"{language}: {reason}")


@functools.cache
def cruxeval_scorer() -> Any:
    """The CRUXEval-X task's hooks module (substitution and gold answers)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tasks" / "cruxeval-x" / "scorer.py"
    spec = importlib.util.spec_from_file_location("cruxeval_x_scorer_for_tests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wrong_output_program(language: str, index: int) -> str:
    """Record `index` with the expected value of another record whose expected value differs."""
    scorer = cruxeval_scorer()
    rows = gold_records(language)
    row = rows[index]
    gold = scorer.gold_answer(row, language, "output")
    donors = (scorer.gold_answer(other, language, "output") for other in rows[index + 1:])
    wrong = next(answer for answer in donors if answer.strip() != gold.strip())
    return scorer.substitute(row, language, "output", wrong)


# Hostile programs, one file per language (tests/fixtures/sandbox_attacks/<language>.toml): at the
# top level the attacks on the sandbox, each in the language's own idiom and after the file's
# optional `head`; in [warm], for languages with a warm runner, the programs of
# tests/test_sandbox_warm_security.py. Placeholders: @MARK@ (a marker of 12 characters: a process
# name holds 15, and Node's process.title cannot outgrow the command line `node main.js`), @PORT@
# (a port listening on the host's loopback), @LANG@ (the language key).
ATTACKS = Path(__file__).parent / "fixtures" / "sandbox_attacks"
FORBIDDEN_FOLDERS = ("/usr", "/etc", "/opt/harness/{language}", "/")
ALLOWED_FOLDERS = ("/tmp", "/box")
EXPECTED = {  # the honest status of each attack
    "network": ("failed",),  # the program asserts it can connect
    "writes": ("passed",),  # the program only reports which writes failed
    "output_flood": ("output_limit",),
    "background_child": ("passed",),  # the program itself exits 0; its child must die with the sandbox
    "fork_bomb": ("failed", "timeout"),  # it gives up at a refused fork; bash retries until the timeout
    "infinite_loop": ("timeout",),
    "memory_bomb": ("memory",),
}


@functools.cache
def attack_sources(language: str, table: str = "") -> dict[str, str]:
    """The language's hostile programs by name, placeholders unfilled: the attacks on the sandbox,
    or the programs of one table (`warm`)."""
    sources = tomllib.loads((ATTACKS / f"{language}.toml").read_text(encoding="utf-8"))
    if table:
        return sources[table]
    head = sources.pop("head", "")
    return {attack: head + body for attack, body in sources.items() if isinstance(body, str)}


def new_marker() -> str:
    """A name of 12 characters for one attack's processes, unique to it."""
    return f"sec{uuid.uuid4().hex[:9]}"


def attack_program(language: str, attack: str, marker: str, port: int = 0) -> Program:
    """The attack with its placeholders filled."""
    source = attack_sources(language)[attack]
    for placeholder, value in (("@MARK@", marker), ("@PORT@", str(port)), ("@LANG@", language)):
        source = source.replace(placeholder, value)
    return Program(language, source)


@dataclass(frozen=True)
class Outcome:
    """One attack's execution, with what of it was still alive on the host once `run()` returned."""

    marker: str
    execution: Execution
    survivors: list[str]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile, or (environ) not ours to read
        return b""


def leftover_processes(marker: str) -> list[str]:
    """Live host processes (zombies are dead already) whose name, command line or environment carries the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        stat = _read(entry / "stat") if entry.name.isdigit() else b""
        if not stat or stat.rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
            continue
        comm, cmdline, environ = (_read(entry / name) for name in ("comm", "cmdline", "environ"))
        if any(marker.encode() in view for view in (comm, cmdline, environ)):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"pid {entry.name} ({comm.decode().strip()}): {command}")
    return found


def leftover_cgroups() -> list[str]:
    """This process's program cgroups (`harness-<pid>-*`) still present where the harness makes them
    (each v1 controller's folder, memory, pids and cpu, or the v2 folder)."""
    prefix = f"harness-{os.getpid()}-"
    return [os.path.join(folder, name) for parent in cgroups.support().parents.values()
            for folder, names, _ in os.walk(parent) for name in names if name.startswith(prefix)]


def files_written_outside(sandbox: LocalSandbox, language: str, name: str) -> list[Path]:
    """Where a write outside /box and /tmp would have landed on the host: the tree and the overlay."""
    mounts = sandbox.mounts(sandbox.specs[language], Path("/nonexistent"))
    return [folder / name for folder in (mounts.rootfs, mounts.rootfs / "usr", mounts.rootfs / "etc", mounts.overlay)
            if (folder / name).exists()]


def output_problem(attack: str, language: str, execution: Execution) -> str:
    """What is wrong with the attack's own report of what it saw, or ''."""
    if attack == "network":
        reached = [name for name in ("dns", "ip", "host") if f"{name} unreachable" not in execution.stdout]
        return f"reached {reached}" if reached else ""
    if attack == "writes":
        expected = [f"{folder.format(language=language)} denied" for folder in FORBIDDEN_FOLDERS]
        expected += [f"{folder} writable" for folder in ALLOWED_FOLDERS]
        return "" if execution.stdout.splitlines() == expected else "unexpected writability"
    if attack == "fork_bomb":
        output = execution.stdout + execution.stderr
        refused = "fork refused" in output or "fork: retry: Resource temporarily unavailable" in output  # bash's
        return "" if refused else "no fork was refused"
    if attack == "background_child":
        return "" if execution.stdout == "main exits\n" else "main did not finish"
    return ""


def assert_contained(outcomes: dict[str, Outcome], language: str,
                     expected: Mapping[str, tuple[str, ...]] = EXPECTED) -> None:
    """Every attack got its status, saw what it should, and left no process behind."""
    problems = []
    for attack, outcome in outcomes.items():
        execution = outcome.execution
        if execution.status not in expected[attack]:
            problems.append(f"{attack}: status {execution.status}, expected {' or '.join(expected[attack])}")
        if output_problem(attack, language, execution):
            problems.append(f"{attack}: {output_problem(attack, language, execution)}")
        problems += [f"{attack}: survivor {survivor}" for survivor in outcome.survivors]
    details = "\n".join(f"{attack}: {outcome.execution}" for attack, outcome in outcomes.items())
    assert problems == [], details
