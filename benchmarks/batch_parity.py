"""Batch compilers against the official commands on every CRUXEval-X gold program and a wrong twin
of each, side by side in one run.

For each language with a `[batch_compile]` (or those named), every gold program of
cruxeval_preprocessed/<lang>.jsonl, and the same program asserting the expected output of the
next record whose output differs (so it must fail), run twice through the local sandbox with no
execution cache: fast mode (the batch compiler) and plain mode (the official compile command, one
fresh compiler per program). Printed per language: the programs, each side's wall time and the
ratio, and every program whose status, stdout or stderr differs (compile_error and timeout
verdicts of plain mode compared by status only: the plain compile may use other flags).

    python benchmarks/batch_parity.py [--languages rs] [--limit N]
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Program

from warm_parity import gold_arguments, gold_sets  # benchmarks/ is on sys.path when a script here runs

ROOT = Path(__file__).resolve().parents[1]


def task_scorer() -> ModuleType:
    """The CRUXEval-X task's hooks (gold answers and substitution into a program)."""
    spec = importlib.util.spec_from_file_location("cruxeval_x_scorer", ROOT / "tasks" / "cruxeval-x" / "scorer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wrong_twins(rows: list[dict], language: str, scorer: ModuleType) -> list[str]:
    """Each record asserting the expected output of the next record whose output differs."""
    golds = [scorer.gold_answer(row, language, "output") for row in rows]
    twins = []
    for index, row in enumerate(rows):
        donor = next((answer for answer in golds[index + 1:] + golds[:index] if answer.strip() != golds[index].strip()),
                     golds[index])
        twins.append(scorer.substitute(row, language, "output", donor))
    return twins


def main() -> None:
    scorer = task_scorer()
    args = gold_arguments(__doc__.splitlines()[0])
    for language, rows in gold_sets(args, lambda spec: spec.batch_compile is not None):
        sources = [row["code"] for row in rows] + wrong_twins(rows, language, scorer)
        labels = [f"id {row['id']}" for row in rows] + [f"id {row['id']} (wrong twin)" for row in rows]
        programs = [Program(language, source) for source in sources]
        started = time.perf_counter()
        fast = LocalSandbox(mode="fast", sandboxes_dir=args.sandboxes).run(programs)
        fast_s = time.perf_counter() - started
        started = time.perf_counter()
        plain = LocalSandbox(mode="plain", sandboxes_dir=args.sandboxes).run(programs)
        plain_s = time.perf_counter() - started

        def seen(execution):  # what a verdict shows: compile errors and timeouts by status alone
            if execution.status in ("compile_error", "timeout"):
                return (execution.status,)
            return execution.status, execution.stdout, execution.stderr

        differences = [f"  {label}: fast {hot.status} {hot.stdout[:60]!r} {hot.stderr[:80]!r}; "
                       f"plain {cold.status} {cold.stdout[:60]!r} {cold.stderr[:80]!r}"
                       for label, hot, cold in zip(labels, fast, plain) if seen(hot) != seen(cold)]
        counts = {status: sum(e.status == status for e in plain) for status in sorted({e.status for e in plain})}
        print(f"{language}: {len(programs)} programs (plain statuses {counts}); fast {fast_s:.1f} s, "
              f"plain {plain_s:.1f} s, x{plain_s / fast_s:.2f}; {len(differences)} differ", flush=True)
        for line in differences:
            print(line, flush=True)


if __name__ == "__main__":
    main()
