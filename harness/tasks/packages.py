"""Task folders as Python packages: a task's code may be several modules with relative imports.

A task folder is imported as the package `harness_tasks.<folder name>`, with `-` and any other
character an identifier cannot hold turned into `_` (tasks/rewardbench-2 is
`harness_tasks.rewardbench_2`); the folder needs no `__init__.py` (one would not be run). So
scorer.py may import its neighbours (`from .metrics import teds`), a benchmark's code lives with
its task instead of in the engine, and every function of the task has a module name that is the
same in every process: it pickles by reference, and a process pool can run it. A worker started
by fork (Linux's default) inherits the registered packages; one started by spawn or forkserver
imports nothing of ours before unpickling, so give that pool
`initializer=load_task_package, initargs=(folder,)`.

Like any module, a task's code is imported once per process; an edit takes effect in a new one.
A folder of the same name found elsewhere (a `--tasks-dir` copy of a built-in task) replaces the
registered package and its modules.

Code outside the engine that needs a task's module (the CLI's `readoc score`, tests, benchmarks)
asks for it by task name with `import_task_module`, so it finds the folder the engine would
(built in, an installed package's, or `extra_dirs`) without path tricks of its own.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

from harness.errors import UsageError
from harness.task_folders import task_folders

ROOT_PACKAGE = "harness_tasks"
HOOKS_MODULE = "scorer"


def package_name(folder: Path) -> str:
    """The stable module name of the task folder's package."""
    identifier = re.sub(r"\W", "_", folder.name)
    return f"{ROOT_PACKAGE}.{'_' + identifier if identifier[:1].isdigit() else identifier}"


def load_task_package(folder: Path | str) -> ModuleType:
    """The folder's package, registered in sys.modules (once per folder and process)."""
    folder = Path(folder).resolve()
    name = package_name(folder)
    registered = sys.modules.get(name)
    if registered is not None and list(getattr(registered, "__path__", ())) == [str(folder)]:
        return registered
    for module in [module for module in sys.modules if module == name or module.startswith(name + ".")]:
        del sys.modules[module]
    root = sys.modules.get(ROOT_PACKAGE) or _register(ROOT_PACKAGE, [])
    package = _register(name, [str(folder)])
    setattr(root, name.rpartition(".")[2], package)
    importlib.invalidate_caches()  # the folder may have been written a moment ago (a test's tmp folder)
    return package


def _register(name: str, locations: list[str]) -> ModuleType:
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = locations
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return module


def task_hooks(folder: Path) -> dict[str, Any]:
    """Public functions and batch scorers of the folder's optional scorer.py, by name, for
    `python:` steps, scorers and hooks in task.yaml.

    Only what the task's own package defines counts: a helper imported from elsewhere
    (UsageError, a harness function) is no hook.
    """
    if not (folder / f"{HOOKS_MODULE}.py").is_file():
        return {}
    package = load_task_package(folder).__name__
    module = importlib.import_module(f"{package}.{HOOKS_MODULE}")
    return {name: value for name, value in vars(module).items()
            if not name.startswith("_") and (callable(value) or hasattr(value, "score_batch"))
            and _defined_in(value, package)}


def _defined_in(value: Any, package: str) -> bool:
    module = getattr(value, "__module__", None) or ""
    return module == package or module.startswith(package + ".")


def import_task_module(task: str, module: str, extra_dirs: Sequence[Path] = ()) -> ModuleType:
    """Module `module` of task `task`'s package, e.g. `import_task_module("readoc", "suite")`.

    The task is found by name (or alias) as `harness run --task` finds it.
    """
    folders = task_folders(extra_dirs)
    if task not in folders:
        raise UsageError(f"unknown task {task!r}; known: {', '.join(sorted(folders)) or 'none'} "
                         "(add folders with --tasks-dir, or install a package that declares them)")
    package = load_task_package(folders[task]).__name__
    try:
        return importlib.import_module(f"{package}.{module}")
    except ModuleNotFoundError as error:
        if error.name != f"{package}.{module}":
            raise
        raise UsageError(f"task {task!r} has no module {module!r}: no {module}.py in {folders[task]}") from error
