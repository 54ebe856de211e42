"""`rm:` reward scoring throughput: batched versus one pair at a time, side by side in one process.

Both sides use the same tiny Llama sequence classifier (the defaults of `harness.testing.tiny`:
12M parameters, a shape small enough for this CPU) and the same RewardBench-style pairs, with
prompts and answers of mixed lengths (50-400 tokens per candidate, as RewardBench's vary):

- batched: `RewardClassifierModel(batch_size=B)` scoring every pair in chunks, as `harness run`
  hands it chunk_size requests, candidates length-sorted into batches of at most B sequences and
  (the CPU default) 1,536 padded tokens;
- batched, no token cap: the same with `max_batch_tokens=none` (B sequences whatever their length,
  what a GPU run does), to show why the CPU default caps tokens;
- one pair: the same model class with batch_size=1, called once per pair (how a loop over
  `pipeline(text)` per chosen/rejected pair works, the official runner with batch size 1).

Printed: pairs per second on each side and the ratio; scores agree to 1e-4 (checked).

    python benchmarks/rm_throughput.py --pairs 256 --batch-size 16
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch

from harness.models.reward_classifier import RewardClassifierModel
from harness.testing.tiny import DEFAULT_CORPUS, build_tiny_reward_model
from harness.types import Message, Request


def make_pairs(count: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    words = " ".join(DEFAULT_CORPUS).split()

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(low, high)))

    return [Request(kind="reward", sample_id=str(i), messages=(Message("user", text(10, 120)),),
                    candidates=(text(30, 300), text(30, 300))) for i in range(count)]


def timed(model: RewardClassifierModel, requests: list[Request], one_at_a_time: bool) -> tuple[float, list[float]]:
    began = time.perf_counter()
    if one_at_a_time:
        responses = [response for request in requests for response in model.generate([request])]
    else:
        responses = []
        for start in range(0, len(requests), model.chunk_size):
            responses += model.generate(requests[start:start + model.chunk_size])
    return time.perf_counter() - began, [score for response in responses for score in response.scores or ()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        model_dir = build_tiny_reward_model(Path(work) / "rm", DEFAULT_CORPUS * 20)
        requests = make_pairs(args.pairs, seed=0)
        common = dict(device="cpu", dtype="float32")
        batched = RewardClassifierModel(str(model_dir), batch_size=args.batch_size, **common)
        uncapped = RewardClassifierModel(str(model_dir), batch_size=args.batch_size, max_batch_tokens="none", **common)
        single = RewardClassifierModel(str(model_dir), batch_size=1, **common)
        for model, one in ((batched, False), (uncapped, False), (single, True)):
            timed(model, requests[:8], one)  # warm-up: first-call allocations on every side
        batched_s, batched_scores = timed(batched, requests, False)
        uncapped_s, uncapped_scores = timed(uncapped, requests, False)
        single_s, single_scores = timed(single, requests, True)
    worst = max(abs(a - b) for side in (batched_scores, uncapped_scores) for a, b in zip(side, single_scores))
    assert worst < 1e-4, f"batched and single scores differ by {worst}"
    print(f"pairs: {args.pairs}, batch size {args.batch_size}, threads {args.threads}, max |score diff| {worst:.1e}")
    for label, seconds in (("batched", batched_s), ("batched, no token cap", uncapped_s), ("one pair", single_s)):
        print(f"{label:22s} {seconds:7.2f} s  {args.pairs / seconds:7.1f} pairs/s")
    print(f"speed-up over one pair at a time: batched {single_s / batched_s:.2f}x, "
          f"no token cap {single_s / uncapped_s:.2f}x")


if __name__ == "__main__":
    main()
