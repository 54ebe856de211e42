"""Mathematical equivalence through the `math-verify` package (Hugging Face).

The gold answer is parsed first and passed first, as math-verify's documentation requires:
`verify` is not symmetric.
"""

from __future__ import annotations

from functools import lru_cache

from math_verify import parse, verify

from harness.types import Sample


@lru_cache(maxsize=65536)
def _parse_gold(target: str, timeout_seconds: int) -> list:
    """Gold answers repeat across attempts and metrics; parsing one costs about a millisecond."""
    return parse(target, parsing_timeout=timeout_seconds)


def math_verify_match(extracted: str, sample: Sample, *, timeout_seconds: int = 5) -> float:
    """1.0 when math-verify judges the response's answer equal to the target."""
    gold = _parse_gold(sample.target, timeout_seconds)
    answer = parse(extracted, parsing_timeout=timeout_seconds)
    return float(verify(gold, answer, timeout_seconds=timeout_seconds))
