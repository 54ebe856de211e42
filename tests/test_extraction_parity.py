"""Extraction and exact match agree with lm-eval's own filter and metric on tricky responses."""

from __future__ import annotations

import pytest

from harness.scoring.exact_match import exact_match
from harness.tasks import Task, load_task
from harness.tasks.extraction import Extractor
from harness.types import Response, Sample

RESPONSES = [
    "#### 42", "The answer is 42.", "#### 1,000\nQuestion: more", "It costs $18.50 in total. #### $18.50",
    "no numbers here", "", "-7 and then -8", "#### -3.", "12 apples, 1,234 pears, 5", "The answer is 3.\nThe answer is 4.",
    "<think>#### 1</think>#### 2", "... 3.14159", "2.", "x = 10, so #### 10\n\n#### 11",
]
RULES = {"regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"], "ignore_case": True}


@pytest.mark.parametrize("variant", ["plain", "cot"])
def test_pipelines_match_lm_eval_regex_filter(variant: str) -> None:
    filters = pytest.importorskip("lm_eval.filters.extraction", reason="lm-eval is a dev dependency")
    spec = load_task("gsm8k", variant=variant)
    ours = Extractor(spec.extraction, {})
    for name in ("strict-match", "flexible-extract"):
        regex = spec.extraction[name][0]["regex"]
        theirs = filters.RegexFilter(regex_pattern=regex["pattern"], group_select=regex.get("group_select", 0))
        expected = [row[0] for row in theirs.apply([[text] for text in RESPONSES], [{}] * len(RESPONSES))]
        assert [ours.extract(text)[name] for text in RESPONSES] == expected


def test_exact_match_equals_lm_eval_metric() -> None:
    metrics = pytest.importorskip("lm_eval.api.metrics", reason="lm-eval is a dev dependency")
    predictions = ["42", "$1,000", "18.50", "[invalid]", "-3.", "1000", "ABC", "abc."]
    references = ["42", "1000", "18.5", "7", "-3", "The total\n#### 1,000", "abc", "ABC"]
    for prediction, reference in zip(predictions, references):
        sample = Sample(id="0", subset="s", index=0, data={}, target=reference)
        expected = metrics.exact_match_hf_evaluate([prediction], [reference], **RULES)["exact_match"]
        assert exact_match(prediction, sample, **RULES) == expected, (prediction, reference)


def test_unfinished_thinking_block_yields_no_answer() -> None:
    extractor = Extractor({"final": ["strip_thinking", {"regex": {"pattern": "#### (\\d+)"}}]}, {})
    assert extractor.extract("<think>#### 1</think>#### 2")["final"] == "2"
    assert extractor.extract("<think>#### 1 and still thinking")["final"] == "[invalid]"


def test_errored_response_is_unscored_not_zero() -> None:
    task = Task(load_task("gsm8k"), {}, None)
    sample = Sample(id="0", subset="main", index=0, data={}, target="4")
    [scored] = task.score_many([(sample, Response(error="replay miss"))])
    assert scored.scores and all(value != value for value in scored.scores.values())  # NaN marks unscored
