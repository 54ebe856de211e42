"""A model's CRUXEval-X answers executed three ways: our default path, our plain path, the official executor.

Issue 16 asks that warm runners change no verdict on real model answers. This script takes a run
directory of `harness run --task cruxeval-x --model ...` and rebuilds, for each sample and each
of the task's two extraction pipelines (`answer`, `official-vllm`), the program the task
executes, with the anti-copy guard off (the official executor has none, and a refused answer runs
nothing). Identical programs are executed once. Each program is then run:

- **default**: `LocalSandbox()` as `harness run` uses it (fast mode: warm runners, batch
  compilers, precompiled headers, 2 workers), with no execution cache;
- **plain**: `LocalSandbox(mode="plain")`: the official commands, one fresh sandbox per program;
- **official**: CRUXEval-X's own `containerized_eval.eval_string_script` (MutiPL-E/evaluation/src
  at `--official`), one program at a time inside the language's tree, through
  benchmarks/official_executor_driver.py. Julia's and Swift's trees hold no python3, so for them
  a twin tree with python3 added is built once (the same suite and toolchain packages).

A verdict is pass/fail: our `passed` against the official `OK`. Printed per language: programs,
how many pass each way, and every program whose three verdicts are not equal (with each side's
status and the first line of its stderr).

    python benchmarks/cruxeval_official_verdicts.py --run RUN_DIR --official PATH/TO/MutiPL-E/evaluation/src
        [--data ../shared/data/cruxeval-x] [--languages py,cpp] [--json out.json]
        [--sandboxes DIR] [--official-tree DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.api import prepare_task  # noqa: E402
from harness.sandbox.local import LocalSandbox  # noqa: E402
from harness.sandbox.process import Mounts, run_step  # noqa: E402
from harness.sandbox.rootfs import build_rootfs, overlay_path, rootfs_path  # noqa: E402
from harness.sandbox.types import Limits, Program  # noqa: E402

from batch_parity import task_scorer  # noqa: E402  (benchmarks/ is on sys.path when a script here runs)

DRIVER = Path(__file__).resolve().parent / "official_executor_driver.py"
# The official scripts' `lang_map` (dataset_build/untils.py at 5c005eb): our key -> evaluator name.
# Python is missing from it (a KeyError officially); `py` is the evaluator key that runs python3.
EVALUATOR = {"java": "java", "cpp": "cpp", "go": "go_test.go", "cs": "cs", "d": "humaneval_to_dlang.py",
             "jl": "julia", "js": "javascript", "php": "php", "pl": "pl", "r": "humaneval_to_r.py", "lua": "lua",
             "rb": "ruby", "rkt": "racket", "rs": "rust", "scala": "scala", "sh": "sh", "swift": "swift", "ts": "ts",
             "py": "py"}
# One program at a time with the official per-program timeouts (45 s at most): room for 40 of them.
OFFICIAL_LIMITS = Limits(memory_mb=4096, pids=1024)
# The official image's environment (its Dockerfile's ENV lines, PATH aside).
OFFICIAL_ENV = {"LANG": "C.UTF-8", "TZ": "Etc/UTC"}
OFFICIAL_TIMEOUT_S = 3600


def programs_of_run(run_dir: Path, data: Path) -> dict[str, list[str]]:
    """Per language, the distinct programs the run's answers make (both extractions, guard off)."""
    scorer = task_scorer()
    prepared = prepare_task("cruxeval-x", task_args={"guard": False}, data=data)
    try:
        samples = {sample.id: sample for sample, _ in prepared.plan}
    finally:
        prepared.close()
    programs: dict[str, dict[str, None]] = defaultdict(dict)  # insertion-ordered sets
    table = pq.read_table(run_dir / "samples.parquet", columns=["id", "extracted"]).to_pylist()
    for row in table:
        sample = samples[row["id"]]
        for _, answer in row["extracted"]:
            language, source = scorer.program(answer, sample.data, {"guard": False})  # guard off: never refused
            programs[language][source] = None
    return {language: list(sources) for language, sources in programs.items()}


def official_tree(language: str, sandbox: LocalSandbox, given: Path | None) -> Path:
    """`given` (the official image's toolchains: scripts/build-official-tree), else the language's
    own tree, or a twin of it with python3 added where the tree has none."""
    if given is not None:
        return given
    spec = sandbox.specs[language]
    tree = rootfs_path(spec, list(sandbox.specs.values()))
    if (tree / "usr" / "bin" / "python3").exists():
        return tree
    return build_rootfs(spec.suite, (*spec.packages, "python3"), lambda line: print(line, flush=True))


def official_verdicts(language: str, programs: list[str], official_src: Path, sandbox: LocalSandbox,
                      scratch: Path, tree: Path | None) -> list[dict[str, Any]]:
    """The official executor's result for each program, in order."""
    work = scratch / f"official-{language}"
    shutil.copytree(official_src, work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(DRIVER, work / "driver.py")
    (work / "programs.jsonl").write_text("".join(json.dumps({"program": p}) + "\n" for p in programs), encoding="utf-8")
    for path in [work, *work.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)  # the step runs as nobody
    spec = sandbox.specs[language]
    mounts = Mounts(official_tree(language, sandbox, tree), overlay_path(spec, list(sandbox.specs.values())), language, work)
    outputs = scratch / f"official-{language}-outputs"
    outputs.mkdir()
    result = run_step(mounts, OFFICIAL_ENV, f"python3 driver.py {EVALUATOR[language]}", OFFICIAL_TIMEOUT_S, OFFICIAL_LIMITS,
                      outputs, use_cgroups=not sandbox.cgroups_unavailable)
    verdicts_path = work / "verdicts.jsonl"
    verdicts = [json.loads(line) for line in verdicts_path.read_text(encoding="utf-8").splitlines()] \
        if verdicts_path.exists() else []
    if len(verdicts) != len(programs):
        raise SystemExit(f"{language}: the official driver returned {len(verdicts)} of {len(programs)} verdicts "
                         f"(exit {result.exit_code}): {result.stderr[-2000:]}")
    return verdicts


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:100] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a cruxeval-x run directory (samples.parquet)")
    parser.add_argument("--official", type=Path, required=True, help="the official MutiPL-E/evaluation/src folder")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cruxeval-x")
    parser.add_argument("--languages", default="", help="comma-separated language keys (default: all in the run)")
    parser.add_argument("--json", type=Path, help="write every program's three results here")
    parser.add_argument("--sandboxes", type=Path, default=None,
                        help="our side's sandboxes folder (a language on another suite, say; default the built-in one)")
    parser.add_argument("--official-tree", type=Path, default=None,
                        help="run the official executor in this tree (scripts/build-official-tree: the official "
                             "image's toolchain versions) rather than in the language's own")
    args = parser.parse_args()
    by_language = programs_of_run(args.run, args.data)
    wanted = [key for key in args.languages.split(",") if key] or sorted(by_language)
    records = []
    totals = {"programs": 0, "agree": 0}
    with tempfile.TemporaryDirectory(prefix="official-verdicts-") as scratch_name:
        scratch = Path(scratch_name)
        for language in wanted:
            programs = by_language[language]
            started = time.perf_counter()
            default_sandbox = LocalSandbox(sandboxes_dir=args.sandboxes)
            ours = default_sandbox.run([Program(language, source) for source in programs])
            plain = LocalSandbox(mode="plain", sandboxes_dir=args.sandboxes).run([Program(language, source) for source in programs])
            official = official_verdicts(language, programs, args.official, default_sandbox, scratch,
                                         args.official_tree)
            disagreements = []
            for source, fast, cold, theirs in zip(programs, ours, plain, official):
                verdicts = (fast.status == "passed", cold.status == "passed", theirs["status"] == "OK")
                records.append({"language": language, "program": source, "default": fast.status,
                                "plain": cold.status, "official": theirs["status"],
                                "default_stderr": fast.stderr[:2048], "plain_stderr": cold.stderr[:2048],
                                "official_stderr": theirs["stderr"]})
                if len(set(verdicts)) > 1:
                    disagreements.append(f"    default {fast.status} ({first_line(fast.stderr)!r}); plain {cold.status} "
                                         f"({first_line(cold.stderr)!r}); official {theirs['status']} "
                                         f"({first_line(theirs['stderr'])!r})\n      program: {source.strip()[:300]!r}")
            totals["programs"] += len(programs)
            totals["agree"] += len(programs) - len(disagreements)
            print(f"{language}: {len(programs)} programs; pass: default {sum(e.status == 'passed' for e in ours)}, "
                  f"plain {sum(e.status == 'passed' for e in plain)}, official "
                  f"{sum(v['status'] == 'OK' for v in official)}; {default_sandbox.warm_verdicts} decided by a warm "
                  f"runner; {len(disagreements)} differ ({time.perf_counter() - started:.0f} s)", flush=True)
            for line in disagreements:
                print(line, flush=True)
    print(f"all: {totals['programs']} programs, {totals['agree']} with three equal verdicts")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
