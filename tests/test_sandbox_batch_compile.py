"""Warm batch compilers (javac, scalac, tsc kept in one process) give the plain commands' verdicts.

For each language with a `[batch_compile]`, real CRUXEval-X programs run in `plain` mode (the
official compile and run commands, one fresh compiler per program) and in `fast` mode (one warm
compiler per chunk, faster run commands): gold programs, gold programs with another record's
expected value, and programs that do not compile. Every status must be the same in both modes,
except where the plain compile timed out (an overloaded machine, not the program).
TypeScript also gets the programs that make its batch compiler fall back to a full check of the
lib files (a top-level name that clashes with a lib global, an extra lib, a module), and Scala a
program that writes to stderr (its pass rule needs stderr empty). Rust (one crate per group of
programs) gets programs its driver must leave to the plain compile (an inner attribute, a
`crate::` path, a `use` that resolves only at the crate root) and panics, whose stderr must read
as the plain binary's.
"""

from __future__ import annotations

import pytest

from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Program
from tests.sandbox_support import gold_records, require_language, wrong_output_program

GOLD = 15
HASH_ORDER = {"rs": ("6", "135", "627")}  # gold programs whose verdict follows HashMap order (task README)
WRONG = 5
MAIN = {"java": "public static void main(String[] args) {", "scala": "def main(args: Array[String]) = {",
        "rs": "fn main() {"}


def _in_main(code: str, language: str, statement: str) -> str:
    return code.replace(MAIN[language], f"{MAIN[language]}\n    {statement}", 1)


def _special_programs(language: str, code: str) -> list[tuple[Program, str | None]]:
    """(program, the status it must get, or None where only the two modes' agreement matters)."""
    cases: list[tuple[str, str | None]]
    if language == "java":
        cases = [(_in_main(code, language, 'int harnessX = "s";'), "compile_error"),
                 (code.replace("class Problem", "public class Problem", 1), "compile_error"),  # not in Problem.java
                 (_in_main(code, language, 'System.err.println("x");'), "passed")]
    elif language == "scala":
        cases = [(_in_main(code, language, 'val harnessX: Int = "s"'), "compile_error"),
                 (code.rstrip()[:-1], "compile_error"),
                 (_in_main(code, language, 'System.err.println("x")'), "failed")]
    elif language == "rs":
        cases = [(_in_main(code, language, 'let harness_x: i32 = "s";'), "compile_error"),
                 ("#![allow(unused)]\n" + code, "passed"),
                 (code.replace("let candidate = f;", "let candidate = crate::f;", 1), "passed"),
                 ("mod harness_util { pub fn one() -> i32 { 1 } }\nuse harness_util::one;\n"
                  + _in_main(code, language, "assert_eq!(one(), 1);"), "passed"),
                 (_in_main(code, language, 'let v: Vec<i32> = Vec::new(); println!("{}", v[0]);'), "failed"),
                 (_in_main(code, language, 'let s = String::from("x"); let r: Result<i32, String> = Err(s); '
                                           'r.expect("boom");'), "failed"),
                 (_in_main(code, language, 'println!("out"); eprintln!("err"); std::process::exit(3);'), "failed")]
    else:
        cases = [('let harnessX: number = "s";\n' + code, "compile_error"),  # tsc exits 2 but still emits
                 (code + "\nf();\n", "compile_error"),
                 ("let status = 1;\n" + code, "compile_error"),  # lib.dom declares `status`
                 ('/// <reference lib="webworker" />\n' + code, "compile_error"),  # clashes with lib.dom
                 ("interface Array<T> { harnessExtra?: number }\n" + code, "passed"),  # merges into a lib global
                 (code + "\nexport {};\n", None)]  # a module: checked in full; node then rejects `export`
    return [(Program(language, source), status) for source, status in cases]


@pytest.mark.parametrize("language", ["java", "scala", "ts", "rs"])
def test_batch_compiled_verdicts_equal_plain_verdicts(language: str) -> None:
    require_language(language)
    assert LocalSandbox().specs[language].batch_compile is not None
    rows = [row for row in gold_records(language) if str(row["id"]) not in HASH_ORDER.get(language, ())]
    gold = [Program(language, row["code"]) for row in rows[:GOLD]]
    wrong = [Program(language, wrong_output_program(language, index)) for index in range(WRONG)]
    special = _special_programs(language, rows[0]["code"])
    programs = gold + wrong + [program for program, _ in special]
    batching = LocalSandbox(mode="fast", workers=2)
    fast = batching.run(programs)
    batched = batching.batch_compiled + batching.warm_verdicts  # Java and Scala also run them warm
    assert batched >= GOLD + WRONG, "the batch process should have compiled every gold and wrong program"
    plain = LocalSandbox(mode="plain", workers=2).run(programs)
    # On an overloaded machine a cold scalac or tsc can exceed the official compile timeout
    # (twice, as the backend retries); such a plain verdict says nothing about the program.
    judged = [index for index, execution in enumerate(plain) if execution.status != "timeout"]
    if len(judged) < len(programs) // 2:
        pytest.skip(f"{len(programs) - len(judged)} of {len(programs)} plain compiles timed out: machine too loaded")
    differing = [(index, fast[index].status, plain[index].status, fast[index].reason, plain[index].reason)
                 for index in judged if fast[index].status != plain[index].status]
    assert not differing, differing
    if language == "rs":  # the batch binary prints what the plain one prints, panics included
        outputs = [(index, fast[index].stdout, fast[index].stderr, plain[index].stdout, plain[index].stderr)
                   for index in judged if index >= GOLD and (fast[index].stdout, fast[index].stderr) != (plain[index].stdout, plain[index].stderr)]
        assert not outputs, outputs
    statuses = [execution.status for execution in fast]
    assert statuses[:GOLD] == ["passed"] * GOLD, fast[:GOLD]
    assert "passed" not in statuses[GOLD:GOLD + WRONG], fast[GOLD:GOLD + WRONG]
    expected = [status for _, status in special]
    observed = statuses[GOLD + WRONG:]
    assert [o if e else None for o, e in zip(observed, expected)] == expected, fast[GOLD + WRONG:]
