"""Finding tasks: built-in folders and the user's `--tasks-dir` folders go through one path.

A task is a folder holding task.yaml; its name is the spec's `name`. A user folder that
defines a name already built in replaces the built-in, so a local fix needs no fork.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable, Sequence

from harness.assets import asset_dir
from harness.errors import UsageError
from harness.tasks.spec import TaskSpec, load_task_spec
from harness.tasks.yaml_lines import load_yaml_with_lines


def task_folders(extra_dirs: Sequence[Path] = ()) -> dict[str, Path]:
    """Map task name (and alias) to folder; later directories override earlier ones."""
    for directory in extra_dirs:
        if not directory.is_dir():
            raise UsageError(f"--tasks-dir {directory} is not a folder")
    folders: dict[str, Path] = {}
    for root in [asset_dir("tasks"), *extra_dirs]:
        for spec_path in sorted(root.glob("*/task.yaml")) + sorted(root.glob("task.yaml")):
            raw = load_yaml_with_lines(spec_path)
            name = raw.get("name") if isinstance(raw, dict) else None
            folders[str(name or spec_path.parent.name)] = spec_path.parent
            aliases = raw.get("aliases") if isinstance(raw, dict) else None
            for alias in aliases if isinstance(aliases, dict) else ():
                folders[str(alias)] = spec_path.parent
    return folders


def split_task_name(name: str) -> tuple[str, str | None]:
    """`gsm8k:cot` names the task gsm8k with variant cot."""
    base, _, variant = name.partition(":")
    return base, variant or None


def load_task(name: str, extra_dirs: Sequence[Path] = (), variant: str | None = None) -> TaskSpec:
    """The spec of task `name` (optionally `name:variant`)."""
    base, named_variant = split_task_name(name)
    if named_variant and variant and named_variant != variant:
        raise UsageError(f"task {name!r} names variant {named_variant!r} but --task-args says variant={variant}")
    folders = task_folders(extra_dirs)
    if base not in folders:
        raise UsageError(f"unknown task {base!r}; known: {', '.join(sorted(folders)) or 'none'} (add folders with --tasks-dir)")
    spec = load_task_spec(folders[base] / "task.yaml", named_variant or variant, alias=base)
    if base != spec.name:
        preset = {key: value for key, value in spec.aliases[base].items() if key != "dataset"}
        spec = dataclasses.replace(spec, name=base, preset_args=preset)
    return spec


def list_tasks(extra_dirs: Sequence[Path] = ()) -> Iterable[TaskSpec]:
    for name in sorted(task_folders(extra_dirs)):
        yield load_task(name, extra_dirs)
