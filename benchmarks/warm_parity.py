"""Warm runners against the plain path on every CRUXEval-X gold program, side by side in one run.

For each language with a `[warm]` runner (or those named), every gold program of
cruxeval_preprocessed/<lang>.jsonl runs twice through the local sandbox with no execution cache:
warm (the default) and `warm=false` (one fresh process per program). Printed per language: the
programs, how many the warm process decided itself, each side's wall time and the ratio, and every
program whose status, stdout or stderr differs between the two (the parity rule of issue 16: a warm
runner is on by default only when there are none).

    python benchmarks/warm_parity.py [--languages java,rkt,scala] [--limit N] [--sandboxes DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from harness.sandbox.languages import LanguageSpec
from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Program

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval-x" / "cruxeval_preprocessed"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.sandbox_support import comparable_output  # noqa: E402  (masks Test::Unit's timings)


def gold_arguments(description: str) -> argparse.Namespace:
    """`--languages`, `--limit` and `--sandboxes DIR` (another sandboxes folder: a language on
    another suite, say; default the built-in one)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--languages", default="")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--sandboxes", type=Path, default=None)
    return parser.parse_args()


def gold_sets(args: argparse.Namespace, by_default: Callable[[LanguageSpec], bool]) -> Iterator[tuple[str, list[dict]]]:
    """(language, gold records) for `--languages` (default: those `by_default` picks), `--limit` each."""
    specs = LocalSandbox(sandboxes_dir=args.sandboxes).specs
    names = args.languages.split(",") if args.languages else sorted(key for key, spec in specs.items() if by_default(spec))
    for language in names:
        rows = [json.loads(line) for line in (DATA / f"{language}.jsonl").open(encoding="utf-8")]
        yield language, rows[:args.limit] if args.limit else rows


def main() -> None:
    args = gold_arguments(__doc__.splitlines()[0])
    for language, rows in gold_sets(args, lambda spec: spec.warm is not None):
        programs = [Program(language, row["code"]) for row in rows]
        warm_sandbox = LocalSandbox(warm=True, sandboxes_dir=args.sandboxes)
        started = time.perf_counter()
        warm = warm_sandbox.run(programs)
        warm_s = time.perf_counter() - started
        started = time.perf_counter()
        plain = LocalSandbox(warm=False, sandboxes_dir=args.sandboxes).run(programs)
        plain_s = time.perf_counter() - started
        differences = [f"  id {row['id']}: warm {hot.status} {hot.stdout[:60]!r} {hot.stderr[:60]!r}; "
                       f"plain {cold.status} {cold.stdout[:60]!r} {cold.stderr[:60]!r}"
                       for row, hot, cold in zip(rows, warm, plain)
                       if (hot.status, comparable_output(hot.stdout), hot.stderr)
                       != (cold.status, comparable_output(cold.stdout), cold.stderr)]
        passed = sum(e.status == "passed" for e in plain)
        print(f"{language}: {len(programs)} programs ({passed} pass plain), "
              f"{warm_sandbox.warm_verdicts} decided warm; warm {warm_s:.1f} s, plain {plain_s:.1f} s, "
              f"x{plain_s / warm_s:.2f}; {len(differences)} differ", flush=True)
        for line in differences:
            print(line, flush=True)


if __name__ == "__main__":
    main()
