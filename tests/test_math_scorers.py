"""The four MATH scorers: verdicts on hand-written pairs, parity with the official code, oracles.

Official implementations compared here: lm-eval's `hendrycks_math` and `minerva_math` utils
(installed with the dev extra) and, when `PRM800K_GRADING_SRC` names a folder holding openai/prm800k's
`grading/` package (not on PyPI), its `grade_answer`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.errors import UsageError
from harness.registry import SCORERS
from harness.scoring.boxed import last_boxed_content
from harness.scoring.math_equivalence import math_verify_match
from harness.scoring.math_hendrycks import hendrycks_match
from harness.scoring.math_minerva import is_equiv, minerva_match, normalize_final_answer
from harness.scoring.math_prm800k import prm800k_match
from harness.scoring.time_limit import call_with_time_limit
from harness.tasks.extraction import FALLBACK, Extractor
from harness.types import Sample
from tests.math_answer_pairs import PAIRS, AnswerPair

MATH_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "math"


def sample(target: str) -> Sample:
    return Sample(id="0", subset="math", index=0, data={}, target=target)


def as_response(answer: str) -> str:
    """What a model writes; math-verify reads the whole response, the others an extracted answer."""
    return f"The answer is $\\boxed{{{answer}}}$"


SCORER_CALLS: dict[str, Callable[[str, str], float]] = {
    "hendrycks": lambda answer, gold: hendrycks_match(answer, sample(gold)),
    "minerva": lambda answer, gold: minerva_match(answer, sample(gold)),
    "prm800k": lambda answer, gold: prm800k_match(answer, sample(gold)),
    "math_verify": lambda answer, gold: math_verify_match(as_response(answer), sample(gold), gold_boxed=True),
}


def mismatches(verdict: Callable[[AnswerPair], float], expected: Callable[[AnswerPair], int]) -> list[str]:
    return [f"{row.gold!r} vs {row.prediction!r}: got {verdict(row)}, expected {expected(row)}"
            for row in PAIRS if verdict(row) != expected(row)]


def test_table_has_at_least_sixty_hand_written_pairs() -> None:
    assert len(PAIRS) >= 60
    assert len({(row.gold, row.prediction) for row in PAIRS}) == len(PAIRS)


@pytest.mark.parametrize("scorer", sorted(SCORER_CALLS))
def test_scorer_gives_the_table_verdicts(scorer: str) -> None:
    call = SCORER_CALLS[scorer]
    assert mismatches(lambda row: call(row.prediction, row.gold), lambda row: getattr(row, scorer)) == []


@pytest.mark.parametrize("name", ["hendrycks", "minerva", "prm800k"])
def test_scorers_are_registered(name: str) -> None:
    assert SCORERS.get(name)(r"\frac12", sample(r"\frac{1}{2}")) == 1.0


# ---- parity with the official implementations -------------------------------------------------


def lm_eval_task_utils(task: str) -> Any:
    """lm-eval's `tasks/<task>/utils.py`, loaded on its own: importing `lm_eval.tasks` costs seconds."""
    found = importlib.util.find_spec("lm_eval")
    if found is None or not found.submodule_search_locations:
        pytest.skip("lm-eval (a dev dependency) is not installed")
    path = Path(found.submodule_search_locations[0]) / "tasks" / task / "utils.py"
    module_spec = importlib.util.spec_from_file_location(f"lm_eval_{task}_utils", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except (ImportError, AssertionError) as error:  # minerva_math asserts its antlr version
        pytest.skip(f"lm-eval's {task} utils cannot be loaded: {error}")
    return module


def test_hendrycks_equals_lm_eval_copy_except_where_that_copy_departs_from_the_original() -> None:
    official = lm_eval_task_utils("hendrycks_math")
    expected = {(row.gold, row.prediction): row.hendrycks if row.lm_eval_hendrycks is None else row.lm_eval_hendrycks
                for row in PAIRS}
    assert mismatches(lambda row: float(official.is_equiv(row.prediction, row.gold)),
                      lambda row: expected[(row.gold, row.prediction)]) == []


def test_minerva_equals_lm_eval_minerva_math() -> None:
    official = lm_eval_task_utils("minerva_math")
    if version("lm_eval") != "0.4.13":
        pytest.skip(f"our default reproduces lm-eval 0.4.13's minerva_math; lm-eval {version('lm_eval')} is installed")

    def theirs(row: AnswerPair) -> float:
        answer, gold = (official.normalize_final_answer(text) for text in (row.prediction, row.gold))
        return float(official.is_equiv(answer, gold))

    assert mismatches(lambda row: minerva_match(row.prediction, sample(row.gold)), theirs) == []


def test_prm800k_equals_official_grader() -> None:
    source = os.environ.get("PRM800K_GRADING_SRC")
    if not source:
        pytest.skip("openai/prm800k is not on PyPI: set PRM800K_GRADING_SRC to a folder holding its grading/ package")
    sys.path.insert(0, source)
    try:
        official = importlib.import_module("grading.grader")
    finally:
        sys.path.remove(source)
    assert mismatches(lambda row: prm800k_match(row.prediction, sample(row.gold)),
                      lambda row: float(official.grade_answer(row.prediction, row.gold))) == []


def test_math_verify_gets_the_boxed_gold_first() -> None:
    from math_verify import parse, verify

    def theirs(row: AnswerPair) -> int:
        return int(verify(parse(f"$\\boxed{{{row.gold}}}$"), parse(as_response(row.prediction))))

    assert mismatches(lambda row: math_verify_match(as_response(row.prediction), sample(row.gold), gold_boxed=True),
                      theirs) == []


# ---- scorer options --------------------------------------------------------------------------


def test_math_verify_without_gold_boxed_keeps_plain_targets_working() -> None:
    assert math_verify_match("The answer is 42.", sample("42")) == 1.0
    assert math_verify_match(as_response(r"\pi"), sample(r"\pi")) == 0.0  # bare LaTeX gold: not found
    assert math_verify_match(as_response(r"\pi"), sample(r"\pi"), gold_boxed=True) == 1.0


def test_minerva_without_string_shortcut_rejects_an_identical_tuple() -> None:
    assert minerva_match("(1,2)", sample("(1,2)")) == 1.0
    assert minerva_match("(1,2)", sample("(1,2)"), string_shortcut=False) == 0.0
    assert minerva_match(r"\frac{1}{2}", sample("0.5"), string_shortcut=False) == 1.0


def test_minerva_legacy_normalization_is_appendix_d_verbatim() -> None:
    assert normalize_final_answer(r"\left(1,2\right)", legacy=True) == r"\le(1,2\right)"
    assert normalize_final_answer(r"\left(1,2\right)") == r"\left(1,2\right)"
    assert normalize_final_answer("0,1", legacy=True) == "01"
    assert normalize_final_answer("0,1") == "0,1"
    assert normalize_final_answer(r"\sqrt[3]{8}") == r"\sqrt[3]{8}"
    assert normalize_final_answer("1,000,000", legacy=True) == normalize_final_answer("1,000,000") == "1000000"


def test_time_limit_stops_waiting_in_the_main_thread_and_in_a_worker() -> None:
    def slow() -> str:
        time.sleep(2)
        return "done"

    outcomes: list[str] = []

    def attempt() -> None:
        started = time.monotonic()
        try:
            call_with_time_limit(slow, 0.2)
        except TimeoutError:
            outcomes.append(f"timeout after {time.monotonic() - started:.1f}s")

    attempt()
    worker = threading.Thread(target=attempt)
    worker.start()
    worker.join()
    assert outcomes == ["timeout after 0.2s", "timeout after 0.2s"]
    assert call_with_time_limit(lambda: 7, 1) == 7


def test_time_limit_restores_an_outer_alarm() -> None:
    import signal

    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        call_with_time_limit(lambda: None, 5)
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.5
        time.sleep(0.7)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("scorer", [minerva_match, prm800k_match])
def test_a_non_positive_time_limit_is_a_usage_error_not_a_wrong_answer(scorer: Callable[..., float]) -> None:
    with pytest.raises(UsageError, match="timeout_seconds"):
        scorer("2x", sample("x+x"), timeout_seconds=0)


def test_minerva_scores_the_same_outside_the_main_thread() -> None:
    verdicts: list[bool] = []
    worker = threading.Thread(target=lambda: verdicts.extend([is_equiv(r"\frac{1}{2}", "0.5"), is_equiv("2", "3")]))
    worker.start()
    worker.join()
    assert verdicts == [True, False]


# ---- extraction steps ------------------------------------------------------------------------

BOXED_CASES = [
    (r"so $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
    (r"first \boxed{1}, then \boxed{\left\{ x^{2} \right\}} done", r"\left\{ x^{2} \right\}"),
    (r"$\boxed 5$ is it", "5"),
    (r"\fbox{42}", "42"),
    (r"\boxed{3} but \fbox{4}", "3"),
    ("no box here", FALLBACK),
    (r"unclosed \boxed{1", FALLBACK),
]


@pytest.mark.parametrize(("text", "expected"), BOXED_CASES)
def test_last_boxed_step(text: str, expected: str) -> None:
    assert Extractor({"boxed": ["last_boxed"]}, {}).extract(text)["boxed"] == expected


def test_last_boxed_step_matches_lm_eval_where_lm_eval_can_unwrap() -> None:
    official = lm_eval_task_utils("hendrycks_math")
    for text, expected in BOXED_CASES:
        boxed = official.last_boxed_only_string(text)
        if boxed is not None and not boxed.startswith("\\fbox"):
            assert official.remove_boxed(boxed) == expected, text


MINERVA_RESPONSES = [
    "So x=2.\nFinal Answer: The final answer is $2$. I hope it is correct.",
    "Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.\n\nProblem:",
    "Final Answer: The final answer is $5$. ",  # cut off: the appended sentence completes it
    "Final Answer: The final answer is $5$.",  # cut off without the space: no match
    "Final Answer: The final answer is\n$7$. I hope it is correct.",  # `.` does not cross lines
    "The answer is 3.",
]


def test_minerva_answer_step() -> None:
    extract = Extractor({"minerva": ["minerva_answer"]}, {}).extract
    assert [extract(text)["minerva"] for text in MINERVA_RESPONSES] == [
        "$2$", "$\\frac{1}{2}$", "$5$", FALLBACK, FALLBACK, FALLBACK]


def test_minerva_answer_step_equals_lm_eval_get_unnormalized_answer() -> None:
    official = lm_eval_task_utils("minerva_math")
    extract = Extractor({"minerva": ["minerva_answer"]}, {}).extract
    for text in MINERVA_RESPONSES:
        theirs = official.get_unnormalized_answer(text)
        assert extract(text)["minerva"] == (FALLBACK if theirs == "[invalidanswer]" else theirs), text


# ---- oracle: every gold answer scores 1.0 against itself ---------------------------------------


def math_golds(file_name: str) -> list[str]:
    path = MATH_DATA / file_name
    if not path.exists():
        pytest.skip(f"MATH data not found at {path} (see shared/data/math/SOURCE.md)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row["answer"] if "answer" in row else last_boxed_content(row["solution"]) for row in rows]


@pytest.mark.parametrize("scorer", sorted(SCORER_CALLS))
def test_math500_gold_answers_score_one_against_themselves(scorer: str) -> None:
    golds = math_golds("math500_test.jsonl")
    assert len(golds) == 500
    assert [gold for gold in golds if SCORER_CALLS[scorer](gold, gold) != 1.0] == []


@pytest.mark.parametrize("scorer", ["hendrycks", "minerva", "prm800k"])
def test_full_math_gold_answers_score_one_against_themselves(scorer: str) -> None:
    golds = math_golds("math_test.jsonl")
    assert len(golds) == 5000 and None not in golds
    assert [gold for gold in golds if SCORER_CALLS[scorer](gold, gold) != 1.0] == []


@pytest.mark.slow
def test_full_math_gold_answers_score_one_under_math_verify() -> None:
    golds = math_golds("math_test.jsonl")
    assert [gold for gold in golds if SCORER_CALLS["math_verify"](gold, gold) != 1.0] == []
