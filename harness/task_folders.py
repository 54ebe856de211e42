"""Where task folders are: built in, in installed packages (entry points) and in `--tasks-dir`.

A task is a folder holding task.yaml; its name is the spec's `name`. Finding one reads only that
name and the aliases, so this lives outside the task engine: a leaderboard checks its columns'
tasks without importing prompts, data sources and scorers.

Later sources override earlier ones: packages (in entry-point name order), then the built-ins,
then `--tasks-dir` folders. So installing a package never changes what a built-in task name
means (as with every registry), while a local fix to a built-in task needs no fork.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from harness.assets import asset_dir
from harness.errors import UsageError
from harness.registry import TASK_FOLDERS
from harness.yaml_lines import load_yaml_with_lines


def _task_roots(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """Folders that hold task folders, lowest precedence first."""
    roots: list[Path] = []
    for source in TASK_FOLDERS.names():
        folder = TASK_FOLDERS.get(source)
        if not isinstance(folder, (str, os.PathLike)) or not Path(folder).is_dir():
            raise UsageError(f"task folder source {source!r} (entry-point group {TASK_FOLDERS.group}) gives "
                             f"{folder!r}, not a folder; point it at a str or Path of the folder holding task folders")
        roots.append(Path(folder))
    for directory in extra_dirs:
        if not directory.is_dir():
            raise UsageError(f"--tasks-dir {directory} is not a folder")
    return [*roots, asset_dir("tasks"), *extra_dirs]


def task_folders(extra_dirs: Sequence[Path] = ()) -> dict[str, Path]:
    """Map task name (and alias) to folder; later roots override earlier ones."""
    folders: dict[str, Path] = {}
    for root in _task_roots(extra_dirs):
        for spec_path in sorted(root.glob("*/task.yaml")) + sorted(root.glob("task.yaml")):
            raw = load_yaml_with_lines(spec_path)
            name = raw.get("name") if isinstance(raw, dict) else None
            folders[str(name or spec_path.parent.name)] = spec_path.parent
            aliases = raw.get("aliases") if isinstance(raw, dict) else None
            for alias in aliases if isinstance(aliases, dict) else ():
                folders[str(alias)] = spec_path.parent
    return folders
