"""Mathematical equivalence through the `math-verify` package (Hugging Face).

The gold answer is parsed first and passed first, as math-verify's documentation requires:
`verify` is not symmetric.
"""

from __future__ import annotations

from math_verify import parse, verify

from harness.types import Sample


def math_verify_match(extracted: str, sample: Sample, *, timeout_seconds: int = 5) -> float:
    """1.0 when math-verify judges the response's answer equal to the target."""
    gold = parse(sample.target, parsing_timeout=timeout_seconds)
    answer = parse(extracted, parsing_timeout=timeout_seconds)
    return float(verify(gold, answer, timeout_seconds=timeout_seconds))
