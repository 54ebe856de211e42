"""Per-sample scoring of a reward model's candidate scores, as RewardBench's own code scores them.

The first candidate is the correct one (the task lists it first).
- v1 (`ties: loss`): 1 if it scores strictly above every other, else 0; a tie is a loss
  (`scripts/run_rm.py`: `1 if chosen > rejected else 0`).
- v2 (`ties: split`): `1/#(scores == max)` when it reaches the maximum, else 0
  (`rewardbench/utils.py:reroll_and_score_dataset`).
A judge that gave no parseable verdict (`scores is None`) gets the credit of a blind guess, 1/n:
0.5 for a pair (`run_generative.py` scores an error 0.5) and 0.25 for four (`run_generative_v2.py`).
"""

from __future__ import annotations

import math
from typing import Sequence

from harness.errors import UsageError
from harness.types import Sample

TIE_RULES = ("loss", "split")


def reward_accuracy(scores: Sequence[float] | None, sample: Sample, candidates: int, ties: str = "loss") -> float:
    """Credit for one sample: did the model put the correct (first) of `candidates` on top?"""
    if ties not in TIE_RULES:
        raise UsageError(f"reward_accuracy option ties={ties!r}: use loss (RewardBench v1) or split (v2)")
    if scores is None:
        return 1.0 / candidates
    if len(scores) != candidates:
        raise ValueError(f"sample {sample.id!r}: the model returned {len(scores)} scores for {candidates} candidates")
    if any(math.isnan(value) for value in scores):
        return math.nan
    best = max(scores)
    if ties == "loss":
        return float(scores[0] > max(scores[1:]))
    return 1.0 / sum(value == best for value in scores) if scores[0] == best else 0.0
