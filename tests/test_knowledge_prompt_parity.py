"""MMLU, ARC and TruthfulQA requests equal lm-eval 0.4.13's, character for character.

lm-eval loads its own task yamls, pointed at the shared data converted to the hub's schema
(harness.testing.lmeval_tasks); every (context, continuation) it would score for the first 20
questions must be one of ours: our prompt and candidate i, in order.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args
from harness.testing.lmeval_tasks import lmeval_task_folder, lmeval_tasks_dir

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LIMIT = 20
MMLU_SUBJECTS = ("abstract_algebra", "high_school_european_history", "moral_scenarios")


def needs(folder: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not (SHARED / folder).is_dir(), reason=f"{SHARED / folder} not found (see its SOURCE.md)")


def lmeval_requests(tmp_path: Path, task: str, data: Path, names: list[str] | None,
                    num_fewshot: int | None) -> dict[str, list[list[tuple[str, str]]]]:
    """lm-eval's (context, continuation) pairs per question, for each of its tasks."""
    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from lm_eval.tasks import TaskManager

    written = lmeval_task_folder(task, data, tmp_path / "lmeval")
    manager = TaskManager(include_path=str(tmp_path / "lmeval"), include_defaults=False)
    loaded = manager.load(names or written)["tasks"]
    result = {}
    for name, lm_task in loaded.items():
        if num_fewshot is not None:
            lm_task.set_config(key="num_fewshot", value=num_fewshot)
        lm_task.set_fewshot_seed(seed=1234)
        lm_task.build_all_requests(limit=LIMIT, rank=0, world_size=1)
        by_doc: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for instance in sorted(lm_task.instances, key=lambda i: (i.doc_id, i.idx)):
            by_doc[instance.doc_id].append(tuple(instance.args))
        result[name] = [by_doc[doc] for doc in sorted(by_doc)]
    return result


def our_requests(task: str, data: Path, args: dict[str, object]) -> dict[str, list[list[tuple[str, str]]]]:
    """Our (prompt, candidate) pairs per question, by subset."""
    spec, own = apply_task_args(load_task(task), args)
    built = Task(spec, own, data)
    result: dict[str, list[list[tuple[str, str]]]] = defaultdict(list)
    for sample, examples in built.samples(limit=LIMIT):
        [request] = built.requests(sample, examples, seed=0)
        result[sample.subset].append([(request.prompt, candidate) for candidate in request.candidates or ()])
    return result


@needs("mmlu")
@pytest.mark.parametrize("shots", [0, 5])
def test_mmlu_requests_equal_lm_eval(tmp_path: Path, shots: int) -> None:
    expected = lmeval_requests(tmp_path, "mmlu", SHARED / "mmlu", [f"mmlu_{s}" for s in MMLU_SUBJECTS], shots)
    ours = our_requests("mmlu" if shots == 0 else f"mmlu:{shots}shot", SHARED / "mmlu",
                        {"subsets": "+".join(MMLU_SUBJECTS)})
    for subject in MMLU_SUBJECTS:
        assert len(expected[f"mmlu_{subject}"]) == LIMIT
        assert ours[subject] == expected[f"mmlu_{subject}"], subject
    assert ours["abstract_algebra"][0][0][0].count("\nAnswer:") == shots + 1


def test_mmlu_subjects_descriptions_and_categories_are_lm_evals() -> None:
    """All 57 subject yamls of lm-eval's mmlu: our subsets, preamble (its description) and
    category (its tag, which its groups mmlu_stem, ... collect)."""
    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    configs = [yaml.safe_load(path.read_text()) for path in sorted((lmeval_tasks_dir() / "mmlu" / "default").glob("mmlu_*.yaml"))]
    spec, own = apply_task_args(load_task("mmlu"), {})
    task = Task(spec, own)
    assert spec.dataset.subsets == tuple(config["dataset_name"] for config in configs) and len(configs) == 57
    assert spec.preamble is not None and task.context_hook is not None
    for config in configs:
        subject = config["dataset_name"]
        assert task.renderer.inline(spec.preamble, {"subset": subject}, keep_trailing_newline=True) == config["description"]
        row = {"subset": subject, "question": "q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "B"}
        assert config["tag"] == f"mmlu_{task.context_hook(row, own)['category']}_tasks", subject


@needs("arc")
@pytest.mark.parametrize(("task", "lmeval_name", "shots"), [
    ("arc-challenge", "arc_challenge", None), ("arc-easy", "arc_easy", None), ("arc-challenge:25shot", "arc_challenge", 25),
])
def test_arc_requests_equal_lm_eval(tmp_path: Path, task: str, lmeval_name: str, shots: int | None) -> None:
    expected = lmeval_requests(tmp_path, task.split(":")[0], SHARED / "arc", None, shots)[lmeval_name]
    [ours] = our_requests(task, SHARED / "arc", {}).values()
    assert len(expected) == LIMIT
    assert ours == expected
    assert ours[0][0][0].count("\nAnswer:") == (shots or 0) + 1


@needs("truthfulqa")
@pytest.mark.parametrize(("task", "lmeval_name"), [("truthfulqa-mc1", "truthfulqa_mc1"), ("truthfulqa-mc2", "truthfulqa_mc2")])
def test_truthfulqa_requests_equal_lm_eval(tmp_path: Path, task: str, lmeval_name: str) -> None:
    expected = lmeval_requests(tmp_path, task, SHARED / "truthfulqa", None, None)[lmeval_name]
    [ours] = our_requests(task, SHARED / "truthfulqa", {}).values()
    assert len(expected) == LIMIT
    assert ours == expected
