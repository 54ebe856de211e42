"""One scorer protocol: plain functions, batch scorers, reward and execution metrics all score
through `score_batch`, and the task reads batch size, outcomes and trace scoring from it."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any, Sequence

import pytest

from harness.errors import UsageError
from harness.registry import SCORERS
from harness.sandbox.types import Execution, Program
from harness.scoring.protocol import DEFAULT_BATCH_SIZE, BatchScorer, Outcome, PerItem, ScoreItem, as_scorer
from harness.scoring.reward import reward_accuracy
from harness.tasks import Task, load_task
from harness.tasks.execution import ExecutionScorer
from harness.tasks.reward import RewardArguments
from harness.tasks.spec import RewardSpec
from harness.types import Response, Sample

TASK_YAML = """\
name: toy
version: "1"
dataset: {split: test, files: {test: main.jsonl}}
target: "{{ answer }}"
prompt: question.j2
extraction: {raw: [], upper: [python: shout]}
metrics:
  - {name: exact_match, scorer: exact_match, extraction: [raw], options: {ignore_case: true}}
  - {name: length, scorer: "python:length_check", extraction: [raw, upper], options: {limit: 3}}
"""
SCORER = '''
from harness.scoring.protocol import BatchScorer, Outcome

CALLS = []


def shout(text):
    return text.upper()


class LengthCheck(BatchScorer):
    """1 when the answer is at most `limit` long; undefined (None) for an empty answer."""

    batch_size = 200

    def score_batch(self, items, limit):
        CALLS.append([item.answer for item in items])
        return [Outcome(None) if not item.answer else
                Outcome(float(len(item.answer) <= limit), status="checked", reason=f"length {len(item.answer)}")
                for item in items]


length_check = LengthCheck()
'''


def toy_task(root: Path, task_yaml: str = TASK_YAML, scorer: str = SCORER) -> Task:
    folder = root / "toy"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(task_yaml)
    (folder / "question.j2").write_text("{{ question }}")
    (folder / "scorer.py").write_text(scorer)
    return Task(load_task("toy", [root]), {})


def sample(target: str = "ab", index: int = 0) -> Sample:
    return Sample(id=str(index), subset="main", index=index, data={}, target=target)


def item(answer: str, target: str = "ab") -> ScoreItem:
    return ScoreItem(answer, sample(target), Response(text=answer), {})


def test_a_plain_function_scores_through_the_one_wrapper_with_its_options() -> None:
    scorer = as_scorer(lambda answer, sample, bonus=0: None if answer == "?" else len(answer) + bonus, "lengths")
    assert isinstance(scorer, PerItem)
    assert scorer.score_batch([item("abc"), item("?")], bonus=1) == [Outcome(4.0), Outcome(None)]
    assert (scorer.aggregation, scorer.batch_size, scorer.runs_programs) == ("mean", DEFAULT_BATCH_SIZE, False)


def test_a_reward_function_reads_the_candidates_scores_and_their_count() -> None:
    scorer = PerItem(reward_accuracy, RewardArguments(RewardSpec("prompt", ("chosen", "rejected"))))
    row = {"prompt": "p", "chosen": ["a", "b"], "rejected": ["c", "d"]}
    judged = ScoreItem("", Sample("s", "x", 0, row, "2"), Response(scores=(3.0, 2.0, 1.0, 0.0)), {})
    unjudged = ScoreItem("", Sample("s", "x", 0, row, "2"), Response(scores=None), {})
    assert scorer.score_batch([judged, unjudged], ties="loss") == [Outcome(1.0), Outcome(0.5)]


def test_a_batch_scorer_in_scorer_py_gets_every_answer_at_once_and_sets_the_batch_size(tmp_path: Path) -> None:
    task = toy_task(tmp_path)
    pairs = [(sample("ab", 0), Response(text="AB")), (sample("ab", 1), Response(text="")),
             (sample("ab", 2), Response(text="abcd"))]
    scored = task.score_many(pairs)
    assert type(task.hooks["length_check"]).__module__ == "harness_tasks.toy.scorer"
    assert task.score_batch_size() == 200
    assert [result.scores for result in scored] == [
        {"exact_match[raw]": 1.0, "length[raw]": 1.0, "length[upper]": 1.0},
        {"exact_match[raw]": 0.0},  # an empty answer leaves length undefined, not failed
        {"exact_match[raw]": 0.0, "length[raw]": 0.0, "length[upper]": 0.0},
    ]
    assert scored[2].execution == {"length[raw]": "checked", "length[raw].reason": "length 4",
                                   "length[upper]": "checked", "length[upper].reason": "length 4"}
    assert scored[0].extracted == {"raw": "AB", "upper": "AB"}


def test_an_errored_response_scores_nan_and_is_never_shown_to_the_scorer(tmp_path: Path) -> None:
    task = toy_task(tmp_path)
    calls = importlib.import_module("harness_tasks.toy.scorer").CALLS
    scored = task.score_many([(sample(), Response(error="replay miss")), (sample(index=1), Response(text="x"))])
    assert all(math.isnan(value) for value in scored[0].scores.values()) and len(scored[0].scores) == 3
    assert calls == [["x"], ["X"]]


def test_a_registered_batch_scorer_is_used_as_it_is(tmp_path: Path) -> None:
    class Constant(BatchScorer):
        batch_size = 7

        def score_batch(self, items: Sequence[ScoreItem], **options: Any) -> list[Outcome]:
            return [Outcome(float(options["value"])) for _ in items]

    SCORERS.register("constant_for_protocol_test", Constant())
    task = toy_task(tmp_path, TASK_YAML.replace("scorer: exact_match,", "scorer: constant_for_protocol_test,")
                    .replace("{ignore_case: true}", "{value: 0.25}"))
    [scored] = task.score_many([(sample(), Response(text="ab"))])
    assert scored.scores["exact_match[raw]"] == 0.25
    assert task.score_batch_size() == 200  # the largest any of the task's scorers declares


class TracingOutcomes(BatchScorer):
    """Counts what it is shown; declares that it runs programs when asked to."""

    def __init__(self, runs_programs: bool) -> None:
        self.runs_programs = runs_programs
        self.seen: list[str] = []

    def score_batch(self, items: Sequence[ScoreItem], **options: Any) -> list[Outcome]:
        self.seen += [item.answer for item in items]
        return [Outcome(float(item.answer == item.sample.target)) for item in items]


def test_trace_candidates_are_scored_only_by_scorers_that_run_no_program(tmp_path: Path) -> None:
    text_scorer, program_scorer = TracingOutcomes(False), TracingOutcomes(True)
    SCORERS.register("text_for_protocol_test", text_scorer)
    SCORERS.register("program_for_protocol_test", program_scorer)
    task = toy_task(tmp_path, TASK_YAML.replace("scorer: exact_match,", "scorer: text_for_protocol_test,")
                    .replace('scorer: "python:length_check", extraction: [raw, upper]',
                             "scorer: program_for_protocol_test, extraction: [raw]"))
    trace = {"candidates": [{"text": "ab"}, {"text": "zz"}], "majority": 1}
    [scored] = task.score_many([(sample(), Response(text="ab", trace=trace))])
    assert text_scorer.seen == ["ab", "ab", "zz"] and program_scorer.seen == ["ab"]
    assert [candidate["scores"] for candidate in json.loads(scored.trace or "")["candidates"]] == [
        {"exact_match[raw]": 1.0}, {"exact_match[raw]": 0.0}]
    assert (scored.scores["exact_match[raw]:any"], scored.scores["exact_match[raw]:majority"]) == (1.0, 0.0)


class FakeSandbox:
    def run(self, programs: Sequence[Program]) -> list[Execution]:
        return [Execution(status="passed" if "ok" in program.source else "sandbox_error", exit_code=0,
                          duration_s=0.0, reason="ran") for program in programs]

    def close(self) -> None:
        pass


def test_execution_follows_the_protocol_with_status_and_reason() -> None:
    def program(answer: str, data: Any, args: Any) -> tuple[str, str] | str:
        return "copied the input" if answer == "copy" else ("py", answer)

    scorer = ExecutionScorer(program, FakeSandbox)
    assert (scorer.aggregation, scorer.batch_size, scorer.runs_programs) == ("pass@k", 1024, True)
    outcomes = scorer.score_batch([item("ok"), item("copy"), item("boom")])
    assert outcomes[:2] == [Outcome(1.0, "passed", "ran"), Outcome(0.0, "guard", "copied the input")]
    assert math.isnan(outcomes[2].value or 0.0) and outcomes[2].status == "sandbox_error"


def test_a_pass_at_k_scorer_needs_a_metric_named_pass_at_1(tmp_path: Path) -> None:
    class Verdicts(TracingOutcomes):
        aggregation = "pass@k"

    SCORERS.register("verdicts_for_protocol_test", Verdicts(True))
    with pytest.raises(UsageError, match="name the metric pass@1"):
        toy_task(tmp_path, TASK_YAML.replace("scorer: exact_match,", "scorer: verdicts_for_protocol_test,"))


def test_a_metric_named_pass_at_1_needs_a_pass_at_k_scorer(tmp_path: Path) -> None:
    """The aggregation derives pass@k from the name: a mean scorer under that name is refused."""
    with pytest.raises(UsageError, match="declares aggregation 'mean'.*give the metric another name"):
        toy_task(tmp_path, TASK_YAML.replace("{name: exact_match, scorer: exact_match,", "{name: pass@1, scorer: exact_match,"))


def test_malformed_scorers_are_named_with_the_fix() -> None:
    class NoDeclarations:
        def score_batch(self, items: Sequence[ScoreItem], **options: Any) -> list[Outcome]:
            return []

    with pytest.raises(UsageError, match="register or name an instance"):
        as_scorer(TracingOutcomes, "tracing")
    with pytest.raises(UsageError, match="subclass harness.scoring.protocol.BatchScorer"):
        as_scorer(NoDeclarations(), "bare")
    bad = TracingOutcomes(False)
    bad.aggregation = "median"
    with pytest.raises(UsageError, match="aggregation 'median'"):
        as_scorer(bad, "median")


def test_a_scorer_returning_too_few_outcomes_is_named(tmp_path: Path) -> None:
    class Short(BatchScorer):
        def score_batch(self, items: Sequence[ScoreItem], **options: Any) -> list[Outcome]:
            return []

    SCORERS.register("short_for_protocol_test", Short())
    task = toy_task(tmp_path, TASK_YAML.replace("scorer: exact_match,", "scorer: short_for_protocol_test,"))
    with pytest.raises(RuntimeError, match="'short_for_protocol_test'.*returned 0 outcomes for 1"):
        task.score_many([(sample(), Response(text="ab"))])
