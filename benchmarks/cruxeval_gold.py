"""CRUXEval-X gold validation: our oracle run versus a plain official-style executor, side by side.

Ours: `evaluate("cruxeval-x", "oracle")` per language with a fresh execution cache, i.e. every
record's input and output subtasks scored through the local sandbox in fast mode (identical
programs executed once, warm batch compilers, 2 workers). Plain: the official commands, one
fresh process per program, one program at a time, no cache, on the first `--plain-sample`
programs of each language (the same bubblewrap isolation, so the comparison is toolchain work
only; the official executor's 0.1 s polling floor is not reproduced, which favours the plain
side). The plain time for a language is extrapolated to all its records times two subtasks,
as the official executor runs every (record, subtask) program.

Wall time only: CPU time is not measurable from here, since the sandboxed programs run in
their own PID namespaces and are not reaped by this process (its RUSAGE_CHILDREN misses them).
Measure on a quiet machine; `--limit N` runs ours on the first N records per language, which
with `--plain-sample N` puts both sides on the same programs (ours then amortises its warm
compilers over only N programs, which favours the plain side).

Printed per language: records, our seconds and programs per second, plain mean seconds per
program and programs per second, speed-up, and whether plain and fast verdicts agree on the
sample; then totals and every gold program that did not pass, with its reason.

    python benchmarks/cruxeval_gold.py [--languages py,cpp] [--limit 50] [--plain-sample 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from harness import evaluate
from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Program

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cruxeval-x"
ALL = "cpp cs d go java jl js lua php pl py r rb rkt rs scala sh swift ts".split()


def ours(language: str, scratch: Path, data: Path, limit: int | None) -> tuple[float, int, list[str]]:
    """Wall seconds of the oracle run for one language, its sample count, and its failures."""
    started = time.perf_counter()
    result = evaluate("cruxeval-x", "oracle", data=data, task_args={"subsets": language}, limit=limit,
                      run_dir=scratch / f"run-{language}", cache_dir=scratch / "cache")
    wall = time.perf_counter() - started
    rows = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    failures = []
    for row in rows:
        execution = dict(row["execution"])
        if execution.get("pass@1[answer]") != "passed":
            failures.append(f"{row['id']}: {execution.get('pass@1[answer]')} {execution.get('pass@1[answer].reason', '')}")
    return wall, len(rows), failures


def plain(language: str, count: int, data: Path) -> tuple[float, list[str], list[str]]:
    """Mean wall seconds per program of the sequential official-style executor; its and fast verdicts."""
    rows = [json.loads(line) for line in (data / "cruxeval_preprocessed" / f"{language}.jsonl").open()][:count]
    programs = [Program(language, row["code"]) for row in rows]
    sandbox = LocalSandbox(mode="plain", workers=1)
    started = time.perf_counter()
    statuses = [sandbox.run([program])[0].status for program in programs]
    mean = (time.perf_counter() - started) / len(programs)
    fast = [execution.status for execution in LocalSandbox(mode="fast").run(programs)]
    return mean, statuses, fast


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default=",".join(ALL))
    parser.add_argument("--limit", type=int, help="ours on the first N records per language (default: all)")
    parser.add_argument("--plain-sample", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--data", type=Path, default=DATA, help="the CRUXEval-X data folder")
    options = parser.parse_args()
    languages = options.languages.split(",")
    report: dict[str, dict] = {}
    header = f"{'lang':6} {'samples':>7} {'ours s':>8} {'ours p/s':>8} {'plain s/p':>9} {'plain p/s':>9} {'speed-up':>8} {'verdicts':>9}"
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="cruxeval-gold-") as folder:
        for language in languages:
            wall, samples, failures = ours(language, Path(folder), options.data, options.limit)
            mean, plain_statuses, fast_statuses = plain(language, options.plain_sample, options.data)
            same = sum(a == b for a, b in zip(plain_statuses, fast_statuses))
            report[language] = {"samples": samples, "ours_s": wall, "ours_samples_per_s": samples / wall,
                                "plain_s_per_program": mean, "plain_extrapolated_s": mean * samples,
                                "verdicts_equal": f"{same}/{len(plain_statuses)}", "failures": failures}
            print(f"{language:6} {samples:7d} {wall:8.1f} {samples / wall:8.2f} {mean:9.3f} {1 / mean:9.2f} "
                  f"{mean * samples / wall:7.1f}x {same:4d}/{len(plain_statuses):<4d}", flush=True)
    totals = {key: sum(item[key] for item in report.values()) for key in ("samples", "ours_s", "plain_extrapolated_s")}
    print(f"\ntotal: {totals['samples']} samples; ours {totals['ours_s']:.0f} s wall; plain (extrapolated to the "
          f"same samples) {totals['plain_extrapolated_s']:.0f} s; speed-up "
          f"{totals['plain_extrapolated_s'] / totals['ours_s']:.1f}x")
    for language, item in report.items():
        for failure in item["failures"]:
            print(f"not passed: {failure}")
    if options.json:
        options.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
