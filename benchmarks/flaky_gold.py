"""How often do the order-dependent CRUXEval-X gold programs flip? Each runs RUNS times.

18 gold programs read a hash or map in iteration order (the task README lists them). Perl and
Swift are pinned in their language.toml and must get one verdict in every run (the test
tests/test_sandbox_determinism.py asserts that); Go, Lua, Rust and Java (`Map.of` order, salted
per JVM) randomise order with no switch, so this script measures how often their verdicts flip.
Each run is a fresh process (`warm=false`: a warm JVM would share one salt across its batch), and
gets a trailing comment so that none is served from the execution cache or de-duplicated.

Printed per program: passes out of RUNS, and "flips" when both verdicts occurred.

    python benchmarks/flaky_gold.py [--runs 20] [--languages go,java,lua,rs,pl,swift]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Program

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval-x" / "cruxeval_preprocessed"
ORDER_DEPENDENT = {"go": ("91", "135", "338", "350", "382", "664", "694", "748"), "java": ("71",), "lua": ("398", "470", "664"),
                   "pl": ("25", "135", "398", "493"), "rs": ("6", "135", "627"), "swift": ("25", "338")}
COMMENT = {"go": "//", "java": "//", "lua": "--", "pl": "#", "rs": "//", "swift": "//"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--languages", default=",".join(ORDER_DEPENDENT))
    args = parser.parse_args()
    sandbox = LocalSandbox(warm=False)
    for language in args.languages.split(","):
        rows = {str(row["id"]): row for row in map(json.loads, (DATA / f"{language}.jsonl").open())}
        ids = ORDER_DEPENDENT[language]
        programs = [Program(language, f"{rows[key]['code']}\n{COMMENT[language]} run {run}\n")
                    for key in ids for run in range(args.runs)]
        executions = sandbox.run(programs)
        for index, key in enumerate(ids):
            statuses = [e.status for e in executions[index * args.runs:(index + 1) * args.runs]]
            passes = statuses.count("passed")
            flips = "flips" if 0 < passes < args.runs else "stable"
            print(f"{language} {key}: {passes}/{args.runs} pass, {flips} ({sorted(set(statuses))})", flush=True)


if __name__ == "__main__":
    main()
