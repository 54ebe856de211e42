"""lm-eval 0.4.x's own HellaSwag, Winogrande and BBH (CoT, few-shot) tasks over local files, offline.

Our prompt-parity tests compare every request argument we build with lm-eval's. lm-eval is
made to read the same files as our task without the hub: a yaml `include`s lm-eval's task yaml
unchanged and only points it at local json files (HellaSwag and Winogrande files already have the
hub's schema; BBH's official files keep their rows under `examples`, which the json builder's
`field` reads), so its preprocessing, prompts, few-shot draws and targets stay lm-eval's.

    names = write_lmeval_tasks("winogrande", {"train": TRAIN, "validation": DEV}, Path("/tmp/lmeval"), num_fewshot=5)
    requests = lmeval_requests(Path("/tmp/lmeval"), names, limit=20)
    messages = lmeval_chat_messages(Path("/tmp/lmeval"), names[0], limit=5)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from harness.errors import UsageError
from harness.testing.lmeval_tasks import lmeval_tasks_dir

BASES = {"hellaswag": "hellaswag/hellaswag.yaml", "winogrande": "winogrande/default.yaml"}
BBH_BASE = "bbh/cot_fewshot/{subset}.yaml"
FEWSHOT_SEED = 1234  # lm-eval's default --seed for few-shot draws, as our tasks'


def write_lmeval_tasks(task: str, files: Mapping[str, Path], out: Path, num_fewshot: int | None = None) -> list[str]:
    """Write lm-eval's `task` (hellaswag, winogrande, or bbh_cot_fewshot_<subset>) reading `files`
    (lm-eval split -> local file) into `out`; return the task names to load from there.

    The names end in `_local` so they never collide with lm-eval's built-in tasks.
    """
    tasks = lmeval_tasks_dir()
    if task in BASES:
        base, kwargs = tasks / BASES[task], {}
    elif task.startswith("bbh_cot_fewshot_"):
        base, kwargs = tasks / BBH_BASE.format(subset=task.removeprefix("bbh_cot_fewshot_")), {"field": "examples"}
    else:
        raise UsageError(f"no local lm-eval task for {task!r}; known: {', '.join(BASES)}, bbh_cot_fewshot_<subset>")
    if not base.is_file():
        raise UsageError(f"lm-eval has no task file {base}; is lm-eval 0.4.x installed?")
    name = f"{task}_local"
    config: dict[str, Any] = {"task": name, "include": str(base), "dataset_path": "json", "dataset_name": None,
                              "dataset_kwargs": {"data_files": {split: str(path.resolve()) for split, path in files.items()},
                                                 **kwargs}}
    if num_fewshot is not None:
        config["num_fewshot"] = num_fewshot
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return [name]


def lmeval_requests(folder: Path, names: Sequence[str], limit: int) -> dict[str, list[list[tuple[Any, ...]]]]:
    """Per task, the arguments of every Instance lm-eval builds for its first `limit` documents:
    one list per document, in document order, of (context, continuation) for each choice of a
    multiple-choice task or (context, generation kwargs) for a generative one."""
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(folder), include_defaults=False)
    loaded = manager.load(list(names))["tasks"]
    result = {}
    for name in names:
        task = loaded[name]
        task.set_fewshot_seed(seed=FEWSHOT_SEED)
        task.build_all_requests(limit=limit, rank=0, world_size=1)
        by_doc: dict[int, list[Any]] = {}
        for instance in sorted(task.instances, key=lambda item: (item.doc_id, item.idx)):
            by_doc.setdefault(instance.doc_id, []).append(instance.args)
        result[name] = [by_doc[doc_id] for doc_id in sorted(by_doc)]
    return result


def lmeval_chat_messages(folder: Path, name: str, limit: int) -> list[list[dict[str, str]]]:
    """The chat messages lm-eval sends for the first `limit` documents with `--apply_chat_template
    --fewshot_as_multiturn` (its default with a chat template), before any template renders them."""
    from lm_eval.tasks import TaskManager

    task = TaskManager(include_path=str(folder), include_defaults=False).load([name])["tasks"][name]
    task.set_fewshot_seed(seed=FEWSHOT_SEED)
    docs = list(task.eval_docs)[:limit]
    return [task.fewshot_context(doc, task.config.num_fewshot or 0, apply_chat_template=True, fewshot_as_multiturn=True,
                                 chat_template=lambda messages, add_generation_prompt: messages)
            for doc in docs]
