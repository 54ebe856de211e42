"""Generation and scoring as separate stages vs fused: the same jobs with two checkouts, side by side.

`--before REV` (default: the last commit before the stage split) is checked out into a temporary
git worktree and run as its own command, as is this checkout, each with a fresh cache:

1. CRUXEval-X with the oracle on 4 languages (execution-heavy: what the sandbox batches buy);
2. GSM8K 5-shot with a tiny random Llama on `hf:` (model-heavy, cheap scoring);
3. CRUXEval-X with the same tiny model on 4 languages (a slow model and sandbox scoring: what
   overlapping the two buys).

For each, how long the model sits idle is read from the run's manifest as wall time minus model
time (start-up included).

Prints wall times, the model's idle time, and the ratios. Ratios, not absolute times, are the
result: the machine is shared and noisy.
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
DATA = ROOT.parent / "shared" / "data"
STAGE_SPLIT_PARENT = "59b3599"


def harness_command(tree: Path, arguments: list[str]) -> list[str]:
    """`harness ARGS` run from `tree`'s package, whatever is installed."""
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from harness.cli import main; sys.argv[0] = 'harness'; main()"
    return [sys.executable, "-c", code, *arguments]


def timed_run(tree: Path, arguments: list[str], run_dir: Path, cache: Path) -> tuple[float, dict]:
    began = time.perf_counter()
    subprocess.run(harness_command(tree, [*arguments, "--run-dir", str(run_dir), "--cache-dir", str(cache)]),
                   check=True, stdout=subprocess.DEVNULL, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
    wall = time.perf_counter() - began
    return wall, json.loads((run_dir / "manifest.json").read_text())


def tiny_model(work: Path) -> Path:
    from harness.testing.tiny import build_tiny_causal_lm

    questions = [json.loads(line)["question"] for line in (DATA / "gsm8k" / "train.jsonl").read_text().splitlines()]
    return build_tiny_causal_lm(work / "tiny-model", questions, chat_template=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=STAGE_SPLIT_PARENT, help="git revision of the fused engine")
    parser.add_argument("--languages", default="py,cpp,java,rb")
    parser.add_argument("--cruxeval-limit", type=int, default=40)
    parser.add_argument("--gsm8k-limit", type=int, default=40)
    parser.add_argument("--cruxeval-model-limit", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        before = work / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), options.before],
                       check=True, capture_output=True)
        try:
            tiny = tiny_model(work)
            jobs = {
                "cruxeval-x oracle": ["run", "--task", "cruxeval-x", "--model", "oracle", "--data", str(DATA / "cruxeval-x"),
                                      "--languages", options.languages, "--limit", str(options.cruxeval_limit)],
                "gsm8k tiny hf:": ["run", "--task", "gsm8k", "--model", f"hf:{tiny},batch_size=8",
                                   "--data", str(DATA / "gsm8k"), "--limit", str(options.gsm8k_limit)],
                "cruxeval-x tiny hf:": ["run", "--task", "cruxeval-x", "--model", f"hf:{tiny},batch_size=2",
                                        "--data", str(DATA / "cruxeval-x"), "--languages", options.languages,
                                        "--limit", str(options.cruxeval_model_limit)],
            }
            print(f"{'job':<22} {'engine':<8} {'wall s':>8} {'model s':>8} {'idle s':>8}")
            for name, arguments in jobs.items():
                results = {}
                for label, tree in (("fused", before), ("staged", ROOT)):
                    slug = f"{name.replace(' ', '-').rstrip(':')}-{label}"
                    wall, manifest = timed_run(tree, arguments, work / "runs" / slug, work / "cache" / slug)
                    model_s = manifest["timings"]["model_s"]
                    results[label] = (wall, model_s)
                    print(f"{name:<22} {label:<8} {wall:>8.1f} {model_s:>8.1f} {wall - model_s:>8.1f}")
                (fused_wall, fused_model), (staged_wall, staged_model) = results["fused"], results["staged"]
                print(f"{name:<22} staged/fused wall x{staged_wall / fused_wall:.2f}, "
                      f"idle {staged_wall - staged_model:.1f} s vs {fused_wall - fused_model:.1f} s")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)


if __name__ == "__main__":
    main()
