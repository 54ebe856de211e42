"""lm-evaluation-harness both ways.

- `harness run --task lm-eval:NAME[,NAME...]` runs lm-eval's own task definitions (prompts,
  few-shot draws, filters, metrics, groups) on harness backends, with the response cache, the run
  directory and resumption (`prepare_lmeval_task`).
- `python -m harness.lmeval --model harness --model_args spec=hf:...` is lm-eval's own CLI with
  any harness model spec, adapters included (`register`; the model is `harness.lmeval.model`).

lm-eval is imported only here, on use: `harness --help` and native tasks never load it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.api import PreparedTask

LMEVAL_PREFIX = "lm-eval:"


def is_lmeval_task(task: str) -> bool:
    return task.startswith(LMEVAL_PREFIX)


def prepare_lmeval_task(task: str, task_args: Mapping[str, Any], *, limit: int | None = None,
                        tasks_dirs: Sequence[Path | str] = (), seed: int = 0,
                        data: Path | str | None = None, sample_data: bool = False) -> PreparedTask:
    """`lm-eval:NAME[,NAME...]` loaded through lm-eval's TaskManager (`tasks_dirs` are its
    include paths, for your own YAML files) and planned: one request per document, `limit`
    documents per lm-eval task."""
    import lm_eval

    from harness.api import PreparedTask
    from harness.lmeval.loading import load_tasks, split_names
    from harness.lmeval.task import LmEvalTask

    if data is not None or sample_data:
        raise UsageError(f"{'--sample' if sample_data else f'--data {data}'}: an lm-eval task reads the data its YAML names; point a YAML of your own "
                         "at local files (dataset_path: json, dataset_kwargs.data_files) and pass its folder "
                         "with --tasks-dir")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: give a positive number of documents per lm-eval task")
    loaded = load_tasks(split_names(task.removeprefix(LMEVAL_PREFIX)), task_args, tasks_dirs)
    task_obj = LmEvalTask(loaded, task)
    samples = task_obj.samples(limit)
    plan = [(sample, request) for sample, examples in samples for request in task_obj.requests(sample, examples, seed)]
    settings = {"limit": limit, "seed": seed, "repeats": 1, "format": "base", "lm_eval": lm_eval.__version__,
                "generation": asdict(task_obj.spec.generation), "task_args": dict(task_args), "data": None}
    return PreparedTask(task_obj.spec, task_obj, plan, settings)  # type: ignore[arg-type]


def register() -> None:
    """Make `--model harness` known to lm-eval in this process (lm-eval 0.4.13 finds models
    only through its own registry: no entry points)."""
    import lm_eval.models  # noqa: F401  (its built-in models first: lm-eval fills the registry only when empty)
    from lm_eval.api.registry import model_registry

    if "harness" not in model_registry:
        model_registry.register("harness", target="harness.lmeval.model:HarnessLM")
