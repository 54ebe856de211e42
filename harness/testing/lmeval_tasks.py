"""lm-eval 0.4.x's own MMLU, ARC and TruthfulQA tasks over the data folders we ship with, offline.

Tests prove our prompts equal lm-eval's by building lm-eval's requests from its own task yamls,
and benchmarks run lm-eval on the same questions as `harness`. Both need lm-eval to read the
official files (MMLU's headerless csv, AI2's ARC jsonl, TruthfulQA's mc_task.json) without the
hub, while its yamls expect the hub's schema. So the rows are converted to the hub's schema here,
independently of our tasks' own readers (a shared bug would hide in a shared converter), and each
lm-eval task is loaded through a yaml that `include`s lm-eval's yaml unchanged and only points
it at those files: its prompts, targets and metrics stay lm-eval's.

    names = lmeval_task_folder("mmlu", Path("../shared/data/mmlu"), Path("/tmp/lmeval"))
    manager = lm_eval.tasks.TaskManager(include_path="/tmp/lmeval", include_defaults=False)
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from harness.errors import UsageError

MMLU_SPLITS = ("test", "dev")  # lm-eval evaluates on test and takes its few-shot examples from dev
ARC_SPLITS = {"train": "Train", "validation": "Dev", "test": "Test"}  # hub split -> AI2 file suffix
TRUTHFULQA_FILE = Path("data/v1/mc_task.json")


def lmeval_tasks_dir() -> Path:
    """lm-eval's bundled task yamls, found without importing lm-eval (which takes seconds)."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or spec.origin is None:
        raise UsageError("lm-eval is not installed; it is a dev dependency: pip install -e '.[dev]'")
    return Path(spec.origin).parent / "tasks"


def lmeval_task_folder(task: str, data: Path, out: Path) -> list[str]:
    """Write lm-eval tasks for our `task` reading `data` (its shared folder) into `out`; return
    their lm-eval names (MMLU: the 57 `mmlu_<subject>` tasks; `out` then also holds lm-eval's
    groups `mmlu`, `mmlu_stem`, ..., loadable by name).

    The names are lm-eval's own, so load them with `TaskManager(include_path=out,
    include_defaults=False)`, where they do not collide with the built-in ones.
    """
    writers: dict[str, Callable[[Path, Path], list[str]]] = {
        "mmlu": _mmlu,
        "arc-challenge": lambda data, out: _arc("ARC-Challenge", data, out),
        "arc-easy": lambda data, out: _arc("ARC-Easy", data, out),
        "truthfulqa-mc1": lambda data, out: _truthfulqa("truthfulqa_mc1", data, out),
        "truthfulqa-mc2": lambda data, out: _truthfulqa("truthfulqa_mc2", data, out),
    }
    if task not in writers:
        raise UsageError(f"no lm-eval counterpart written for task {task!r}; known: {', '.join(writers)}")
    if not data.is_dir():
        raise UsageError(f"data folder {data} does not exist; pass the task's shared folder (e.g. ../shared/data/mmlu)")
    out.mkdir(parents=True, exist_ok=True)
    return writers[task](data, out)


def mmlu_hub_rows(path: Path, subject: str) -> list[dict[str, Any]]:
    """An official MMLU csv (question, A, B, C, D, answer letter; no header) as cais/mmlu's rows."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [{"question": question, "subject": subject, "choices": [a, b, c, d], "answer": "ABCD".index(letter)}
                for question, a, b, c, d, letter in csv.reader(handle)]


def arc_hub_rows(path: Path) -> list[dict[str, Any]]:
    """AI2's ARC jsonl (question: {stem, choices: [{text, label}]}) as allenai/ai2_arc's rows."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        options = record["question"]["choices"]
        rows.append({"id": record["id"], "question": record["question"]["stem"],
                     "choices": {"text": [option["text"] for option in options],
                                 "label": [option["label"] for option in options]},
                     "answerKey": record["answerKey"]})
    return rows


def truthfulqa_hub_rows(path: Path) -> list[dict[str, Any]]:
    """TruthfulQA's mc_task.json ({answer: label} per target set) as truthful_qa multiple_choice's rows."""
    def targets(mapping: dict[str, int]) -> dict[str, list[Any]]:
        return {"choices": list(mapping), "labels": list(mapping.values())}

    return [{"question": item["question"], "mc1_targets": targets(item["mc1_targets"]),
             "mc2_targets": targets(item["mc2_targets"])}
            for item in json.loads(path.read_text(encoding="utf-8"))]


def _mmlu(data: Path, out: Path) -> list[str]:
    base = lmeval_tasks_dir() / "mmlu" / "default"
    names = []
    for source in sorted((data / "data" / "test").glob("*_test.csv")):  # a subject per file
        subject = source.name.removesuffix("_test.csv")
        files = {split: _write_jsonl(out / "mmlu" / subject / f"{split}.jsonl",
                                     mmlu_hub_rows(data / "data" / split / f"{subject}_{split}.csv", subject))
                 for split in MMLU_SPLITS}
        names.append(_write_task(out / f"mmlu_{subject}.yaml", f"mmlu_{subject}", base / f"mmlu_{subject}.yaml", files))
    if not names:
        raise UsageError(f"no MMLU csv files under {data / 'data' / 'test'}; pass the folder holding data/test and data/dev")
    for group in sorted(base.glob("_mmlu*.yaml")):
        shutil.copy(group, out / group.name)
    return names


def _arc(config: str, data: Path, out: Path) -> list[str]:
    name = config.lower().replace("-", "_")
    files = {split: _write_jsonl(out / name / f"{split}.jsonl",
                                 arc_hub_rows(data / config / f"{config}-{suffix}.jsonl"))
             for split, suffix in ARC_SPLITS.items()}
    return [_write_task(out / f"{name}.yaml", name, lmeval_tasks_dir() / "arc" / f"{name}.yaml", files)]


def _truthfulqa(name: str, data: Path, out: Path) -> list[str]:
    files = {"validation": _write_jsonl(out / name / "validation.jsonl", truthfulqa_hub_rows(data / TRUTHFULQA_FILE))}
    return [_write_task(out / f"{name}.yaml", name, lmeval_tasks_dir() / "truthfulqa" / f"{name}.yaml", files)]


def _write_task(path: Path, name: str, base: Path, files: dict[str, str]) -> str:
    """A yaml that is lm-eval's `base` reading `files` (split -> jsonl) instead of the hub."""
    config = {"task": name, "include": str(base), "dataset_path": "json", "dataset_name": None,
              "dataset_kwargs": {"data_files": files}}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return name


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return str(path.resolve())
