"""Loading tasks by name: built-in, installed packages' and `--tasks-dir` folders go through one path.

Where the folders are is `harness.task_folders` (core, so reports can find tasks without this
engine); this module turns a name, with its variant or alias, into a validated spec.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterable, Sequence

from harness.errors import UsageError
from harness.task_folders import task_folders
from harness.tasks.spec import TaskSpec, load_task_spec


def split_task_name(name: str) -> tuple[str, str | None]:
    """`gsm8k:cot` names the task gsm8k with variant cot."""
    base, _, variant = name.partition(":")
    return base, variant or None


SHOTS = re.compile(r"(\d+)shot")


def load_task(name: str, extra_dirs: Sequence[Path] = (), variant: str | None = None) -> TaskSpec:
    """The spec of task `name` (optionally `name:variant`).

    `name:25shot` (any count) is the task with 25 few-shot examples, as the Open LLM Leaderboard
    names its settings, unless the task defines a variant of that name."""
    base, named_variant = split_task_name(name)
    shots = SHOTS.fullmatch(named_variant or "")
    if shots:
        spec = load_task(base, extra_dirs, variant)
        if named_variant not in spec.variants:
            if spec.fewshot is None and int(shots.group(1)) > 0:
                raise UsageError(f"task {base!r} has no few-shot examples, so {name!r} cannot be run; use {base}")
            return dataclasses.replace(spec, preset_args={**spec.preset_args, "num_fewshot": int(shots.group(1))})
    if named_variant and variant and named_variant != variant:
        raise UsageError(f"task {name!r} names variant {named_variant!r} but --task-args says variant={variant}")
    folders = task_folders(extra_dirs)
    if base not in folders:
        raise UsageError(f"unknown task {base!r}; known: {', '.join(sorted(folders)) or 'none'} (add folders with --tasks-dir, or install a package that declares them)")
    spec = load_task_spec(folders[base] / "task.yaml", named_variant or variant, alias=base)
    if base != spec.name:
        preset = {key: value for key, value in spec.aliases[base].items() if key not in ("dataset", "variant")}
        spec = dataclasses.replace(spec, name=base, preset_args=preset)
    return spec


def list_tasks(extra_dirs: Sequence[Path] = ()) -> Iterable[TaskSpec]:
    for name in sorted(task_folders(extra_dirs)):
        yield load_task(name, extra_dirs)
