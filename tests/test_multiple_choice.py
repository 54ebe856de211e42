"""Multiple-choice tasks: the task.yaml block, the loglikelihood request, the metrics and the oracle.

A toy task in a tmp folder pins the engine; the real tasks (MMLU, ARC, ...) have their own tests.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
import numpy as np
import pytest
from typer.testing import CliRunner

from harness import evaluate
from harness.cli import app
from harness.errors import UsageError
from harness.models.oracle import OracleModel
from harness.scoring.multiple_choice import acc, acc_bytes, acc_norm, mc2
from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args
from harness.types import Response
from tests.scripted_models import FirstChoiceModel

TASK_YAML = """name: toy-mc
version: "1"
dataset: {{split: test, fewshot_split: train}}
target: "{{{{ options[label] }}}}"
request: loglikelihood
prompt: prompt.j2
preamble: "About {{{{ topic }}}}.\\n\\n"
fewshot: {{n: 2, sampler: first_n}}
multiple_choice:
  choices: {choices}
  gold: {gold}
metrics:
  - {{name: acc, scorer: acc}}
  - {{name: acc_norm, scorer: acc_norm}}
"""
ROWS = [{"question": f"q{i}", "options": ["yes", "no", "maybe so"], "label": i % 3, "topic": "toys"} for i in range(9)]


def write_task(root: Path, choices: str = '"{{ options }}"', gold: str = '"{{ label }}"', rows: list[dict] = ROWS) -> Path:
    folder = root / "toy-mc"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(TASK_YAML.format(choices=choices, gold=gold))
    (folder / "prompt.j2").write_text("Q: {{ question }}\nA:")
    data = root / "data"
    data.mkdir(exist_ok=True)
    (data / "test.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    (data / "train.jsonl").write_text("\n".join(json.dumps(row) for row in ROWS[:2]))
    return data


def toy_task(root: Path, name: str = "toy-mc", **args: object) -> Task:
    data = write_task(root)
    spec, own = apply_task_args(load_task(name, [root]), args)
    return Task(spec, own, data)


def test_one_request_holds_every_option_after_the_preamble_and_examples(tmp_path: Path) -> None:
    task = toy_task(tmp_path)
    sample, examples = task.samples(limit=1)[0]
    (request,) = task.requests(sample, examples, seed=0)
    assert request.kind == "loglikelihood"
    assert request.prompt == "About toys.\n\nQ: q0\nA: yes\n\nQ: q1\nA: no\n\nQ: q0\nA:"
    assert request.candidates == (" yes", " no", " maybe so")
    assert json.loads(request.reference or "") == [0]


def test_shot_count_in_the_task_name_sets_the_examples(tmp_path: Path) -> None:
    task = toy_task(tmp_path, "toy-mc:0shot")
    sample, examples = task.samples(limit=1)[0]
    assert task.requests(sample, examples, seed=0)[0].prompt == "About toys.\n\nQ: q0\nA:"


def test_partial_evaluation_scores_the_target_after_each_filled_context(tmp_path: Path) -> None:
    folder = tmp_path / "fill"
    folder.mkdir()
    (folder / "task.yaml").write_text(
        'name: fill\nversion: "1"\ndataset: {split: test, fewshot_split: test}\n'
        "target: \"{{ sentence[sentence.index('_') + 1:].strip() }}\"\nrequest: loglikelihood\nprompt: prompt.j2\n"
        "fewshot: {n: 1, sampler: first_n}\n"
        "multiple_choice:\n  choices: \"{{ [sentence[:sentence.index('_')] + option1, sentence[:sentence.index('_')] + option2] }}\"\n"
        "  gold: \"{{ answer | int - 1 }}\"\n  partial: true\nmetrics:\n  - {name: acc, scorer: acc}\n")
    (folder / "prompt.j2").write_text("{{ choice }}")
    rows = [{"sentence": "The cup fell because _ was slippery.", "option1": "the cup", "option2": "the table", "answer": "1"},
            {"sentence": "Ann thanked Bo because _ helped.", "option1": "Ann", "option2": "Bo", "answer": "2"}]
    (tmp_path / "test.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    spec, own = apply_task_args(load_task("fill", [tmp_path]), {})
    task = Task(spec, own, tmp_path / "test.jsonl")
    sample, examples = task.samples()[1]
    (request,) = task.requests(sample, examples, seed=0)
    assert request.prompt == "The cup fell because the cup was slippery.\n\n"
    assert request.contexts == ("Ann thanked Bo because Ann", "Ann thanked Bo because Bo")
    assert request.candidates == (" helped.", " helped.")
    assert json.loads(request.reference or "") == [1]


def test_oracle_scores_every_metric_full(tmp_path: Path) -> None:
    data = write_task(tmp_path)
    result = evaluate("toy-mc", OracleModel(), data=data, tasks_dirs=[tmp_path], run_dir=tmp_path / "run", use_cache=False)
    assert result.metrics["metrics"]["acc"]["value"] == 1.0
    assert result.metrics["metrics"]["acc_norm"]["value"] == 1.0


def test_a_model_preferring_the_first_option_scores_the_share_of_first_golds(tmp_path: Path) -> None:
    data = write_task(tmp_path)
    result = evaluate("toy-mc", FirstChoiceModel(), data=data, tasks_dirs=[tmp_path], run_dir=tmp_path / "run", use_cache=False)
    share = sum(row["label"] == 0 for row in ROWS) / len(ROWS)
    assert result.metrics["metrics"]["acc"]["value"] == pytest.approx(share)
    import pyarrow.parquet as pq

    rows = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    assert rows[0]["choice_logprobs"] == [0.0, -1e9, -1e9] and rows[0]["choice_greedy"] == [True, False, False]


def test_metrics_follow_lm_eval_process_results() -> None:
    options = ["ab", "abcdef", "é"]
    scores = [-2.0, -5.0, -1.9]
    assert acc(scores, [2], options) == 1.0
    # acc_norm divides by characters (lm-eval's completion_len), acc_bytes by UTF-8 bytes.
    assert np.argmax(np.array(scores) / [2, 6, 1]) == 1 and acc_norm(scores, [1], options) == 1.0
    assert np.argmax(np.array(scores) / [2, 6, 2]) == 1 and acc_bytes(scores, [1], options) == 1.0
    assert acc(scores, [0, 2], options) == 1.0  # several gold options: any pick among them counts
    probabilities = np.exp(scores)
    assert mc2(scores, [0, 1], options) == pytest.approx((probabilities[0] + probabilities[1]) / probabilities.sum())
    assert math.isnan(acc([math.nan, -1.0, -2.0], [0], options))
    with pytest.raises(ValueError, match="2 scores for 3 options"):
        acc([-1.0, -2.0], [0], options)


def test_choice_scorers_pickle_for_other_processes(tmp_path: Path) -> None:
    task = toy_task(tmp_path)
    copy = pickle.loads(pickle.dumps(task.scorers[0]))
    sample, examples = task.samples(limit=1)[0]
    from harness.scoring.protocol import ScoreItem

    item = ScoreItem("", sample, Response(scores=(0.0, -1.0, -2.0)), {})
    assert copy.score_batch([item])[0].value == 1.0


@pytest.mark.parametrize(("choices", "gold", "message"), [
    ('"{{ options[:2] }}"', '"{{ label }}"', "out of range for its 2 options"),
    ('"{{ options }}"', '"{{ label + 3 }}"', "out of range for its 3 options"),
    ('"{{ question }}"', '"{{ label }}"', "not a list of options"),
])
def test_broken_choice_templates_are_one_line_errors(tmp_path: Path, choices: str, gold: str, message: str) -> None:
    data = write_task(tmp_path, choices=choices, gold=gold)
    result = CliRunner().invoke(app, ["run", "--task", "toy-mc", "--tasks-dir", str(tmp_path), "--model", "oracle",
                                      "--data", str(data), "--run-dir", str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_replaying_texts_on_a_multiple_choice_task_says_why_not(tmp_path: Path) -> None:
    data = write_task(tmp_path)
    replay = tmp_path / "answers.jsonl"
    replay.write_text(json.dumps({"id": "0", "response": "yes"}) + "\n")
    result = CliRunner().invoke(app, ["run", "--task", "toy-mc", "--tasks-dir", str(tmp_path), "--model",
                                      f"replay:{replay}", "--data", str(data), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "log-probabilities of its choices" in result.output


def test_a_backend_without_loglikelihood_says_so(tmp_path: Path) -> None:
    data = write_task(tmp_path)
    result = CliRunner().invoke(app, ["run", "--task", "toy-mc", "--tasks-dir", str(tmp_path), "--model", "judge:oracle",
                                      "--data", str(data), "--run-dir", str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 2, result.output
    assert "loglikelihood" in result.output


def test_spec_requires_the_choice_block_with_loglikelihood_and_only_then(tmp_path: Path) -> None:
    write_task(tmp_path)
    path = tmp_path / "toy-mc" / "task.yaml"
    path.write_text(path.read_text().replace("request: loglikelihood\n", ""))
    with pytest.raises(UsageError, match="multiple_choice"):
        load_task("toy-mc", [tmp_path])


def test_chat_format_is_refused_for_multiple_choice(tmp_path: Path) -> None:
    task = toy_task(tmp_path, format="chat")
    sample, examples = task.samples(limit=1)[0]
    with pytest.raises(UsageError, match="drop format=chat"):
        task.requests(sample, examples, seed=0)
