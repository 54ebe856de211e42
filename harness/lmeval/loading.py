"""lm-eval's own task definitions, loaded through its TaskManager and set up as `simple_evaluate`
sets them up, so that prompts, few-shot draws and metrics are lm-eval's to the character.

The TaskManager indexes every YAML file of lm-eval's task tree (thousands; several seconds), so
one is kept per set of include paths for the life of the process.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.errors import UsageError

# simple_evaluate's default few-shot seed: the same documents as `lm_eval` picks by default.
DEFAULT_FEWSHOT_SEED = 1234
GENERATION_ARGS = ("max_gen_toks", "temperature", "do_sample", "top_p")
TASK_ARGS = {
    "num_fewshot": "number of few-shot examples (lm-eval's --num_fewshot; a task fixed at 0 stays 0)",
    "fewshot_seed": f"seed of lm-eval's few-shot sampler (lm-eval's --fewshot_random_seed; default {DEFAULT_FEWSHOT_SEED})",
    "system_instruction": "text put before each prompt (lm-eval's --system_instruction)",
    "bootstrap_iters": "bootstrap iterations of lm-eval's stderr for non-mean metrics (default 100000, as lm-eval)",
    **{key: f"generation setting {key} of every generate_until task (lm-eval's --gen_kwargs)" for key in GENERATION_ARGS},
}


@dataclass(frozen=True)
class LoadedTasks:
    """lm-eval's leaf tasks (by name, in load order) and the groups that aggregate them."""

    names: tuple[str, ...]
    tasks: Mapping[str, Any]
    groups: Mapping[str, Any]
    args: Mapping[str, Any]


@functools.lru_cache(maxsize=4)
def task_manager(include_paths: tuple[str, ...] = ()) -> Any:
    """lm-eval's TaskManager over its own tasks plus `include_paths` (folders of YAML files)."""
    from lm_eval.tasks import TaskManager

    for path in include_paths:
        if not Path(path).exists():
            raise UsageError(f"lm-eval include path {path!r} does not exist; give a folder of lm-eval task YAML files")
    return TaskManager(include_path=list(include_paths) or None)


def split_names(text: str) -> tuple[str, ...]:
    """`gsm8k,arc_easy` (or `+`-joined, which survives inside a --task-args value)."""
    names = tuple(name for name in text.replace("+", ",").split(",") if name.strip())
    if not names:
        raise UsageError("lm-eval task name missing: use --task lm-eval:NAME[,NAME...], e.g. lm-eval:arc_easy")
    return tuple(name.strip() for name in names)


def load_tasks(names: Sequence[str], task_args: Mapping[str, Any], include_paths: Sequence[str | Path] = ()) -> LoadedTasks:
    """Load lm-eval tasks and groups by name and apply the run's task args to each leaf task."""
    unknown_args = sorted(set(task_args) - set(TASK_ARGS))
    if unknown_args:
        raise UsageError(f"unknown task arg(s) {', '.join(unknown_args)} for lm-eval tasks; known: "
                         f"{', '.join(sorted(TASK_ARGS))}")
    manager = task_manager(tuple(str(Path(path).resolve()) for path in include_paths))
    missing = [name for name in names if name not in manager.all_tasks and not Path(name).is_file()]
    if missing:
        raise UsageError(f"lm-eval knows no task or group {', '.join(map(repr, missing))}; list them with "
                         "`lm-eval ls tasks`, or add the folder of your YAML files with --tasks-dir")
    try:
        loaded = manager.load(list(names))
    except (KeyError, ValueError, FileNotFoundError) as error:
        raise UsageError(f"lm-eval could not load {', '.join(names)}: {error}") from error
    for task in loaded["tasks"].values():
        _configure(task, task_args)
    return LoadedTasks(tuple(loaded["tasks"]), loaded["tasks"], loaded["groups"], dict(task_args))


def _configure(task: Any, args: Mapping[str, Any]) -> None:
    """What simple_evaluate does to each task before building its requests."""
    generation = {key: args[key] for key in GENERATION_ARGS if key in args}
    if generation and task.get_config("output_type") == "generate_until":
        task.set_config(key="generation_kwargs", value=generation, update=True)
    if "num_fewshot" in args and task.get_config("num_fewshot") != 0:
        task.set_config(key="num_fewshot", value=int(args["num_fewshot"]))
    elif task.get_config("num_fewshot") is None:
        task.set_config(key="num_fewshot", value=0)
    task.set_fewshot_seed(seed=int(args.get("fewshot_seed", DEFAULT_FEWSHOT_SEED)))


def content_hash(loaded: LoadedTasks) -> str:
    """Hash of every loaded task's and group's configuration (prompts, filters, metrics, data
    files, few-shot settings) and lm-eval's version: a change to any of them starts a new run
    instead of resuming an old one."""
    import lm_eval

    configs = {name: task.dump_config() for name, task in loaded.tasks.items()}
    groups = {name: group.to_dict() for name, group in loaded.groups.items()}
    payload = json.dumps({"lm_eval": lm_eval.__version__, "tasks": configs, "groups": groups},
                         sort_keys=True, default=_stable_text)
    return hashlib.sha256(payload.encode()).hexdigest()


def _stable_text(value: Any) -> str:
    """A config value JSON cannot hold, as text that is the same in every process: a function
    (a `!function` hook) by its name and source, not its memory address."""
    if callable(value):
        target = getattr(value, "func", value)  # functools.partial: the filter classes
        try:
            source = inspect.getsource(target)
        except (OSError, TypeError):
            source = ""
        name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', type(target).__name__)}"
        return f"{name}:{hashlib.sha256(source.encode()).hexdigest()}"
    return str(value)
