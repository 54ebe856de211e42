"""HF backend speed: harness versus lm-evaluation-harness, side by side in one run.

Both evaluate GSM8K (5-shot, lm-eval's `gsm8k` prompts, which ours equal character for
character) with the same tiny random Llama, greedy, 256 new tokens, batch size 8, on the CPU.
Printed: wall time of each, their ratio, the cached rerun as a fraction of the first run, and
the share of our wall time spent outside model calls.

    python benchmarks/hf_vs_lmeval.py --limit 100

Needs `pip install -e '.[dev]'` (lm-eval) and ../shared/data/gsm8k.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gsm8k"
LMEVAL_TASK = """task: gsm8k_bench
include: {base}
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{train: {data}/train.jsonl, test: {data}/test.jsonl}}
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return time.perf_counter() - began


def build_model(folder: Path) -> Path:
    from harness.testing.tiny import build_tiny_causal_lm

    questions = [json.loads(line)["question"] for line in (DATA / "train.jsonl").read_text().splitlines()]
    # chat_template=False: byte-identical to the model of shared/reference/lmeval-baseline.md
    return build_tiny_causal_lm(folder / "tiny-model", questions, chat_template=False)


def run_lmeval(work: Path, model: Path, limit: int, batch_size: int, env: dict[str, str]) -> float:
    import lm_eval

    base = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"
    tasks = work / "lmeval-tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "gsm8k_bench.yaml").write_text(LMEVAL_TASK.format(base=base, data=DATA))
    command = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
               "--include_path", str(tasks), "--tasks", "gsm8k_bench", "--limit", str(limit),
               "--batch_size", str(batch_size), "--device", "cpu", "--gen_kwargs", "max_gen_toks=256",
               "--output_path", str(work / "lmeval-out")]
    return timed(command, env)


def run_harness(work: Path, model: Path, limit: int, batch_size: int, env: dict[str, str], name: str) -> tuple[float, dict]:
    run_dir = work / name
    command = [sys.executable, "-m", "harness.cli", "run", "--task", "gsm8k", "--model",
               f"hf:{model},batch_size={batch_size},dtype=float32", "--data", str(DATA / "test.jsonl"),
               "--limit", str(limit), "--run-dir", str(run_dir), "--cache-dir", str(work / "cache")]
    wall = timed(command, env)
    return wall, json.loads((run_dir / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    options = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model = build_model(work)
        ours, manifest = run_harness(work, model, options.limit, options.batch_size, env, "first")
        cached, _ = run_harness(work, model, options.limit, options.batch_size, env, "cached")
        theirs = run_lmeval(work, model, options.limit, options.batch_size, env)
    timings = manifest["timings"]
    print(f"GSM8K 5-shot, {options.limit} samples, 256 new tokens, batch {options.batch_size}, tiny Llama on CPU")
    print(f"lm-eval wall          {theirs:8.1f} s")
    print(f"harness wall          {ours:8.1f} s   speed-up x{theirs / ours:.2f}")
    print(f"harness cached rerun  {cached:8.1f} s   {100 * cached / ours:.1f}% of the first run")
    print(f"harness in-process    {timings['wall_s']:8.1f} s   model calls {timings['model_s']:.1f} s, "
          f"outside model calls {100 * timings['harness_share']:.2f}% of in-process wall")
    print(f"whole command outside model calls (start-up, imports, weights, data, scoring, writing): "
          f"{100 * (ours - timings['model_s']) / ours:.2f}%")


if __name__ == "__main__":
    main()
