"""Warm runs (a language's `[warm]` process runs programs inside itself) give the plain verdicts.

The parity set (tests/fixtures/warm_parity, made by its generate.py from gold CRUXEval-X programs)
holds wrong answers and programs mutated to throw, exit, loop, flood, recurse too deep, hoard
memory, start threads, write files, peek at other programs' folders and leave global state for a
program that reads it back last. Each is run warm (the default) and with `warm=false` (one fresh
process per program), in one batch each, and must get the same status, and the same output where
the output is deterministic. Every gold program of these languages is compared the same way by
benchmarks/warm_parity.py (figures in sandboxes/README.md); here, the first few.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Execution, Limits, Program
from tests.sandbox_support import CRUXEVAL_X, comparable_output, gold_records, require_language

PARITY_SET = Path(__file__).parent / "fixtures" / "warm_parity"
WARM_LANGUAGES = ("java", "jl", "js", "php", "pl", "py", "r", "rb", "rkt", "scala", "ts")
# What the last program of the set prints when nothing was left behind by the ones before it.
CLEAN_READER = {"java": "null\nfalse\n", "scala": "null\nfalse\n", "rkt": "#f\n#f\n", "py": "None\nFalse\n",
                "r": "[1] FALSE\n[1] 1 2 3\n", "rb": "nil\n", "pl": "clean\n",
                "php": "NULL\nbool(false)\n", "jl": "false\n",
                "js": "undefined\n", "ts": "undefined\n"}
LIMITS = Limits(timeout_s=3, memory_mb=1024)  # a warm runner gives up on a program at a third of this
# Output that differs between two fresh runs too (how far a flood or a daemon thread got), or that
# only the exit status is about.
UNSTABLE_OUTPUT = {"output_flood", "daemon_thread", "memory_hoard", "deep_recursion", "infinite_loop",
                   "timer_left_running"}
# Fork servers run each program in a child of a started interpreter, which reports errors itself:
# their stderr must read as a fresh process's too (tracebacks, syntax errors, warnings).
SAME_STDERR = {"jl", "js", "php", "pl", "py", "r", "rb", "ts"}
# Runners without a guard (JavaScript and TypeScript, Julia, Perl, PHP, R, Ruby) report only runs with nothing
# on stderr: a die, a warning or an uncaught exception is printed in a form that names the runner's frames or path.
QUIET_RUNS_ONLY = {"jl", "js", "php", "pl", "r", "rb", "ts"}
# Mutations that end quietly, which those runners therefore decide.
QUIET_KINDS = ("global_state", "visible_values", "printed_output", "hash_order", "reads_global_state")


def parity_set(language: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (PARITY_SET / f"{language}.jsonl").read_text(encoding="utf-8").splitlines()]


def both_ways(programs: list[Program]) -> tuple[list[Execution], list[Execution], int]:
    """Warm and plain executions, and how many runs the warm process decided itself."""
    sandbox = LocalSandbox(warm=True)
    warm = sandbox.run(programs, LIMITS)
    plain = LocalSandbox(warm=False).run(programs, LIMITS)
    return warm, plain, sandbox.warm_verdicts


@pytest.mark.parametrize("language", WARM_LANGUAGES)
def test_warm_runs_give_the_plain_verdicts_on_the_mutated_set(language: str) -> None:
    require_language(language)
    programs = parity_set(language)
    warm, plain, decided_warm = both_ways([Program(language, program["source"]) for program in programs])
    differences = []
    for program, hot, cold in zip(programs, warm, plain):
        if "timeout" in (hot.status, cold.status) and hot.status != cold.status:
            # A warm runner never reports a timeout (it hands a slow program to the plain path), so
            # this pair is two plain runs of a slow program (a memory hoard, deep recursion) racing
            # the timeout on a loaded machine: it says nothing about warm runs.
            continue
        if hot.status != cold.status:
            differences.append(f"{program['kind']} {program['id']}: warm {hot.status} ({hot.reason}), "
                               f"plain {cold.status}")
        elif program["kind"] not in UNSTABLE_OUTPUT and (
                comparable_output(hot.stdout) != comparable_output(cold.stdout)):
            differences.append(f"{program['kind']} {program['id']}: stdout {hot.stdout[:80]!r} "
                               f"vs {cold.stdout[:80]!r}")
        elif program["kind"] not in UNSTABLE_OUTPUT and language in SAME_STDERR and hot.stderr != cold.stderr:
            differences.append(f"{program['kind']} {program['id']}: stderr {hot.stderr[-200:]!r} "
                               f"vs {cold.stderr[-200:]!r}")
    assert differences == []
    statuses = {program["kind"]: execution.status for program, execution in zip(programs, plain)}
    assert statuses["infinite_loop"] == "timeout" and statuses["output_flood"] == "output_limit"
    assert statuses["exception"] == statuses["exit_code"] == "failed"
    # Ordinary failures come first in the set, before a loop ends its warm process: decided warm.
    ordinary = sum(program["kind"] in ("wrong_answer", "exception") and cold.status != "compile_error"
                   and (language not in QUIET_RUNS_ONLY or cold.stderr == "")
                   for program, cold in zip(programs, plain))
    if language in QUIET_RUNS_ONLY:
        ordinary += sum(program["kind"] in QUIET_KINDS for program in programs)
    assert decided_warm >= ordinary
    reader = warm[-1]
    assert (reader.status, reader.stdout) == ("passed", CLEAN_READER[language]), reader


@pytest.mark.parametrize("language", WARM_LANGUAGES)
def test_warm_runs_give_the_plain_verdicts_on_gold_programs(language: str) -> None:
    require_language(language)
    rows = gold_records(language)[:6]
    warm, plain, decided_warm = both_ways([Program(language, row["code"]) for row in rows])
    quiet = [execution.stderr == "" for execution in plain] if language in QUIET_RUNS_ONLY else [True] * len(rows)
    assert decided_warm == sum(quiet)
    assert [(e.status, comparable_output(e.stdout), e.stderr) for e in warm] == [
        (e.status, comparable_output(e.stdout), e.stderr) for e in plain]
    assert all(e.status == "passed" for e in warm)


def test_warm_failure_reads_as_the_fresh_jvm_report() -> None:
    """A failing assert: exit code 1 and the JVM's own report, ending at Problem.main."""
    require_language("java")
    source = "class Problem {\n    public static void main(String[] args) {\n        assert 1 == 2;\n    }\n}\n"
    warm, plain, decided_warm = both_ways([Program("java", source)])
    assert decided_warm == 1
    assert (warm[0].status, warm[0].exit_code, warm[0].stderr) == (plain[0].status, plain[0].exit_code, plain[0].stderr)
    assert plain[0].stderr == "Exception in thread \"main\" java.lang.AssertionError\n\tat Problem.main(main.java:3)\n"


def test_warm_and_plain_verdicts_are_cached_apart(tmp_path: Path) -> None:
    from harness.sandbox.cache import ExecutionCache

    require_language("java")
    program = Program("java", "class Problem {\n    public static void main(String[] args) {}\n}\n")
    cache = ExecutionCache(tmp_path)
    LocalSandbox(warm=True, cache=cache).run([program])
    assert not LocalSandbox(warm=False, cache=cache).run([program])[0].cached
    assert LocalSandbox(warm=True, cache=cache).run([program])[0].cached


def test_warm_runs_keep_the_batch_timeout_and_output_cap() -> None:
    """A program that takes a second is decided warm under the default 15 s timeout but left to the
    plain path under a 2 s one (a third of it is the warm runner's own limit), and a smaller output
    cap than the warm runner's 1 MB sends every program the plain way."""
    require_language("java")
    program = Program("java", "class Problem {\n    public static void main(String[] args) throws Exception {\n"
                              "        Thread.sleep(1000);\n    }\n}\n")
    for limits, decided_warm in ((Limits(), 1), (Limits(timeout_s=2), 0), (Limits(output_bytes=1000), 0)):
        sandbox = LocalSandbox()
        assert sandbox.run([program], limits)[0].status == "passed"
        assert sandbox.warm_verdicts == decided_warm, limits


def test_sandbox_options_from_the_command_line_are_checked() -> None:
    from harness.api import sandbox_factory
    from harness.errors import UsageError

    sandbox = sandbox_factory("local,warm=false,locale=C.UTF-8", None)()
    assert (sandbox.warm, sandbox.locale) == (False, "C.UTF-8")
    with pytest.raises(UsageError, match="unknown option.*warmth.*takes locale, mode, warm, workers"):
        sandbox_factory("local,warmth=false", None)
    with pytest.raises(UsageError, match="warm='maybe': expected a value of type bool"):
        sandbox_factory("local,warm=maybe", None)
    with pytest.raises(UsageError, match="workers='two': expected a value of type int"):
        sandbox_factory("local,workers=two", None)
    assert sandbox_factory("local,workers=1", None)().workers == 1


def test_parity_set_is_what_its_generator_writes() -> None:
    """The kept set is current: regenerating it from the data gives the same file."""
    if not CRUXEVAL_X.is_dir():
        pytest.skip(f"CRUXEval-X data not found at {CRUXEVAL_X}")
    import importlib.util

    spec = importlib.util.spec_from_file_location("warm_parity_generate", PARITY_SET / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for language in WARM_LANGUAGES:
        assert module.mutated(language) == parity_set(language)
