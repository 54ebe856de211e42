"""`hf:` continuous batching against batch-by-batch `transformers.generate`, side by side in one run.

Same model, same GSM8K 5-shot prompts, same batch size; the only difference is the decoding loop
(`harness/models/hf_continuous.py` versus `HFModel._generate_batch`, forced). Printed: wall time
of each and their ratio, how many answers are identical, mean answer length, and on CUDA the peak
allocated GPU memory of each.

    python benchmarks/hf_continuous_batching.py --model "$(harness models get smollm2-135m-instruct)" --limit 64
    python benchmarks/hf_continuous_batching.py --model CONFIG_DIR --random-weights --device cuda --dtype bfloat16

`--random-weights` builds the model from the folder's config and tokenizer without weights: a
worst case for continuous batching (random answers all run to max_tokens, so no slot frees early).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from unittest import mock

import torch

from harness.models import hf as hf_module
from harness.models.hf import HFModel
from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"


def load(options: argparse.Namespace) -> HFModel:
    if not options.random_weights:
        return HFModel(options.model, batch_size=options.batch_size, device=options.device, dtype=options.dtype)
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(options.model)

    def random_weights(*args, **kwargs):  # type: ignore[no-untyped-def]
        torch.manual_seed(0)
        dtype = kwargs.get("dtype")
        return AutoModelForCausalLM.from_config(config, **({} if dtype in (None, "auto") else {"dtype": dtype}))

    with mock.patch.object(AutoModelForCausalLM, "from_pretrained", random_weights):
        return HFModel(options.model, batch_size=options.batch_size, device=options.device, dtype=options.dtype)


def timed(model: HFModel, requests: list, continuous: bool) -> tuple[float, list, int]:
    if model.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    with mock.patch.object(hf_module, "plain_decoding_supported", lambda *args: continuous):
        answers = model.generate(requests)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() if model.device.type == "cuda" else 0
    return time.perf_counter() - began, answers, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint folder or .gguf file")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--data", type=Path, default=DATA / "test.jsonl")
    parser.add_argument("--random-weights", action="store_true")
    options = parser.parse_args()
    spec, own = apply_task_args(load_task("gsm8k"), {"max_tokens": options.max_tokens})
    task = Task(spec, own, options.data)
    requests = [task.requests(sample, examples, seed=0)[0] for sample, examples in task.samples(options.limit)]
    model = load(options)
    timed(model, requests[: options.batch_size], continuous=True)  # warm-up (CUDA kernels, allocator)
    batch_wall, by_batch, batch_peak = timed(model, requests, continuous=False)
    cont_wall, continuous, cont_peak = timed(model, requests, continuous=True)
    same = sum(a.text == b.text for a, b in zip(by_batch, continuous))
    mean_tokens = sum(a.output_tokens or 0 for a in continuous) / len(continuous)
    print(f"GSM8K 5-shot, {len(requests)} prompts, batch {options.batch_size}, {options.max_tokens} new tokens at most, "
          f"{model.device}, {model.model.dtype}{', random weights' if options.random_weights else ''}")
    print(f"generate, batch by batch  {batch_wall:8.1f} s" + (f"   peak GPU memory {batch_peak / 2**30:6.2f} GiB" if batch_peak else ""))
    print(f"continuous batching       {cont_wall:8.1f} s" + (f"   peak GPU memory {cont_peak / 2**30:6.2f} GiB" if cont_peak else ""))
    print(f"speed-up x{batch_wall / cont_wall:.2f}; identical answers {same} / {len(requests)}; "
          f"mean answer {mean_tokens:.0f} tokens")


if __name__ == "__main__":
    main()
