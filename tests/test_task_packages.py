"""A task folder is a small package: modules with relative imports, a stable module name, functions
that a process pool can pickle, and one function for code outside the engine to reach them."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.tasks import Task, load_task
from harness.tasks.packages import import_task_module, load_task_package, package_name, task_hooks
from harness.types import Response, Sample

TASK_YAML = """\
name: multi-module
version: "1"
dataset: {split: test, files: {test: main.jsonl}}
target: "{{ answer }}"
prompt: question.j2
extraction: {raw: []}
metrics:
  - {name: overlap, scorer: "python:overlap", extraction: [raw]}
"""
SCORER = """\
from harness.errors import UsageError

from .metrics import overlap
from .text import words


def word_count(answer, sample):
    return float(len(words(answer)))
"""
METRICS = """\
from .text import words


def overlap(answer, sample):
    return len(words(answer) & words(sample.target)) / len(words(sample.target))
"""
TEXT = """\
def words(text):
    return set(text.lower().split())
"""


def write_task(root: Path, folder_name: str = "multi-module") -> Path:
    folder = root / folder_name
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(TASK_YAML)
    (folder / "question.j2").write_text("{{ question }}")
    for name, source in (("scorer", SCORER), ("metrics", METRICS), ("text", TEXT)):
        (folder / f"{name}.py").write_text(source)
    return folder


def test_modules_import_each_other_relatively_under_a_stable_name(tmp_path: Path) -> None:
    folder = write_task(tmp_path)
    task = Task(load_task("multi-module", [tmp_path]), {})
    [scored] = task.score_many([(Sample("0", "main", 0, {}, "a b c d"), Response(text="A b x"))])
    assert scored.scores == {"overlap[raw]": 0.5}
    assert package_name(folder) == "harness_tasks.multi_module"
    assert task.hooks["overlap"].__module__ == "harness_tasks.multi_module.metrics"


def test_hooks_are_what_the_task_package_defines_not_what_it_imports(tmp_path: Path) -> None:
    hooks = task_hooks(write_task(tmp_path))
    assert sorted(hooks) == ["overlap", "word_count", "words"]  # UsageError comes from harness: no hook


def test_a_folder_without_scorer_py_has_no_hooks(tmp_path: Path) -> None:
    folder = write_task(tmp_path)
    (folder / "scorer.py").unlink()
    assert task_hooks(folder) == {}


def test_a_folder_of_the_same_name_elsewhere_replaces_the_registered_package(tmp_path: Path) -> None:
    first = write_task(tmp_path / "first")
    second = write_task(tmp_path / "second")
    (second / "text.py").write_text("def words(text):\n    return {'replaced'}\n")
    assert task_hooks(first)["words"]("a b") == {"a", "b"}
    assert task_hooks(second)["words"]("a b") == {"replaced"}
    assert load_task_package(second).__path__ == [str(second.resolve())]


def _score(function_and_args: tuple) -> float:
    function, *args = function_and_args
    return function(*args)


def test_task_functions_pickle_by_reference_and_run_in_a_forked_pool(tmp_path: Path) -> None:
    hooks = task_hooks(write_task(tmp_path))
    assert pickle.loads(pickle.dumps(hooks["overlap"])) is hooks["overlap"]
    sample = Sample("0", "main", 0, {}, "a b")
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pool.map(_score, [(hooks["overlap"], "a", sample), (hooks["word_count"], "x y z", sample)]))
    assert results == [0.5, 3.0]


def test_a_spawned_pool_needs_the_package_loaded_by_its_initializer(tmp_path: Path) -> None:
    folder = write_task(tmp_path)
    hooks = task_hooks(folder)
    sample = Sample("0", "main", 0, {}, "a b")
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn, initializer=load_task_package,
                             initargs=(folder,)) as pool:
        assert pool.submit(_score, (hooks["overlap"], "a", sample)).result(timeout=120) == 0.5
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:  # the worker finds no harness_tasks
        with pytest.raises(BrokenProcessPool):
            pool.submit(_score, (hooks["overlap"], "a", sample)).result(timeout=120)


def test_code_outside_the_engine_imports_a_task_module_by_task_name(tmp_path: Path) -> None:
    write_task(tmp_path, "folder-name")
    suite = import_task_module("readoc", "suite")
    assert suite.__name__ == "harness_tasks.readoc.suite" and callable(suite.score_folders)
    assert import_task_module("multi-module", "metrics", [tmp_path]).__name__ == "harness_tasks.folder_name.metrics"
    with pytest.raises(UsageError, match="unknown task 'no-such-task'"):
        import_task_module("no-such-task", "suite")
    with pytest.raises(UsageError, match="task 'readoc' has no module 'nothing': no nothing.py in"):
        import_task_module("readoc", "nothing")
