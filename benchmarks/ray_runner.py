"""`--runner ray` on a local two-raylet cluster against the local runner, same job side by side.

GSM8K, the same samples, no response cache, once with `oracle` (a model that costs nothing, so the
difference is Ray's own cost: connecting, starting the replicas, shipping chunks) and once with a
tiny random Hugging Face model (harness/testing/tiny.py: real `hf:` decoding, one replica per
raylet, one CPU each), with scoring as Ray tasks (`scoring=cluster`) and in the driver
(`scoring=driver`). Printed per model and placement: both wall times, the model time (summed over
workers for Ray), and the overhead per sample, (ray wall - local wall) / samples; negative when the two
replicas beat the one local model. Each cell is the best of `--repeats` runs, after a warm-up
run: on a shared machine single runs of the local model vary several-fold.

    python benchmarks/ray_runner.py --limit 100 --max-tokens 64
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pyarrow.parquet as pq  # noqa: E402

from harness import evaluate  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"
NODE_MEMORY = 100 * 1024 * 1024


def timed_run(model: str, runner: str, out: Path, options: argparse.Namespace) -> tuple[float, float, dict[str, str]]:
    """Wall seconds of one `evaluate` (connecting and starting workers included), its model time
    and its responses by sample id."""
    began = time.perf_counter()
    result = evaluate("gsm8k", model, data=options.data, limit=options.limit, run_dir=out, use_cache=False,
                      task_args={"max_tokens": options.max_tokens}, runner=runner)
    wall = time.perf_counter() - began
    rows = pq.read_table(out / "samples.parquet", columns=["id", "response", "error"]).to_pylist()
    return wall, result.stats.model_s, {row["id"]: row["response"] or row["error"] for row in rows}


def best_run(model: str, runner: str, out: Path, options: argparse.Namespace) -> tuple[float, float, dict[str, str]]:
    """The fastest of `options.repeats` runs (each into a fresh run directory)."""
    runs = [timed_run(model, runner, out / str(attempt), options) for attempt in range(options.repeats)]
    return min(runs, key=lambda run: run[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA)
    options = parser.parse_args()

    from ray.cluster_utils import Cluster

    from harness.testing.tiny import DEFAULT_CORPUS, TEST_SIZES, build_tiny_causal_lm

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        tiny = build_tiny_causal_lm(work / "tiny", DEFAULT_CORPUS * 20, **TEST_SIZES)
        began = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": NODE_MEMORY,
                                                                "include_dashboard": False})
        cluster.add_node(num_cpus=1, object_store_memory=NODE_MEMORY)
        cluster.wait_for_nodes()
        print(f"cluster: 2 raylets, 1 CPU each, started in {time.perf_counter() - began:.1f}s (not counted below)")
        logging.getLogger("ray").setLevel(logging.ERROR)
        try:
            print(f"{'model':<8} {'scoring':<8} {'local wall':>11} {'ray wall':>9} {'local model':>12} "
                  f"{'ray model':>10} {'overhead/sample':>16} {'same responses':>15}")
            for label, model in (("oracle", "oracle"), ("tiny hf", f"hf:{tiny}")):
                timed_run(model, "local", work / f"{label}-warm-up", options)
                local_wall, local_model, local = best_run(model, "local", work / f"{label}-local", options)
                for scoring in ("cluster", "driver"):
                    runner = f"ray:{cluster.address},scoring={scoring}"
                    ray_wall, ray_model, sharded = best_run(model, runner, work / f"{label}-ray-{scoring}", options)
                    overhead_ms = (ray_wall - local_wall) / options.limit * 1000
                    same = sum(sharded.get(key) == response for key, response in local.items())
                    print(f"{label:<8} {scoring:<8} {local_wall:>10.2f}s {ray_wall:>8.2f}s {local_model:>11.2f}s "
                          f"{ray_model:>9.2f}s {overhead_ms:>13.1f} ms {same:>9}/{len(local)}")
        finally:
            cluster.shutdown()


if __name__ == "__main__":
    main()
