"""Run lm-evaluation-harness and `harness` on the same model and GSM8K questions, and compare.

The real-model test tier and the speed benchmark both need the same thing: each tool run as a
user runs it (its own command, its own process), its responses and scores read back from what it
wrote, and its wall time and peak memory measured from outside. lm-eval reads GSM8K from local
files through a task that includes its own `gsm8k.yaml` unchanged, so its prompts are its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

LMEVAL_TASK = """task: {name}
include: {base}
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{train: {data}/train.jsonl, test: {data}/test.jsonl}}
"""
LMEVAL_BASES = {"plain": "gsm8k.yaml", "cot": "gsm8k-cot.yaml"}
# lm-eval's filter names are our extraction names; its metric is our exact_match.
LMEVAL_FILTERS = ("strict-match", "flexible-extract")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@dataclass(frozen=True)
class ToolRun:
    """What one tool produced: per sample (keyed by GSM8K test index), the raw response and the
    exact_match of each extraction; and what the run cost from outside."""

    responses: dict[str, str]
    scores: dict[str, dict[str, float]]  # extraction -> sample -> 0/1
    prompts: dict[str, str]
    wall_s: float
    peak_rss_mb: float


@dataclass(frozen=True)
class GGUFModel:
    """A GGUF file as each tool names it."""

    path: Path

    def lmeval_args(self, extra: str = "") -> str:
        return f"pretrained={self.path.parent},gguf_file={self.path.name},dtype=float32{extra}"

    def harness_spec(self, extra: str = "") -> str:
        return f"hf:{self.path},dtype=float32{extra}"


def measured(command: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> tuple[float, float]:
    """Run a command to completion: (wall seconds, peak RSS in MiB of it and its children).

    `os.wait4` reports the resource use of that one child, so two tools measured in one script
    do not share a maximum (`RUSAGE_CHILDREN` would)."""
    with open(log, "w") as output:
        began = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, **OFFLINE_ENV, **(env or {})})
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"command failed ({process.returncode}): {' '.join(command)}\n{tail}")
    return wall, usage.ru_maxrss / 1024


def write_lmeval_task(folder: Path, data: Path, variant: str = "plain") -> str:
    """A task file for lm-eval that is its own GSM8K task read from local files; returns its name."""
    import lm_eval

    name = f"gsm8k_local_{variant}"
    base = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / LMEVAL_BASES[variant]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(LMEVAL_TASK.format(name=name, base=base, data=data.resolve()))
    return name


def run_lmeval(work: Path, model_args: str, data: Path, *, limit: int, batch_size: int, max_tokens: int,
               variant: str = "plain", chat: str | None = None) -> ToolRun:
    """`lm_eval --model hf` as a user runs it. `chat`: None (plain prompt), "multiturn"
    (`--apply_chat_template`, which in lm-eval 0.4.13 turns few-shot examples into turns by
    default) or "single" (`--apply_chat_template --fewshot_as_multiturn false`: the whole
    few-shot prompt as one user turn)."""
    task = write_lmeval_task(work / "lmeval-tasks", data, variant)
    out = work / "lmeval-out"
    command = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", model_args,
               "--include_path", str(work / "lmeval-tasks"), "--tasks", task, "--limit", str(limit),
               "--batch_size", str(batch_size), "--device", "cpu", "--gen_kwargs", f"max_gen_toks={max_tokens}",
               "--output_path", str(out), "--log_samples"]
    if chat is not None:
        command.append("--apply_chat_template")
    if chat == "single":
        command += ["--fewshot_as_multiturn", "false"]
    wall, rss = measured(command, work / "lmeval.log")
    responses: dict[str, str] = {}
    prompts: dict[str, str] = {}
    scores: dict[str, dict[str, float]] = {name: {} for name in LMEVAL_FILTERS}
    samples = sorted(out.rglob(f"samples_{task}_*.jsonl"))[-1]
    for line in samples.read_text().splitlines():
        row = json.loads(line)
        key = str(row["doc_id"])
        responses[key] = row["resps"][0][0]
        prompts[key] = row["arguments"]["gen_args_0"]["arg_0"]
        scores[row["filter"]][key] = float(row["exact_match"])
    return ToolRun(responses, scores, prompts, wall, rss)


def run_harness(work: Path, model: str, data: Path, *, limit: int, task: str = "gsm8k",
                task_args: str = "", name: str = "harness", cache: str | None = None) -> ToolRun:
    """`harness run` as a user runs it, into run folder `work/name`; its response cache is
    `work/<cache>-cache` (default: a fresh one named after the run)."""
    run_dir = work / name
    command = [sys.executable, "-m", "harness.cli", "run", "--task", task, "--model", model, "--data", str(data),
               "--limit", str(limit), "--run-dir", str(run_dir), "--cache-dir", str(work / f"{cache or name}-cache")]
    if task_args:
        command += ["--task-args", task_args]
    wall, rss = measured(command, work / f"{name}.log")
    return read_run(run_dir, wall, rss)


def read_run(run_dir: Path, wall_s: float = 0.0, peak_rss_mb: float = 0.0) -> ToolRun:
    """A finished run's responses, prompts and per-extraction exact_match."""
    import pyarrow.parquet as pq

    records = pq.read_table(run_dir / "samples.parquet").to_pylist()
    scores: dict[str, dict[str, float]] = {}
    for record in records:
        for label, value in _pairs(record["scores"]):
            scores.setdefault(label, {})[record["id"]] = value
    return ToolRun({r["id"]: r["response"] for r in records}, scores, {r["id"]: r["prompt"] for r in records},
                   wall_s, peak_rss_mb)


def _pairs(column: object) -> list[tuple[str, float]]:
    """Parquet maps read back as lists of (key, value) pairs; dicts where a writer used structs."""
    return list(column.items()) if isinstance(column, dict) else [tuple(pair) for pair in column]  # type: ignore[union-attr]


def differences(ours: ToolRun, theirs: ToolRun) -> list[str]:
    """Every sample whose response or exact_match differs, described for a failing assertion."""
    found = []
    for key in sorted(theirs.responses, key=int):
        if ours.responses.get(key) != theirs.responses[key]:
            found.append(f"sample {key}: ours {ours.responses.get(key)!r:.300} / lm-eval {theirs.responses[key]!r:.300}")
        for name in LMEVAL_FILTERS:
            mine = ours.scores.get(f"exact_match[{name}]", {}).get(key)
            if mine != theirs.scores[name].get(key):
                found.append(f"sample {key} exact_match[{name}]: ours {mine} / lm-eval {theirs.scores[name].get(key)}")
    return found
