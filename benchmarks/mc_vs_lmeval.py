"""Multiple-choice loglikelihoods: harness `hf:` versus lm-eval's HF backend, side by side.

Both score MMLU 5-shot and HellaSwag 0-shot on the same questions, on the CPU, with the same batch
size, each as its own command. Ours is `harness run` (tasks `mmlu:5shot` and `hellaswag`); lm-eval's
side feeds its `HFLM.loglikelihood` the exact (context, continuation) pairs our requests hold, so
both do the same model work on the same tokens (lm-eval cannot read the HellaSwag copy we have,
see tasks/hellaswag/README.md; MMLU's prompts equal lm-eval's, as its task's tests pin). The model
is the real SmolLM2-135M-Instruct GGUF file (fetched once with `harness models get`), which both
dequantize to float32. MMLU questions are the first 9 of each subject, subjects in order, as 500
questions spread over the 57 subjects; HellaSwag's are the first N.

Printed per task: wall time and peak RSS of each command, the time inside each spent scoring
(tokenising and forward passes, not loading the model: ours is the sum of the responses'
latencies; lm-eval's, its `loglikelihood` call), their ratios, how many
questions' predicted choice (the most likely) differs, and the largest per-choice difference.

    python benchmarks/mc_vs_lmeval.py --n 500

Needs `pip install -e '.[dev]'` (lm-eval) and ../shared/data/{mmlu,hellaswag}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.testing.side_by_side import GGUFModel, measured

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TASKS = {"mmlu": ("mmlu:5shot", DATA / "mmlu"), "hellaswag": ("hellaswag", DATA / "hellaswag")}
MMLU_PER_SUBJECT = 9  # ~500 questions over the 57 subjects


def selection(task: str, n: int) -> tuple[int, str]:
    """(--limit, --task-args) that pick the benchmark's questions of `task`."""
    if task != "mmlu":
        return n, ""
    per_subject = min(n, MMLU_PER_SUBJECT)
    files = (TASKS["mmlu"][1] / "data" / "test").glob("*_test.csv")
    subjects = sorted(path.name.removesuffix("_test.csv") for path in files)
    return per_subject, "subsets=" + "+".join(subjects[: math.ceil(n / per_subject)])


def question_pairs(task: str, limit: int, task_args: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each request's sample id and its (context, continuation) pairs, as our `hf:` reads them."""
    from harness.api import prepare_task

    name, data = TASKS[task]
    prepared = prepare_task(name, task_args=task_args, data=data, limit=limit)
    try:
        questions = []
        for _, request in prepared.plan:
            candidates = request.candidates or ()
            contexts = request.contexts or ("",) * len(candidates)
            questions.append((request.sample_id, [((request.prompt or "") + context, candidate)
                                                  for context, candidate in zip(contexts, candidates)]))
        return questions
    finally:
        prepared.close()


def lmeval_worker(options: argparse.Namespace) -> None:
    """lm-eval's side, in a process of its own (for its own wall time and RSS): scores every pair
    with `HFLM.loglikelihood` and writes {sample id: [[logprob, is_greedy], ...]} and its time."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    questions = question_pairs(options.task, options.limit, options.task_args)
    model = Path(options.model)
    lm = HFLM(pretrained=str(model.parent), gguf_file=model.name, dtype="float32", batch_size=options.batch_size,
              device="cpu")
    flat = [pair for _, pairs in questions for pair in pairs]
    instances = [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=index)
                 for index, pair in enumerate(flat)]
    started = time.perf_counter()
    results = iter(lm.loglikelihood(instances, disable_tqdm=True))
    elapsed = time.perf_counter() - started
    scores = {sample: [list(next(results)) for _ in pairs] for sample, pairs in questions}
    Path(options.out).write_text(json.dumps({"model_s": elapsed, "scores": scores}))


def run_lmeval(work: Path, task: str, model: Path, limit: int, task_args: str, batch_size: int) -> dict[str, Any]:
    out = work / f"lmeval-{task}.json"
    command = [sys.executable, __file__, "--lmeval-worker", "--task", task, "--model", str(model),
               "--limit", str(limit), "--task-args", task_args, "--batch-size", str(batch_size), "--out", str(out)]
    wall, rss = measured(command, work / f"lmeval-{task}.log")
    return {**json.loads(out.read_text()), "wall_s": wall, "rss_mb": rss}


def run_harness(work: Path, task: str, model: Path, limit: int, task_args: str, batch_size: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    name, data = TASKS[task]
    run_dir = work / f"harness-{task}"
    command = [sys.executable, "-m", "harness.cli", "run", "--task", name, "--data", str(data), "--limit", str(limit),
               "--model", GGUFModel(model).harness_spec(f",batch_size={batch_size}"), "--run-dir", str(run_dir),
               "--no-cache"]
    if task_args:
        command += ["--task-args", task_args]
    wall, rss = measured(command, work / f"harness-{task}.log")
    records = pq.read_table(run_dir / "samples.parquet").to_pylist()
    return {"model_s": sum(record["latency_s"] for record in records), "wall_s": wall, "rss_mb": rss,
            "scores": {record["id"]: record["choice_logprobs"] for record in records}}


def compare(task: str, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    samples = sorted(theirs["scores"])
    missing = [sample for sample in samples if ours["scores"].get(sample) is None]
    if missing:
        raise SystemExit(f"{task}: harness has no loglikelihoods for {len(missing)} questions, e.g. {missing[:3]}")
    differ, worst = 0, 0.0
    for sample in samples:
        mine = ours["scores"][sample]
        other = [logprob for logprob, _ in theirs["scores"][sample]]
        differ += max(range(len(mine)), key=mine.__getitem__) != max(range(len(other)), key=other.__getitem__)
        worst = max(worst, *(abs(a - b) for a, b in zip(mine, other)))
    choices = sum(len(pairs) for pairs in theirs["scores"].values())
    print(f"{task}: {len(samples)} questions, {choices} choices")
    for label, run in (("lm-eval", theirs), ("harness", ours)):
        print(f"  {label:8} wall {run['wall_s']:7.1f} s   scoring {run['model_s']:7.1f} s   "
              f"peak RSS {run['rss_mb']:6.0f} MiB")
    ratio = {key: theirs[key] / ours[key] for key in ("model_s", "wall_s", "rss_mb")}
    print(f"  speed-up: scoring x{ratio['model_s']:.2f}, wall x{ratio['wall_s']:.2f}"
          f"   memory ratio (harness / lm-eval) x{1 / ratio['rss_mb']:.2f}")
    print(f"  predicted choice differs: {differ} / {len(samples)}   max |loglikelihood difference|: {worst:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="questions per task")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tasks", default="mmlu,hellaswag")
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="smollm2-135m-instruct (default) or a .gguf path")
    parser.add_argument("--lmeval-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--task-args", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.lmeval_worker:
        lmeval_worker(options)
        return
    if options.model.endswith(".gguf"):
        model = Path(options.model).resolve()
    else:
        from harness.models.downloads import get_model

        model = get_model(options.model, log=print)
    print(f"{model.name} (dequantized to float32), batch {options.batch_size}, CPU")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for task in options.tasks.split(","):
            limit, task_args = selection(task, options.n)
            theirs = run_lmeval(work, task, model, limit, task_args, options.batch_size)
            ours = run_harness(work, task, model, limit, task_args, options.batch_size)
            compare(task, ours, theirs)


if __name__ == "__main__":
    main()
