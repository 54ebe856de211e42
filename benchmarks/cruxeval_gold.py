"""CRUXEval-X gold validation: our oracle run versus a plain official-style executor, side by side.

Ours: `evaluate("cruxeval-x", "oracle")` per language with a fresh execution cache, i.e. every
record's input and output subtasks scored through the local sandbox in fast mode (identical
programs executed once, warm batch compilers, 2 workers). Plain: the official commands, one
fresh process per program, one program at a time, no cache, on the first `--plain-sample`
programs of each language (the same bubblewrap isolation, so the comparison is toolchain work
only; the official executor's 0.1 s polling floor is not reproduced, which favours the plain
side). The plain time for a language is extrapolated to all its records times two subtasks,
as the official executor runs every (record, subtask) program.

Both sides are also measured in CPU seconds (this process plus every process it waited for,
sandboxed programs included): on a busy machine wall time says more about the neighbours than
about us, while CPU time stays close; on an idle 2-core machine, wall time is about CPU / 2 for
ours (2 workers) and CPU for the sequential plain executor.

Printed per language: records, our seconds and programs per second, plain mean seconds per
program and programs per second, speed-up, and whether plain and fast verdicts agree on the
sample; then totals and every gold program that did not pass, with its reason.

    python benchmarks/cruxeval_gold.py [--languages py,cpp] [--plain-sample 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
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


def cpu_seconds() -> float:
    """CPU used so far by this process and all the processes it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def ours(language: str, scratch: Path, data: Path) -> tuple[float, float, int, list[str]]:
    """Wall and CPU seconds of the oracle run for one language, its sample count, and its failures."""
    started, cpu = time.perf_counter(), cpu_seconds()
    result = evaluate("cruxeval-x", "oracle", data=data, task_args={"subsets": language},
                      run_dir=scratch / f"run-{language}", cache_dir=scratch / "cache")
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    rows = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    failures = []
    for row in rows:
        execution = dict(row["execution"])
        if execution.get("pass@1[answer]") != "passed":
            failures.append(f"{row['id']}: {execution.get('pass@1[answer]')} {execution.get('pass@1[answer].reason', '')}")
    return wall, cpu, len(rows), failures


def plain(language: str, count: int, data: Path) -> tuple[float, float, list[str], list[str]]:
    """Mean wall and CPU seconds per program of the sequential official-style executor; its and fast verdicts."""
    rows = [json.loads(line) for line in (data / "cruxeval_preprocessed" / f"{language}.jsonl").open()][:count]
    programs = [Program(language, row["code"]) for row in rows]
    sandbox = LocalSandbox(mode="plain", workers=1)
    started, cpu = time.perf_counter(), cpu_seconds()
    statuses = [sandbox.run([program])[0].status for program in programs]
    mean, mean_cpu = (time.perf_counter() - started) / len(programs), (cpu_seconds() - cpu) / len(programs)
    fast = [execution.status for execution in LocalSandbox(mode="fast").run(programs)]
    return mean, mean_cpu, statuses, fast


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default=",".join(ALL))
    parser.add_argument("--plain-sample", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--data", type=Path, default=DATA, help="the CRUXEval-X data folder")
    options = parser.parse_args()
    languages = options.languages.split(",")
    report: dict[str, dict] = {}
    header = (f"{'lang':6} {'samples':>7} {'ours s':>8} {'ours cpu':>8} {'plain s/p':>9} {'plain cpu/p':>11} "
              f"{'speed-up wall':>13} {'speed-up cpu':>12} {'verdicts':>9}")
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="cruxeval-gold-") as folder:
        for language in languages:
            wall, cpu, samples, failures = ours(language, Path(folder), options.data)
            mean, mean_cpu, plain_statuses, fast_statuses = plain(language, options.plain_sample, options.data)
            same = sum(a == b for a, b in zip(plain_statuses, fast_statuses))
            report[language] = {"samples": samples, "ours_s": wall, "ours_cpu_s": cpu,
                                "plain_s_per_program": mean, "plain_cpu_s_per_program": mean_cpu,
                                "plain_extrapolated_s": mean * samples, "plain_extrapolated_cpu_s": mean_cpu * samples,
                                "verdicts_equal": f"{same}/{len(plain_statuses)}", "failures": failures}
            print(f"{language:6} {samples:7d} {wall:8.1f} {cpu:8.1f} {mean:9.3f} {mean_cpu:11.3f} "
                  f"{mean * samples / wall:12.1f}x {mean_cpu * samples / cpu:11.1f}x {same:4d}/{len(plain_statuses):<4d}",
                  flush=True)
    totals = {key: sum(item[key] for item in report.values())
              for key in ("samples", "ours_s", "ours_cpu_s", "plain_extrapolated_s", "plain_extrapolated_cpu_s")}
    print(f"\ntotal: {totals['samples']} samples; ours {totals['ours_s']:.0f} s wall, {totals['ours_cpu_s']:.0f} s CPU "
          f"(idle 2-core estimate {totals['ours_cpu_s'] / 2 / 60:.1f} min); plain (extrapolated) "
          f"{totals['plain_extrapolated_s']:.0f} s wall, {totals['plain_extrapolated_cpu_s']:.0f} s CPU; speed-up "
          f"{totals['plain_extrapolated_s'] / totals['ours_s']:.1f}x wall, "
          f"{totals['plain_extrapolated_cpu_s'] / totals['ours_cpu_s']:.1f}x CPU")
    for language, item in report.items():
        for failure in item["failures"]:
            print(f"not passed: {failure}")
    if options.json:
        options.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
