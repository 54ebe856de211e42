"""Per-sample credit of a reward model's candidate scores (the correct candidates listed first)."""

from __future__ import annotations

import math

import pytest

from harness.errors import UsageError
from harness.scoring.reward import reward_accuracy
from harness.types import Sample


def credit(scores, correct: int = 1, ties: str = "loss", candidates: int | None = None) -> float:
    sample = Sample(id="s", subset="x", index=0, data={}, target=str(correct))
    return reward_accuracy(scores, sample, candidates or len(scores), ties=ties)


@pytest.mark.parametrize("scores, ties, expected", [
    ((2.0, 1.0), "loss", 1.0), ((1.0, 1.0), "loss", 0.0), ((0.0, 1.0), "loss", 0.0),
    ((3.0, 1.0, 2.0, 0.0), "split", 1.0), ((3.0, 3.0, 2.0, 0.0), "split", 0.5),
    ((1.0, 1.0, 1.0, 1.0), "split", 0.25), ((2.0, 3.0, 0.0, 0.0), "split", 0.0),
])
def test_one_correct_candidate_follows_the_official_rules(scores, ties, expected) -> None:
    assert credit(scores, ties=ties) == expected


def test_several_correct_candidates_extend_the_rules() -> None:
    assert credit((5.0, 4.0, 3.0, 1.0), correct=3, ties="loss") == 1.0
    assert credit((5.0, 1.0, 3.0, 2.0), correct=3, ties="loss") == 0.0  # one correct below a wrong one
    assert credit((5.0, 5.0, 3.0, 1.0), correct=2, ties="split") == 1.0  # tied at the top, both correct
    assert credit((5.0, 1.0, 5.0, 1.0), correct=2, ties="split") == 0.5


def test_no_verdict_earns_a_blind_guess_and_nan_scores_stay_unscored() -> None:
    assert credit(None, candidates=2) == 0.5 and credit(None, candidates=4) == 0.25
    assert credit(None, correct=2, candidates=5) == 0.4
    assert math.isnan(credit((math.nan, 1.0)))


def test_a_target_that_is_no_count_of_correct_candidates_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="how many of the 2 candidates"):
        credit((1.0, 0.0), correct=2)
    with pytest.raises(UsageError, match="ties='draw'"):
        credit((1.0, 0.0), ties="draw")
