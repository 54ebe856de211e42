"""MMLU, ARC and TruthfulQA end to end on the shared data: oracle, a first-choice model, MMLU's
subject and category numbers against lm-eval's aggregation, the hub's schema, and bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import evaluate
from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args
from harness.testing.lmeval_tasks import arc_hub_rows, mmlu_hub_rows, truthfulqa_hub_rows
from scripted_models import FirstChoiceModel

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MMLU, ARC, TRUTHFULQA = SHARED / "mmlu", SHARED / "arc", SHARED / "truthfulqa"
# Each of lm-eval's four categories, two of them with two subjects.
MMLU_SUBJECTS = ("abstract_algebra", "anatomy", "formal_logic", "econometrics", "business_ethics", "global_facts")
TASKS = {  # task -> (data folder, metric labels, questions)
    "mmlu": (MMLU, ("acc",), 14042),
    "arc-challenge": (ARC, ("acc", "acc_norm"), 1172),
    "arc-easy": (ARC, ("acc", "acc_norm"), 2376),
    "truthfulqa-mc1": (TRUTHFULQA, ("acc",), 817),
    "truthfulqa-mc2": (TRUTHFULQA, ("mc2",), 817),
}


def needs(folder: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not folder.is_dir(), reason=f"{folder} not found (see its SOURCE.md)")


def run(task: str, model: object, tmp_path: Path, **kwargs: object) -> dict:
    data = TASKS[task.split(":")[0]][0]
    if not data.is_dir():
        pytest.skip(f"{data} not found (see its SOURCE.md)")
    return evaluate(task, model, data=data, run_dir=tmp_path / "run", use_cache=False, **kwargs).metrics


def mmlu_gold_letters(subject: str) -> list[str]:
    with (MMLU / "data" / "test" / f"{subject}_test.csv").open(encoding="utf-8", newline="") as handle:
        return [row[5] for row in csv.reader(handle)]


def arc_first_is_gold(config: str) -> list[bool]:
    lines = (ARC / config / f"{config}-Test.jsonl").read_text(encoding="utf-8").splitlines()
    return [(row := json.loads(line))["question"]["choices"][0]["label"] == row["answerKey"] for line in lines]


def truthfulqa_first_labels(key: str) -> list[int]:
    items = json.loads((TRUTHFULQA / "data" / "v1" / "mc_task.json").read_text(encoding="utf-8"))
    return [next(iter(item[key].values())) for item in items]


@pytest.mark.parametrize("task", [*TASKS, "mmlu:5shot", "arc-challenge:25shot"])
def test_oracle_scores_100_percent_on_the_first_questions(task: str, tmp_path: Path) -> None:
    _, labels, _ = TASKS[task.split(":")[0]]
    metrics = run(task, "oracle", tmp_path, limit=3 if task.startswith("mmlu") else 40)
    for label in labels:
        entry = metrics["metrics"][label]
        assert (entry["value"], entry["n"]) == (1.0, 3 * 57 if task.startswith("mmlu") else 40), label


@pytest.mark.parametrize("task", [pytest.param("mmlu", marks=pytest.mark.slow), *list(TASKS)[1:]])
def test_oracle_scores_100_percent_on_the_full_data(task: str, tmp_path: Path) -> None:
    _, labels, questions = TASKS[task]
    metrics = run(task, "oracle", tmp_path)
    for label in labels:
        assert (metrics["metrics"][label]["value"], metrics["metrics"][label]["n"]) == (1.0, questions), label
    if task == "mmlu":
        assert len(metrics["subsets"]) == 57 and set(metrics["groups"]["category"]) == {
            "stem", "humanities", "social_sciences", "other"}


@needs(ARC)
@pytest.mark.parametrize(("task", "config"), [("arc-challenge", "ARC-Challenge"), ("arc-easy", "ARC-Easy")])
def test_first_choice_model_scores_the_share_of_gold_first_on_arc(task: str, config: str, tmp_path: Path) -> None:
    first = arc_first_is_gold(config)
    metrics = run(task, FirstChoiceModel(), tmp_path)["metrics"]
    assert 0.1 < sum(first) / len(first) < 0.4
    for label in ("acc", "acc_norm"):
        assert metrics[label]["n"] == len(first)
        assert metrics[label]["value"] == pytest.approx(sum(first) / len(first)), label


@needs(TRUTHFULQA)
@pytest.mark.parametrize(("task", "label", "key"), [("truthfulqa-mc1", "acc", "mc1_targets"),
                                                     ("truthfulqa-mc2", "mc2", "mc2_targets")])
def test_first_choice_model_scores_the_first_options_label_on_truthfulqa(task: str, label: str, key: str,
                                                                         tmp_path: Path) -> None:
    """The release lists a true answer first in every question, so position-blind loglikelihood
    scoring is what keeps this 100% from meaning anything: the model's mc2 is the first label."""
    first = truthfulqa_first_labels(key)
    metrics = run(task, FirstChoiceModel(), tmp_path)["metrics"]
    assert (metrics[label]["value"], metrics[label]["n"]) == (pytest.approx(sum(first) / len(first)), 817)


@needs(MMLU)
def test_mmlu_subjects_categories_and_headline_aggregate_as_lm_eval(tmp_path: Path) -> None:
    """Per subject, the share of gold A; per category and overall, lm-eval's weight_by_size
    aggregation of those (its `mmlu_<category>` groups, then `mmlu` over the categories)."""
    lm_metrics = pytest.importorskip("lm_eval.api.metrics", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    metrics = run("mmlu", FirstChoiceModel(), tmp_path, task_args={"subsets": "+".join(MMLU_SUBJECTS)})
    spec, own = apply_task_args(load_task("mmlu"), {})
    category = Task(spec, own).context_hook
    assert category is not None
    shares, sizes, by_category = {}, {}, {}
    for subject in MMLU_SUBJECTS:
        letters = mmlu_gold_letters(subject)
        shares[subject], sizes[subject] = letters.count("A") / len(letters), len(letters)
        assert metrics["subsets"][subject]["acc"]["value"] == pytest.approx(shares[subject]), subject
        assert metrics["subsets"][subject]["acc"]["n"] == len(letters)
        row = {"subset": subject, "question": "", "A": "", "B": "", "C": "", "D": "", "answer": "A"}
        by_category.setdefault(category(row, own)["category"], []).append(subject)
    assert len(by_category) == 4 and len(set(shares.values())) > 3
    groups = {}
    for name, subjects in by_category.items():
        groups[name] = (lm_metrics.aggregate_subtask_metrics([shares[s] for s in subjects], [sizes[s] for s in subjects]),
                        sum(sizes[s] for s in subjects))
        assert metrics["groups"]["category"][name]["acc"]["value"] == pytest.approx(groups[name][0]), name
        assert metrics["groups"]["category"][name]["acc"]["n"] == groups[name][1]
    headline = lm_metrics.aggregate_subtask_metrics([value for value, _ in groups.values()], [n for _, n in groups.values()])
    assert metrics["metrics"]["acc"]["value"] == pytest.approx(headline)
    assert metrics["metrics"]["acc"]["n"] == sum(sizes.values())


@pytest.mark.slow
@needs(MMLU)
def test_first_choice_model_scores_the_share_of_gold_a_on_all_of_mmlu(tmp_path: Path) -> None:
    letters = [letter for path in sorted((MMLU / "data" / "test").glob("*.csv")) for letter in mmlu_gold_letters(path.name[:-9])]
    metrics = run("mmlu", FirstChoiceModel(), tmp_path)["metrics"]
    assert (metrics["acc"]["value"], metrics["acc"]["n"]) == (pytest.approx(letters.count("A") / 14042), 14042)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def requests_of(task: str, data: Path, args: dict[str, str] | None = None, limit: int = 30) -> list[tuple]:
    spec, own = apply_task_args(load_task(task), args or {})
    built = Task(spec, own, data)
    return [(request.prompt, request.candidates, request.reference) for sample, examples in built.samples(limit=limit)
            for request in built.requests(sample, examples, seed=0)]


@needs(MMLU)
@needs(ARC)
@needs(TRUTHFULQA)
@pytest.mark.parametrize("task", ["mmlu:5shot", "arc-challenge:25shot", "arc-easy", "truthfulqa-mc1", "truthfulqa-mc2"])
def test_hub_schema_gives_the_same_requests_as_the_official_files(task: str, tmp_path: Path) -> None:
    """cais/mmlu, allenai/ai2_arc and truthful_qa rows (as `split.jsonl` files, what a user saves
    from the hub) make the same prompts, options and gold as the official release's files."""
    base = task.split(":")[0]
    hub, args = tmp_path / "hub", {}
    if base == "mmlu":
        args = {"subsets": "anatomy"}
        for split in ("test", "dev"):
            write_jsonl(hub / f"{split}.jsonl", mmlu_hub_rows(MMLU / "data" / split / f"anatomy_{split}.csv", "anatomy"))
    elif base.startswith("arc"):
        config = "ARC-Challenge" if base == "arc-challenge" else "ARC-Easy"
        for split, suffix in (("test", "Test"), ("train", "Train")):
            write_jsonl(hub / f"{split}.jsonl", arc_hub_rows(ARC / config / f"{config}-{suffix}.jsonl"))
    else:
        write_jsonl(hub / "validation.jsonl", truthfulqa_hub_rows(TRUTHFULQA / "data" / "v1" / "mc_task.json"))
    official = requests_of(task, TASKS[base][0], args)
    assert len(official) == 30
    assert requests_of(task, hub, args) == official


TOY_TASK = """name: toy-choice
version: "1"
dataset: {split: test}
target: "{{ label }}"
request: loglikelihood
prompt: prompt.j2
multiple_choice:
  choices: "CHOICES"
  gold: "{{ label }}"
metrics:
  - {name: acc, scorer: acc}
"""


def harness_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                               "HOME": str(cwd)}, timeout=120)


def toy_task(tmp_path: Path, choices: str = "{{ options }}", label: int = 1) -> Path:
    folder = tmp_path / "tasks" / "toy-choice"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(TOY_TASK.replace("CHOICES", choices))
    (folder / "prompt.j2").write_text("Q: {{ question }}\nA:")
    write_jsonl(tmp_path / "data" / "test.jsonl", [{"question": "q0", "options": ["yes", "no", "maybe"], "label": 0},
                                                   {"question": "q1", "options": ["yes", "no", "maybe"], "label": label}])
    return folder


@pytest.mark.parametrize(("choices", "label", "model", "message"), [
    ("{{ options[:2] }}", 2, "oracle", "gold index 2 is out of range for its 2 options"),
    ("{{ options }}", 7, "oracle", "gold index 7 is out of range for its 3 options"),
    ("{{ options }}", 1, "replay:REPLAY", "asks for a loglikelihood answer"),
])
def test_bad_multiple_choice_input_exits_2_with_one_error_line(tmp_path: Path, choices: str, label: int, model: str,
                                                               message: str) -> None:
    toy_task(tmp_path, choices, label)
    replay = tmp_path / "replay.jsonl"
    write_jsonl(replay, [{"id": "0", "response": "yes"}, {"id": "1", "response": "no"}])
    result = harness_cli("run", "--task", "toy-choice", "--tasks-dir", str(tmp_path / "tasks"), "--data",
                         str(tmp_path / "data"), "--model", model.replace("REPLAY", str(replay)), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1] == errors[0]


def test_an_alias_refuses_another_variant(tmp_path: Path) -> None:
    result = harness_cli("run", "--task", "truthfulqa-mc1", "--model", "oracle", "--task-args", "variant=mc2", cwd=tmp_path)
    assert result.returncode == 2
    assert "task 'truthfulqa-mc1' is variant 'mc1' of task 'truthfulqa'; drop variant=mc2" in result.stderr


def test_a_folder_without_the_data_says_what_was_tried(tmp_path: Path) -> None:
    result = harness_cli("run", "--task", "arc-easy", "--model", "oracle", "--data", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "ARC-Easy/ARC-Easy-Test.jsonl" in result.stderr and "allenai/ai2_arc" in result.stderr
