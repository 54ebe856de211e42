"""Multiple-choice metrics over the options' log-probabilities, as lm-eval 0.4.13 computes them.

`ConfigurableTask.process_results` (output_type multiple_choice) picks `argmax(lls)` for `acc`,
`argmax(lls / len(option))` for `acc_norm` (characters of the option text, without the target
delimiter, despite the name's usual reading) and `argmax(lls / len(option.encode()))` for
`acc_bytes`; with several gold options a pick of any of them counts. TruthfulQA's mc2
(`truthfulqa/utils.py:process_results_mc2`) is the probability mass of the true options after
normalising `exp(lls)` over all options. numpy is used as there, so ties break on the first
option as `np.argmax` does and the numbers are the same floats.

A missing or wrong-length score list is an error of the backend, never a wrong answer; a NaN
log-probability leaves the sample unscored (NaN), never picked by `argmax`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def acc(scores: Sequence[float] | None, gold: Sequence[int], options: Sequence[str]) -> float:
    """1 if the most likely option is a gold one."""
    return _picked(scores, options, np.ones(len(options)), gold)


def acc_norm(scores: Sequence[float] | None, gold: Sequence[int], options: Sequence[str]) -> float:
    """`acc` with each log-probability divided by its option's length in characters."""
    return _picked(scores, options, np.array([float(len(option)) for option in options]), gold)


def acc_bytes(scores: Sequence[float] | None, gold: Sequence[int], options: Sequence[str]) -> float:
    """`acc` with each log-probability divided by its option's length in UTF-8 bytes."""
    return _picked(scores, options, np.array([float(len(option.encode("utf-8"))) for option in options]), gold)


def mc2(scores: Sequence[float] | None, gold: Sequence[int], options: Sequence[str]) -> float:
    """Normalised probability of the true options (TruthfulQA MC2)."""
    values = _checked(scores, options)
    if values is None:
        return math.nan
    probabilities = np.exp(values)
    normalised = probabilities / np.sum(probabilities)
    return float(np.sum(normalised[list(gold)]))


def _picked(scores: Sequence[float] | None, options: Sequence[str], lengths: np.ndarray, gold: Sequence[int]) -> float:
    values = _checked(scores, options)
    if values is None:
        return math.nan
    return float(int(np.argmax(values / lengths)) in gold)


def _checked(scores: Sequence[float] | None, options: Sequence[str]) -> np.ndarray | None:
    """The scores as floats (None when one is NaN), after checking there is one per option."""
    if scores is None or len(scores) != len(options):
        got = "no scores" if scores is None else f"{len(scores)} scores"
        raise ValueError(f"the model returned {got} for {len(options)} options; a loglikelihood answer "
                         "holds one log-probability per option")
    values = np.array(scores, dtype=np.float64)
    return None if np.isnan(values).any() else values
