"""Few-shot draws equal lm-eval's sampler's, including its draw that leaves out the evaluated row,
and the task.yaml keys that HellaSwag and BBH added: per-subset example files, alternative data
files and a task's own file reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.tasks import Task, load_task
from harness.tasks.prompts import FewshotPicker
from harness.tasks.spec import FewshotSpec
from harness.tasks.task import apply_task_args

POOL = [{"q": f"q{i}", "a": i % 3} for i in range(12)]


def picker(n: int, sampler: str = "random", exclude_self: bool = True, pool: list[dict] = POOL) -> FewshotPicker:
    spec = FewshotSpec(n=n, sampler=sampler, seed=1234, answer=None, examples=None, separator="\n\n",
                       target_delimiter=" ", exclude_self=exclude_self)
    return FewshotPicker(spec, n, 1234, pool)


@pytest.mark.parametrize("rows", [
    [{"q": "other", "a": 0}] * 6,  # another split: only the extra draw differs from a plain draw
    POOL[:6],  # the pool is the evaluated split: the evaluated row is never its own example
    [POOL[0]] * 3,
])
@pytest.mark.parametrize("sampler", ["random", "first_n"])
def test_draws_excluding_the_row_equal_lm_eval_s_sampler(rows: list[dict], sampler: str) -> None:
    samplers = pytest.importorskip("lm_eval.api.samplers", reason="lm-eval is a dev dependency")
    theirs = samplers.get_sampler("first_n" if sampler == "first_n" else "default")(list(POOL), rnd=1234)
    expected = [theirs.sample(n=5, eval_doc=row) for row in rows]
    picks = picker(5, sampler).picks(rows)
    assert [[POOL[i] for i in indices] for indices in picks] == expected
    assert all(row not in examples for row, examples in zip(rows, expected))


def test_a_row_twice_in_the_pool_still_gets_n_other_examples() -> None:
    samplers = pytest.importorskip("lm_eval.api.samplers", reason="lm-eval is a dev dependency")
    pool = [POOL[0]] * 4 + POOL[1:6]
    theirs = samplers.get_sampler("default")(list(pool), rnd=1234)
    expected = [theirs.sample(n=5, eval_doc=POOL[0]) for _ in range(20)]
    ours = [[pool[i] for i in indices] for indices in picker(5, pool=pool).picks([POOL[0]] * 20)]
    assert ours == expected and all(len(examples) == 5 and POOL[0] not in examples for examples in ours)


def test_a_plain_draw_is_lm_eval_s_draw_without_the_evaluated_row() -> None:
    samplers = pytest.importorskip("lm_eval.api.samplers", reason="lm-eval is a dev dependency")
    theirs = samplers.get_sampler("default")(list(POOL), rnd=1234)
    expected = [theirs.sample(n=4) for _ in range(5)]
    assert [[POOL[i] for i in indices] for indices in picker(4, exclude_self=False).picks(POOL[:5])] == expected


def write_task(root: Path, dataset: str, fewshot: str = "{n: 1, sampler: first_n, answer: '{{ a }}'}",
               scorer: str = "") -> Path:
    folder = root / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(f'name: toy\nversion: "1"\ndataset: {dataset}\ntarget: "{{{{ a }}}}"\n'
                                      f"prompt: p.j2\nfewshot: {fewshot}\nextraction: {{raw: []}}\n"
                                      "metrics: [{name: em, scorer: exact_match, extraction: [raw]}]\n")
    (folder / "p.j2").write_text("Q: {{ q }}")
    if scorer:
        (folder / "scorer.py").write_text(scorer)
    return folder


def toy(root: Path, data: Path | None = None, **args: object) -> Task:
    spec, own = apply_task_args(load_task("toy", [root]), args)
    return Task(spec, own, data)


def test_examples_files_per_subset(tmp_path: Path) -> None:
    folder = write_task(tmp_path, "{split: test, subsets: [x, y]}",
                        "{n: 1, sampler: first_n, examples: 'shots/{subset}.yaml', answer: '{{ a }}'}")
    (folder / "shots").mkdir()
    for subset in ("x", "y"):
        (folder / "shots" / f"{subset}.yaml").write_text(f"- {{q: shot-{subset}, a: 1}}\n")
        (tmp_path / f"{subset}.jsonl").write_text(json.dumps({"q": f"{subset}0", "a": 0}))
    (folder / "task.yaml").write_text((folder / "task.yaml").read_text().replace(
        "{split: test, subsets: [x, y]}", "{split: test, subsets: [x, y], files: {test: '{subset}.jsonl'}}"))
    task = toy(tmp_path, tmp_path)
    assert [(sample.data["q"], examples[0]["q"]) for sample, examples in task.samples()] == [("x0", "shot-x"), ("y0", "shot-y")]
    (folder / "shots" / "y.yaml").unlink()
    with pytest.raises(UsageError, match="'shots/y.yaml' not found"):
        load_task("toy", [tmp_path])


def test_data_files_are_tried_in_order_and_a_task_may_read_its_own_format(tmp_path: Path) -> None:
    reader = ("from pathlib import Path\n\ndef read_pairs(path):\n"
              "    return [dict(zip(('q', 'a'), line.split('|'))) for line in Path(path).read_text().splitlines()]\n")
    write_task(tmp_path, "{split: test, files: {test: [official.jsonl, copy.txt]}, readers: {'*.txt': python:read_pairs}}",
               fewshot="{n: 0, answer: '{{ a }}'}", scorer=reader)
    data = tmp_path / "data"
    data.mkdir()
    (data / "copy.txt").write_text("q1|1\nq2|2\n")
    assert [sample.data["q"] for sample, _ in toy(tmp_path, data).samples()] == ["q1", "q2"]
    (data / "official.jsonl").write_text(json.dumps({"q": "official", "a": "1"}))
    assert [sample.data["q"] for sample, _ in toy(tmp_path, data).samples()] == ["official"]
    assert [sample.data["q"] for sample, _ in toy(tmp_path, data / "copy.txt").samples()] == ["q1", "q2"]


def test_zero_shot_needs_no_few_shot_split(tmp_path: Path) -> None:
    write_task(tmp_path, "{split: test, fewshot_split: train}", fewshot="{n: 0, answer: '{{ a }}'}")
    (tmp_path / "test.jsonl").write_text(json.dumps({"q": "q0", "a": "0"}))
    assert toy(tmp_path, tmp_path).samples()[0][1] == []
    with pytest.raises(UsageError, match="split 'train'"):
        toy(tmp_path, tmp_path, num_fewshot=1).samples()


@pytest.mark.parametrize(("dataset", "message"), [
    ("{split: test, files: {test: 3}}", "give a file name, or a list of file names"),
    ("{split: test, readers: {'*.txt': read_pairs}}", "expected python:<function in scorer.py>"),
])
def test_bad_files_and_readers_name_the_key(tmp_path: Path, dataset: str, message: str) -> None:
    write_task(tmp_path, dataset)
    with pytest.raises(UsageError, match=message):
        load_task("toy", [tmp_path])
