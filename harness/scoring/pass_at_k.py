"""pass@k with the unbiased estimator of Chen et al. (2021), as CRUXEval, MultiPL-E and HumanEval report it.

With n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance that at least one of
k samples drawn without replacement passes. Computed in the numerically stable product form.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with `n` samples, `c` of them correct."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def per_problem_pass_at_k(scores: Iterable[tuple[str, float]], k: int) -> list[float]:
    """pass@k per problem from (problem id, 0/1 score) pairs; unscored (NaN) attempts are left out."""
    outcomes: dict[str, list[float]] = defaultdict(list)
    for problem, score in scores:
        if not math.isnan(score):
            outcomes[problem].append(score)
    return [pass_at_k(len(values), int(sum(values)), k) for values in outcomes.values() if len(values) >= k]
