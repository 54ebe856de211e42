"""Critic-CoT filter mode (n samples + n critiques per problem) versus n independent plain runs.

Both sides use the same tiny random Llama (chat template), MATH-500's Critic-CoT solve prompt,
temperature 0.7 and top-p 0.95, `--max-tokens` new tokens per solution, on the CPU:

- critic-cot: ONE `harness run` with `critic-cot:hf:MODEL,n=N`: N solutions per problem in
  batched solver calls, then N critiques per problem in batched critic calls (the critic is the
  solver's weights), every inner answer through the response cache;
- plain: N `harness run` processes with `hf:MODEL`, seeds 0..N-1, each sampling one solution per
  problem (what a user does to get N samples without the adapter), with the same batch size.

The adapter does twice the generation (it critiques every sample); the goal is that its wall
time is at most half of the N plain runs', through batching and one model load. Process start-up
(importing torch and transformers, about 8-13 s here) weighs on the plain side N times, so the
same comparison is also made inside one warm process (`evaluate()`, the plain model loaded
once): that ratio is what batching alone buys. A second critic-cot run on a cold outer cache but
a warm inner cache shows what caching saves on a resume. Printed: wall times and the ratios.

    python benchmarks/critic_cot_batching.py --problems 50 --n 16

Needs ../shared/data/math.
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
DATA = ROOT.parent / "shared" / "data" / "math"


def harness_run(work: Path, model: str, run: str, *extra: str, env: dict[str, str]) -> tuple[float, dict]:
    command = [sys.executable, "-m", "harness.cli", "run", "--task", "math-500:critic-cot", "--model", model,
               "--data", str(DATA), "--run-dir", str(work / run), *extra]
    began = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return wall, json.loads((work / run / "manifest.json").read_text())


def transcripts(rows: list[dict], tokenizer: object) -> list[str]:
    """Chat transcripts in Critic-CoT's formats: step-wise solutions, and critiques that judge
    each step (a third of them fault one), so the tiny model learns to write what the adapter
    parses and every candidate is critiqued, as with a real solver and critic."""
    from harness.adapters.critic_cot_steps import SYSTEM_PROMPT, critique_prompt, solve_prompt

    texts = []
    for number, row in enumerate(rows):
        sentences = [part.strip() for part in row["solution"].replace("\n", " ").split(". ") if part.strip()]
        steps = [*sentences[:3], f"So the answer is $\\boxed{{{row['answer']}}}$."]
        solution = "\n\n".join(f"Step {i}: {step}" for i, step in enumerate(steps, start=1))
        wrong = number % 3 == 0 and len(steps)
        verdicts = "\n\n".join(
            f"Step {i}: checking the step. Step {i} is {'incorrect' if wrong == i else 'correct'}."
            for i in range(1, len(steps) + 1))
        for user, answer in ((solve_prompt(row["problem"]), solution), (critique_prompt(row["problem"], steps), verdicts)):
            messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user},
                        {"role": "assistant", "content": answer}]
            texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
    return texts


def build_model(folder: Path, size: dict[str, int], train_steps: int) -> Path:
    """A tiny Llama taught the step and critique formats on MATH-500 problems 50 to 299."""
    from transformers import AutoTokenizer

    from harness.testing.tiny import build_tiny_causal_lm, fit_tiny_causal_lm

    rows = [json.loads(line) for line in (DATA / "math500_test.jsonl").read_text().splitlines()]
    model = build_tiny_causal_lm(folder / "tiny-model", [row["problem"] + "\n" + row["solution"] for row in rows], **size)
    texts = transcripts(rows[50:300], AutoTokenizer.from_pretrained(model))
    return fit_tiny_causal_lm(model, texts, steps=train_steps)


def critic_requests(run: Path) -> int:
    """How many candidates the critic judged in a finished critic-cot run (from the traces)."""
    import pyarrow.parquet as pq

    traces = pq.read_table(run / "samples.parquet", columns=["trace"]).column("trace").to_pylist()
    return sum(candidate["critique"] is not None for trace in traces for candidate in json.loads(trace)["candidates"])


def in_process(work: Path, model: Path, args: argparse.Namespace) -> tuple[float, float]:
    """(critic-cot wall, N plain runs' wall) in this process, imports warm, plain model loaded once."""
    from harness import evaluate
    from harness.models.hf import HFModel

    adapter = (f"critic-cot:hf:{model},n={args.n},max_tokens={args.max_tokens},"
               f"critic_max_tokens={args.max_tokens},solver.batch_size={args.batch_size}")
    began = time.perf_counter()
    evaluate("math-500:critic-cot", adapter, data=DATA, limit=args.problems, run_dir=work / "warm-critic",
             cache_dir=work / "warm-cache-c")
    critic = time.perf_counter() - began
    plain_model = HFModel(str(model), batch_size=args.batch_size)
    began = time.perf_counter()
    for seed in range(args.n):
        evaluate("math-500:critic-cot", plain_model, data=DATA, limit=args.problems, seed=seed,
                 run_dir=work / f"warm-plain-{seed}", use_cache=False,
                 task_args={"temperature": 0.7, "top_p": 0.95, "max_tokens": args.max_tokens})
    return critic, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=50)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=64, help="hf batch size on both sides")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=300, help="format-teaching steps for the tiny model")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not (DATA / "math500_test.jsonl").is_file():
        sys.exit(f"MATH data not found at {DATA}")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model = build_model(work, {"hidden_size": args.hidden, "layers": 2, "heads": 4,
                                   "intermediate_size": 4 * args.hidden, "vocab_size": 2000}, args.train_steps)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        limit = ["--limit", str(args.problems)]
        adapter = (f"critic-cot:hf:{model},n={args.n},max_tokens={args.max_tokens},"
                   f"critic_max_tokens={args.max_tokens},solver.batch_size={args.batch_size}")
        critic_wall, critic_manifest = harness_run(work, adapter, "critic", *limit, "--cache-dir", str(work / "cache-c"), env=env)
        critiques = critic_requests(work / "critic")
        resumed_wall, _ = harness_run(work, adapter, "critic-resumed", *limit, "--no-cache",
                                      "--model-args", f"cache=true,cache_dir={work / 'cache-c'}", env=env)
        plain_walls = []
        plain_settings = f"temperature=0.7,top_p=0.95,max_tokens={args.max_tokens}"
        for seed in range(args.n):
            wall, _ = harness_run(work, f"hf:{model},batch_size={args.batch_size}", f"plain-{seed}", *limit,
                                  "--seed", str(seed), "--task-args", plain_settings,
                                  "--cache-dir", str(work / f"cache-p{seed}"), env=env)
            plain_walls.append(wall)
        warm_critic, warm_plain = in_process(work, model, args)
    plain = sum(plain_walls)
    figures = {
        "problems": args.problems, "n": args.n, "max_tokens": args.max_tokens, "batch_size": args.batch_size,
        "critic_cot_wall_s": round(critic_wall, 1), "plain_runs_wall_s": round(plain, 1),
        "plain_run_mean_s": round(plain / args.n, 1), "ratio": round(critic_wall / plain, 3),
        "critic_cot_generations": args.n * args.problems + critiques, "critiques": critiques,
        "plain_generations": args.n * args.problems,
        "critic_cot_timings": critic_manifest.get("timings"), "resumed_from_inner_cache_wall_s": round(resumed_wall, 1),
        "in_process_critic_cot_s": round(warm_critic, 1), "in_process_plain_runs_s": round(warm_plain, 1),
        "in_process_ratio": round(warm_critic / warm_plain, 3),
    }
    print(f"critic-cot filter, n={args.n}, {args.problems} problems: {critic_wall:.1f} s "
          f"({figures['critic_cot_generations']} generations: {args.n * args.problems} solutions + {critiques} critiques)")
    print(f"{args.n} plain runs: {plain:.1f} s ({figures['plain_generations']} generations; mean {plain / args.n:.1f} s per run)")
    print(f"ratio critic-cot / plain = {figures['ratio']:.3f} (goal <= 0.5)")
    print(f"critic-cot again, outer cache off, inner cache warm: {resumed_wall:.1f} s")
    print(f"in one warm process: critic-cot {warm_critic:.1f} s vs {args.n} plain runs {warm_plain:.1f} s "
          f"= {figures['in_process_ratio']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
