"""A cached rerun against the first run: the same `harness run` twice, each its own process.

The first run starts from an empty response cache; the second gets a new run directory and the same
cache, so every answer comes from the cache and what is left is the harness's own cost (start-up,
the model's construction and fingerprint, scoring, writing the run). Printed: both wall times and
their ratio; the goal is a rerun in at most 5% of the first run's time.

    python benchmarks/cached_rerun.py                   # smollm2-135m-instruct if fetched, else the tiny model
    python benchmarks/cached_rerun.py --model hf:./ckpt --limit 50

The default model is the GGUF file `harness models get smollm2-135m-instruct` puts in the cache
(--limit 20); without it, a tiny random Llama built here (--limit 40). GSM8K comes from
../shared/data/gsm8k when it is there, else from the task's bundled sample (10 questions).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.models.downloads import model_path
from harness.testing.tiny import DEFAULT_CORPUS, build_tiny_causal_lm

REAL_MODEL = "smollm2-135m-instruct"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
GOAL = 0.05


def default_model(work: Path) -> tuple[str, int]:
    """The real model when it is cached (nothing is downloaded), else a tiny one built in `work`."""
    real = model_path(REAL_MODEL)
    if real.is_file():
        return f"hf:{real}", 20
    return f"hf:{build_tiny_causal_lm(work / 'tiny-model', DEFAULT_CORPUS)}", 40


def harness_run(model: str, limit: int, run_dir: Path, cache_dir: Path) -> tuple[float, dict]:
    """Wall time of one `harness run` process, as a user waits for it, and the run's manifest."""
    data = ["--data", str(DATA)] if (DATA / "test.jsonl").is_file() else ["--sample"]
    command = [sys.executable, "-m", "harness.cli", "run", "--task", "gsm8k", "--model", model, *data,
               "--limit", str(limit), "--run-dir", str(run_dir), "--cache-dir", str(cache_dir)]
    began = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({finished.returncode}):\n{finished.stderr[-2000:]}")
    return wall, json.loads((run_dir / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model spec, e.g. hf:PATH.gguf (default: see above)")
    parser.add_argument("--limit", type=int, help="GSM8K questions (default: 20 real, 40 tiny)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cached-rerun-") as folder:
        work = Path(folder)
        model, limit = default_model(work) if options.model is None else (options.model, 20)
        limit = options.limit or limit
        first, _ = harness_run(model, limit, work / "first", work / "cache")
        rerun, manifest = harness_run(model, limit, work / "rerun", work / "cache")
    counts = manifest["counts"]
    if counts["model_requests"]:
        raise SystemExit(f"the rerun asked the model {counts['model_requests']} times: the cache missed, "
                         "so this is not a cached rerun (does the fingerprint change between runs?)")
    ratio = rerun / first
    print(f"model {model}, gsm8k --limit {limit}")
    print(f"first run   {first:8.2f} s")
    print(f"cached rerun {rerun:7.2f} s  ({counts['cached_requests']} cached requests; in-process wall "
          f"{manifest['timings']['wall_s']:.2f} s)")
    print(f"ratio {ratio:.1%} (goal <= {GOAL:.0%}: {'met' if ratio <= GOAL else 'missed'})")


if __name__ == "__main__":
    main()
