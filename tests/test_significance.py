"""Paired tests for run comparison: McNemar against hand-computed binomial tails, the paired bootstrap, Holm."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report.significance import adjust, holm, is_binary, mcnemar_exact, paired_bootstrap


def pairs(worse: int, better: int, same_right: int = 20, same_wrong: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Base and new 0/1 scores with the given discordant counts."""
    base = [1] * worse + [0] * better + [1] * same_right + [0] * same_wrong
    new = [0] * worse + [1] * better + [1] * same_right + [0] * same_wrong
    return np.array(base, float), np.array(new, float)


@pytest.mark.parametrize(("worse", "better", "expected"), [
    (3, 1, 2 * (1 + 4) / 2**4),            # n=4: 2 * P(X <= 1) = 10/16
    (5, 0, 2 / 2**5),                      # all discordant pairs one way: 2 * 0.5^5
    (7, 2, 2 * (1 + 9 + 36) / 2**9),       # n=9: 2 * (C(9,0) + C(9,1) + C(9,2)) / 512
    (2, 1, 1.0),                           # n=3: 2 * (1 + 3) / 8 = 1, capped at 1
    (12, 0, 2 / 2**12),                    # 3% of 400 answers broken, none fixed
])
def test_mcnemar_matches_hand_computed_binomial_tails(worse: int, better: int, expected: float) -> None:
    result = mcnemar_exact(*pairs(worse, better))
    assert (result.worse, result.better) == (worse, better)
    assert result.p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_without_discordant_pairs_is_p_one() -> None:
    assert mcnemar_exact(*pairs(0, 0)).p_value == 1.0


def test_mcnemar_refuses_scores_that_are_not_binary() -> None:
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact([0.5, 1.0], [1.0, 1.0])
    assert is_binary(np.array([0.0, 1.0]), np.array([1.0])) and not is_binary(np.array([0.5]))


def test_bootstrap_of_identical_runs_has_delta_zero_and_p_one() -> None:
    scores = np.random.default_rng(3).random(500)
    result = paired_bootstrap(scores, scores)
    assert (result.delta, result.ci_low, result.ci_high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_bootstrap_of_binary_scores_detects_a_large_shift() -> None:
    base, new = pairs(worse=40, better=2, same_right=300, same_wrong=58)
    result = paired_bootstrap(base, new, resamples=5000)
    assert result.delta == pytest.approx(-38 / 400)
    assert result.ci_low < result.delta < result.ci_high < 0
    assert result.p_value == pytest.approx(1 / 5001)


def test_bootstrap_of_continuous_scores_separates_shift_from_noise() -> None:
    rng = np.random.default_rng(7)
    base = rng.random(300)
    shifted = paired_bootstrap(base, base - 0.05 + rng.normal(0, 0.02, 300), resamples=2000)
    noisy = paired_bootstrap(base, base + rng.normal(0, 0.02, 300), resamples=2000)
    assert shifted.p_value < 0.001 and shifted.ci_high < 0
    assert noisy.p_value > 0.05 and noisy.ci_low < 0 < noisy.ci_high


def test_bootstrap_is_reproducible_for_a_seed() -> None:
    base, new = pairs(worse=6, better=3)
    assert paired_bootstrap(base, new, seed=5) == paired_bootstrap(base, new, seed=5)


def test_holm_on_a_hand_example() -> None:
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # 0.5 * 2 caps at 1; the larger p cannot be adjusted below it
    assert holm([]) == []


def test_adjust_none_keeps_p_values_and_rejects_unknown_corrections() -> None:
    assert adjust([0.01, 0.2], "none") == [0.01, 0.2]
    with pytest.raises(ValueError, match="holm, none"):
        adjust([0.01], "bonferroni")
