"""Suites: several tasks run with one model, named in `suites/<name>.yaml` or listed on the command line.

`--task` takes what lm-eval's `--tasks` takes: one name, a comma-separated list, or a group (here
a suite) by name, in one namespace, so `--task openllm-v1` and `--task mmlu,gsm8k` read alike to
someone coming from lm-eval. A suite file says, per task, the task (with its variant or shot
count), its task arguments, and its headline metric; and how headlines aggregate. It is validated
strictly, like task and leaderboard specs: a misspelt key or task fails at load with the file and
line, before any model is loaded.

This module reads names and YAML only (core, like task_folders), so resolving `--task` does not
import the task engine.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.assets import asset_dir
from harness.errors import UsageError
from harness.lmeval import LMEVAL_PREFIX
from harness.spec_checker import SpecChecker
from harness.task_folders import task_folders
from harness.yaml_lines import line_of, load_yaml_with_lines

SUITE_MANIFEST = "suite.json"  # a suite folder's record; not manifest.json, which marks a run dir
SUITE_KEYS = {"name", "description", "tasks", "aggregate"}
ENTRY_KEYS = {"task", "label", "num_fewshot", "metric", "args", "aggregate"}
AGGREGATES = {"mean"}
# How a task's headline spans its subsets: pooled (every sample counts once: the task's own
# overall) or subset_mean (every subset counts once: the Open LLM Leaderboard v1's MMLU).
HEADLINE_AGGREGATES = {"pooled", "subset_mean"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@dataclass(frozen=True)
class SuiteTask:
    """One task of a suite: `label` names its run dir and row, `task` is what `load_task` resolves."""

    label: str
    task: str
    args: Mapping[str, Any] = field(default_factory=dict)
    metric: str | None = None  # the headline; None: the task's first metric label
    aggregate: str = "pooled"  # one of HEADLINE_AGGREGATES
    where: str = ""  # FILE:LINE of the entry, for errors found once the task is loaded

    def problem(self, message: str) -> UsageError:
        """An error about this entry, located at its line in the suite file when it has one."""
        return UsageError(f"{self.where}: {message}" if self.where else message)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    tasks: tuple[SuiteTask, ...]
    aggregate: str = "mean"
    description: str = ""
    path: Path | None = None  # None for a list given on the command line

    def content_hash(self) -> str | None:
        return hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path else None


def builtin_suites() -> dict[str, Path]:
    """Suite name -> yaml under the built-in suites/ folder."""
    folder = asset_dir("suites")
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def resolve_tasks(value: str, tasks_dirs: Sequence[Path] = ()) -> str | SuiteSpec:
    """What `--task` names: one task (a str, run as before), or a suite (a yaml path, a built-in
    suite name, or several comma-separated tasks)."""
    native, prefix, lmeval_names = value.partition(LMEVAL_PREFIX)
    items = [item.strip() for item in native.split(",") if item.strip()]
    if prefix:  # lm-eval's own tasks: everything after the prefix is one lm-eval task list
        items.append(prefix + lmeval_names)
    if not items:
        raise UsageError(f"--task {value!r}: name a task, several joined by commas, or a suite")
    folders = task_folders(tasks_dirs)
    suites = builtin_suites()
    kinds = [_kind(item, folders, suites) for item in items]
    if len(items) == 1 and kinds[0] == "task":
        return items[0]
    if "suite" in kinds:
        if len(items) > 1:
            raise UsageError(f"--task {value!r}: a suite ({items[kinds.index('suite')]}) runs alone; "
                             "list its tasks instead, or write a suite file that includes the others")
        item = items[0]
        return load_suite_spec(Path(item) if _is_path(item) else suites[item], tasks_dirs)
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise UsageError(f"--task {value!r}: {', '.join(duplicates)} listed twice; name each task once")
    return SuiteSpec(name=_joined_name(items), tasks=tuple(SuiteTask(label=item, task=item) for item in items))


def _is_path(item: str) -> bool:
    return item.endswith((".yaml", ".yml")) or "/" in item


def _kind(item: str, folders: Mapping[str, Path], suites: Mapping[str, Path]) -> str:
    """'task' or 'suite'; an unknown name, or one that is both, is an error naming both lists."""
    if _is_path(item):
        if not Path(item).is_file():
            raise UsageError(f"--task {item}: no such suite file")
        return "suite"
    if item.startswith(LMEVAL_PREFIX):
        return "task"
    base = item.partition(":")[0]
    if base in folders and item in suites:
        raise UsageError(f"--task {item}: both a task and a suite are named {item!r}; rename the suite file "
                         f"{suites[item]}, or pass its path to run the suite")
    if base in folders:
        return "task"
    if item in suites:
        return "suite"
    raise UsageError(f"unknown task {item!r} (nor a suite); tasks: {', '.join(sorted(folders)) or 'none'}; "
                     f"suites: {', '.join(suites) or 'none'} (a suite file's path works too; more tasks with --tasks-dir)")


def _joined_name(items: Sequence[str]) -> str:
    """A command-line list's name, for its folder: the labels joined by '+', shortened with a hash when long."""
    joined = re.sub(r"[^A-Za-z0-9._+-]+", "_", "+".join(items))
    if len(joined) <= 80:
        return joined
    return f"{joined[:60]}+{len(items)}-tasks-{hashlib.sha256(joined.encode()).hexdigest()[:8]}"


def load_suite_spec(path: Path, tasks_dirs: Sequence[Path] = ()) -> SuiteSpec:
    """Parse and validate a suite yaml; every error names the file, line and key."""
    raw = load_yaml_with_lines(path)
    check = SpecChecker(path)
    check.known_keys(raw, SUITE_KEYS, "suite")
    name = check.require(raw, "name", str, "suite")
    if not NAME.fullmatch(name):
        check.fail(raw, "name", f"{name!r}: use letters, digits, '.', '_', '+' and '-' (it names the suite's folder)")
    items = check.require(raw, "tasks", list, "suite")
    if not items:
        check.fail(raw, "tasks", "list at least one task")
    folders = task_folders(tasks_dirs)
    tasks: list[SuiteTask] = []
    for item in items:
        entry = _entry(item, check, folders, path)
        if any(existing.label == entry.label for existing in tasks):
            check.fail(item, "label" if "label" in item else "task",
                       f"label {entry.label!r} is used twice; give one of the entries its own `label:`")
        tasks.append(entry)
    return SuiteSpec(name=name, tasks=tuple(tasks), aggregate=check.choice(raw, "aggregate", AGGREGATES, "mean"),
                     description=check.typed(raw, "description", str, ""), path=path)


def _entry(item: Any, check: SpecChecker, folders: Mapping[str, Path], path: Path) -> SuiteTask:
    check.known_keys(item, ENTRY_KEYS, "tasks entry")
    task = check.require(item, "task", str, "tasks entry")
    if not task.startswith(LMEVAL_PREFIX) and task.partition(":")[0] not in folders:
        check.fail(item, "task", f"unknown task {task.partition(':')[0]!r}; known: {', '.join(sorted(folders)) or 'none'} "
                                 "(more with --tasks-dir)")
    args = dict(check.typed(item, "args", dict) or {})
    shots = check.typed(item, "num_fewshot", int)
    if shots is not None:
        if isinstance(shots, bool) or shots < 0:
            check.fail(item, "num_fewshot", f"expected a count of examples (0 or more), got {shots!r}")
        if "num_fewshot" in args:
            check.fail(item, "num_fewshot", "given twice (also under args); keep one")
        args["num_fewshot"] = shots
    label = check.typed(item, "label", str) or task
    if not NAME.fullmatch(label.replace(":", "_")):
        check.fail(item, "label", f"{label!r}: use letters, digits, ':', '.', '_', '+' and '-' (it names a run folder)")
    line = line_of(item, "task")
    return SuiteTask(label=label, task=task, args=args, metric=check.typed(item, "metric", str),
                     aggregate=check.choice(item, "aggregate", HEADLINE_AGGREGATES, "pooled"),
                     where=f"{path}:{line}" if line else str(path))


def run_folder_name(label: str) -> str:
    """A task label as a folder name: `arc-challenge:25shot` -> `arc-challenge_25shot`."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", label).strip("_") or "task"
