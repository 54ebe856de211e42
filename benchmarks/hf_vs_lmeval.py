"""HF backend speed and memory: harness versus lm-evaluation-harness, side by side in one run.

Both evaluate GSM8K 5-shot (lm-eval's `gsm8k` prompts, which ours equal character for character),
greedy, 256 new tokens, the same batch size, on the CPU, each as its own command. The model is the
real SmolLM2-135M-Instruct GGUF file by default (fetched once with `harness models get`), which both
tools dequantize to float32; `--model tiny` uses the 12M random Llama of the earlier baseline.
Printed: wall time of each and their ratio, peak RSS of each and their ratio, how many responses
are identical, both tools' exact_match, and the cached rerun as a fraction of the first run.

    python benchmarks/hf_vs_lmeval.py --limit 100

Needs `pip install -e '.[dev]'` (lm-eval) and ../shared/data/gsm8k.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from harness.testing.side_by_side import GGUFModel, ToolRun, run_harness, run_lmeval

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gsm8k"


def model_specs(choice: str, work: Path, batch_size: int) -> tuple[str, str, str]:
    """(lm-eval --model_args, harness --model, description)."""
    if choice == "tiny":
        from harness.testing.tiny import build_tiny_causal_lm

        questions = [json.loads(line)["question"] for line in (DATA / "train.jsonl").read_text().splitlines()]
        folder = build_tiny_causal_lm(work / "tiny-model", questions, chat_template=False)
        return (f"pretrained={folder},dtype=float32", f"hf:{folder},batch_size={batch_size},dtype=float32",
                "tiny random Llama (12M)")
    if choice.endswith(".gguf"):
        path = Path(choice).resolve()
    else:
        from harness.models.downloads import get_model

        path = get_model(choice, log=print)
    model = GGUFModel(path)
    return model.lmeval_args(), model.harness_spec(f",batch_size={batch_size}"), f"{path.name} (dequantized to float32)"


def accuracy(run: ToolRun, name: str) -> str:
    values = run.scores.get(name) or run.scores.get(f"exact_match[{name}]") or {}
    return f"{sum(values.values()) / len(values):.3f}" if values else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="smollm2-135m-instruct (default), a path to a .gguf file, or tiny")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        lmeval_args, harness_model, description = model_specs(options.model, work, options.batch_size)
        task_args = f"max_tokens={options.max_tokens}"
        ours = run_harness(work, harness_model, DATA / "test.jsonl", limit=options.limit, task_args=task_args)
        cached = run_harness(work, harness_model, DATA / "test.jsonl", limit=options.limit, task_args=task_args,
                             name="harness-rerun", cache="harness")
        theirs = run_lmeval(work, lmeval_args, DATA, limit=options.limit, batch_size=options.batch_size,
                            max_tokens=options.max_tokens)
        manifest = json.loads((work / "harness" / "manifest.json").read_text())
    same = sum(ours.responses.get(key) == text for key, text in theirs.responses.items())
    print(f"GSM8K 5-shot, {options.limit} questions, greedy, {options.max_tokens} new tokens, batch "
          f"{options.batch_size}, CPU; model: {description}")
    print(f"lm-eval   wall {theirs.wall_s:8.1f} s   peak RSS {theirs.peak_rss_mb:8.0f} MiB")
    print(f"harness   wall {ours.wall_s:8.1f} s   peak RSS {ours.peak_rss_mb:8.0f} MiB")
    print(f"speed-up x{theirs.wall_s / ours.wall_s:.2f}   memory ratio (harness / lm-eval) "
          f"x{ours.peak_rss_mb / theirs.peak_rss_mb:.2f}")
    print(f"identical responses: {same} / {len(theirs.responses)}")
    for name in ("strict-match", "flexible-extract"):
        print(f"exact_match[{name}]: harness {accuracy(ours, name)}, lm-eval {accuracy(theirs, name)}")
    print(f"harness cached rerun {cached.wall_s:6.1f} s ({100 * cached.wall_s / ours.wall_s:.1f}% of the first run); "
          f"model calls {manifest['timings']['model_s']:.1f} s of {manifest['timings']['wall_s']:.1f} s in-process")


if __name__ == "__main__":
    main()
