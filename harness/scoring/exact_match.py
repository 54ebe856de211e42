"""Exact match with lm-eval's normalisation options, so GSM8K numbers equal lm-eval's."""

from __future__ import annotations

import re
import string
from typing import Sequence

from harness.types import Sample


def normalise(text: str, regexes_to_ignore: Sequence[str], ignore_case: bool, ignore_punctuation: bool) -> str:
    """Apply lm-eval's `exact_match_hf_evaluate` rules in its order: regexes, case, punctuation."""
    for pattern in regexes_to_ignore:
        text = re.sub(pattern, "", text)
    if ignore_case:
        text = text.lower()
    if ignore_punctuation:
        text = text.translate(str.maketrans("", "", string.punctuation))
    return text


def exact_match(
    extracted: str,
    sample: Sample,
    *,
    regexes_to_ignore: Sequence[str] = (),
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
) -> float:
    """1.0 when the normalised extraction equals the normalised target."""
    options = (regexes_to_ignore, ignore_case, ignore_punctuation)
    return float(normalise(extracted, *options) == normalise(sample.target, *options))
