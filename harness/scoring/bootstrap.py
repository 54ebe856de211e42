"""Means with percentile-bootstrap confidence intervals.

Resampling is vectorised with numpy (a 1,319 x 1,000 index matrix takes milliseconds), and the
generator is seeded so the reported interval is reproducible run to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class MetricValue:
    value: float
    n: int
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "n": self.n, "ci_low": self.ci_low, "ci_high": self.ci_high}


def mean_with_ci(values: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> MetricValue:
    """The mean of `values` with a 95% percentile-bootstrap interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values: a metric over zero samples is undefined")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return MetricValue(float(data.mean()), int(data.size), float(low), float(high))
