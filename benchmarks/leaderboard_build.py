"""How long `harness leaderboard build` takes over many runs, and how much memory it needs.

Generates N synthetic CRUXEval-X run directories (manifest.json, metrics.json and samples.parquet
in the real schema: 19 languages × input/output, short realistic prompts and responses, a few
sandbox errors) with Arrow, then times the real CLI on them in a subprocess and reports wall time
and CPU time and the largest process's peak resident memory (getrusage of the children). Goal: 200 runs × 10,000
samples in under 10 s.

    python benchmarks/leaderboard_build.py                     # 200 runs × 10,000 samples
    python benchmarks/leaderboard_build.py --runs 20 --keep DIR
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.store.run_dir import SAMPLE_SCHEMA  # noqa: E402

LANGUAGES = ["cpp", "cs", "d", "go", "java", "jl", "js", "lua", "php", "pl", "py", "r", "rb", "rkt", "rs",
             "scala", "sh", "swift", "ts"]
SUBTASKS = ["input", "output"]
LABELS = ["pass@1[answer]", "pass@1[official-vllm]"]
TASK = {"name": "cruxeval-x", "version": "1.0", "variant": None, "content_hash": "b" * 64}


def dataset(samples: int) -> pa.Table:
    """Ids, subsets, prompts and targets shared by every run (they all evaluate the same problems)."""
    subsets = [f"{language}.{subtask}" for language in LANGUAGES for subtask in SUBTASKS]
    index = np.arange(samples)
    subset_index = index % len(subsets)
    problem = index // len(subsets)
    subset = pa.array(subsets).take(pa.array(subset_index))
    parts = pc.split_pattern(subset, ".")
    language, subtask = pc.list_element(parts, 0), pc.list_element(parts, 1)
    number = pc.cast(pa.array(problem), pa.string())
    ids = pc.binary_join_element_wise(language, subtask, number, "/")
    prompt = pc.binary_join_element_wise(
        "You are given a ", language, " function f and an assertion on its result. Complete the assertion with "
        "the literal value f returns. Think step by step, then answer inside [ANSWER] and [/ANSWER].\n\n"
        "def f(nums):\n    output = []\n    for n in nums:\n        output.append((nums.count(n), n))\n"
        "    output.sort(reverse=True)\n    return output\n\nassert f([1, 1, 3, 1, 3, ", number, "]) == ????\n", "")
    target = pc.binary_join_element_wise("[(3, 1), (2, ", number, ")]", "")
    return pa.table({"id": ids, "subset": subset, "prompt": prompt, "target": target})


def map_column(keys: list[str], values: pa.Array, rows: int) -> pa.MapArray:
    """A map column with the same keys in every row; `values` holds rows × len(keys) items, row-major."""
    offsets = pa.array(np.arange(0, rows * len(keys) + 1, len(keys), dtype=np.int32))
    return pa.MapArray.from_arrays(offsets, pa.array(np.tile(np.array(keys, dtype=object), rows), pa.string()), values)


def run_table(base: pa.Table, skill: float, rng: np.random.Generator) -> pa.Table:
    rows = base.num_rows
    passed = rng.random(rows) < skill
    error = rng.random(rows) < 0.002  # a sandbox error now and then: unscored, never a failure
    score = np.where(error, np.nan, passed.astype(float))
    wrong = pc.binary_join_element_wise(base["target"], " + 1", "")
    answer = pc.if_else(pa.array(passed), base["target"], wrong)
    response = pc.binary_join_element_wise("[ANSWER]\n", answer, "\n", "")
    status = np.where(error, "sandbox_error", np.where(passed, "passed", "failed"))
    repeated_scores = pa.array(np.repeat(score, len(LABELS)), pa.float64())
    return pa.table({
        "id": base["id"], "subset": base["subset"], "attempt": pa.array(np.zeros(rows, np.int32)),
        "prompt": base["prompt"], "response": response, "target": base["target"],
        "extracted": map_column(["answer", "official-vllm"], pc.cast(pa.array(np.repeat(answer.to_numpy(zero_copy_only=False), 2)), pa.string()), rows),
        "scores": map_column(LABELS, repeated_scores, rows),
        "latency_s": pa.array(rng.random(rows)), "input_tokens": pa.array(np.full(rows, 180)),
        "output_tokens": pa.array(rng.integers(5, 40, rows)), "cached": pa.array(np.zeros(rows, bool)),
        "error": pa.nulls(rows, pa.string()),
        "execution": map_column(LABELS, pa.array(np.repeat(status, len(LABELS)), pa.string()), rows),
        "groups": pa.MapArray.from_arrays(pa.array(np.zeros(rows + 1, np.int32)), pa.array([], pa.string()),
                                          pa.array([], pa.string())),
        "trace": pa.nulls(rows, pa.string()),
        "reward_scores": pa.nulls(rows, pa.list_(pa.float64())),
        "choice_logprobs": pa.nulls(rows, pa.list_(pa.float64())), "choice_greedy": pa.nulls(rows, pa.list_(pa.bool_())),
        "finish_reason": pa.array(np.full(rows, "stop")),
    }, schema=SAMPLE_SCHEMA)


def summary(scores: np.ndarray) -> dict[str, object]:
    """metrics.json's entry shape; the interval is a normal approximation (the bootstrap would dominate generation)."""
    scored = scores[~np.isnan(scores)]
    unscored = int(scores.size - scored.size)
    if scored.size == 0:
        return {"value": None, "n": 0, "ci_low": None, "ci_high": None, "unscored": unscored, "complete": False}
    value = float(scored.mean())
    half = 1.96 * float(scored.std(ddof=1)) / np.sqrt(scored.size) if scored.size > 1 else 0.0
    return {"value": value, "n": int(scored.size), "ci_low": value - half, "ci_high": value + half,
            "unscored": unscored, "complete": unscored == 0}


def write_run(folder: Path, table: pa.Table, model: str, finished_at: str) -> None:
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "samples.parquet")
    score = pc.map_lookup(table["scores"], pa.scalar(LABELS[0]), "first").to_numpy(zero_copy_only=False)
    subsets = table["subset"].to_numpy(zero_copy_only=False)
    per_subset = {subset: summary(score[subsets == subset]) for subset in sorted(set(subsets))}
    metrics = {"task": TASK["name"], "metrics": {label: summary(score) for label in LABELS},
               "subsets": {subset: {label: entry for label in LABELS} for subset, entry in per_subset.items()}}
    manifest = {"task": TASK, "model": {"spec": model, "fingerprint": model}, "settings": {"limit": None},
                "status": "complete", "started_at": finished_at, "finished_at": finished_at, "n_records": table.num_rows}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "manifest.json").write_text(json.dumps(manifest))


def generate(root: Path, runs: int, samples: int) -> float:
    started = time.perf_counter()
    base = dataset(samples)
    rng = np.random.default_rng(0)
    for number in range(runs):
        table = run_table(base, skill=0.2 + 0.7 * number / max(1, runs - 1), rng=rng)
        write_run(root / f"model-{number:03d}", table, f"synthetic:model-{number:03d}",
                  f"2026-01-01T00:{number // 60:02d}:{number % 60:02d}+00:00")
    return time.perf_counter() - started


def measure(runs_dir: Path, out_dir: Path, max_samples: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, all processes) and peak RSS (MB) of one build in a fresh process.

    CPU time is reported beside wall time because on a shared machine wall time mostly measures
    the other tenants.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", "leaderboard", "build", "cruxeval-x", "--runs", str(runs_dir),
                    "--out", str(out_dir), "--max-samples", str(max_samples)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss: the largest single process waited for so far (KiB on Linux); each is such a build or its worker.
    return wall, cpu, after.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--max-samples", type=int, default=500, help="samples per run page (the CLI default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = args.keep or Path(temporary)
        runs_dir = root / "runs"
        if not runs_dir.is_dir():
            seconds = generate(runs_dir, args.runs, args.samples)
            print(f"generated {args.runs} runs × {args.samples} samples in {seconds:.1f}s under {runs_dir}")
        walls, cpus, peaks = [], [], []
        for repeat in range(args.repeats):
            wall, cpu, peak = measure(runs_dir, root / f"site-{repeat}", args.max_samples)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
            print(f"build {repeat + 1}: wall {wall:.2f}s, cpu {cpu:.2f}s, peak RSS {peak:.0f} MB")
        print(f"harness leaderboard build cruxeval-x over {args.runs} runs × {args.samples} samples "
              f"(--max-samples {args.max_samples}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}): "
              f"best wall {min(walls):.2f}s, median {sorted(walls)[len(walls) // 2]:.2f}s, best cpu {min(cpus):.2f}s, "
              f"peak RSS {max(peaks):.0f} MB (goal: under 10 s wall)")


if __name__ == "__main__":
    main()
