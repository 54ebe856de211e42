"""Mathematical equivalence through the `math-verify` package (Hugging Face).

The gold answer is parsed first and passed first, as math-verify's documentation requires:
`verify` is not symmetric.

MATH gold answers are bare LaTeX (`\\frac{1}{2}`, `(3, \\frac{\\pi}{2})`), which math-verify's
LaTeX extractor only finds inside delimiters, so for them `gold_boxed` parses `$\\boxed{gold}$`.
GSM8K's plain numbers need no wrapping and keep the default.
"""

from __future__ import annotations

from functools import lru_cache

from math_verify import parse, verify

from harness.types import Sample


@lru_cache(maxsize=65536)
def _parse_gold(target: str, timeout_seconds: int, gold_boxed: bool) -> list:
    """Gold answers repeat across attempts and metrics; parsing one costs about a millisecond."""
    if gold_boxed:
        target = f"$\\boxed{{{target}}}$"
    return parse(target, parsing_timeout=timeout_seconds)


def math_verify_match(extracted: str, sample: Sample, *, timeout_seconds: int = 5, gold_boxed: bool = False) -> float:
    """1.0 when math-verify judges the response's answer equal to the target."""
    gold = _parse_gold(sample.target, timeout_seconds, gold_boxed)
    answer = parse(extracted, parsing_timeout=timeout_seconds)
    return float(verify(gold, answer, timeout_seconds=timeout_seconds))
