"""MATH's own answer check (Hendrycks et al., 2021): normalise both strings, then compare them.

This reproduces `is_equiv` of hendrycks/math `modeling/math_equivalence.py`. We do not call
lm-eval's copy (`lm_eval.tasks.hendrycks_math.utils`, 0.4.13) because it differs from the
original in two places that change verdicts:

- the original removes every `%` (`string.replace("%", "")`); lm-eval's second replacement is
  `"\\%"` written without a raw string, so it removes `\\%` twice and never a bare `%`;
- the original's `_fix_a_slash_b` catches every exception, so "x/y" is left as it is; lm-eval's
  catches only AssertionError, so `int("x")` escapes, `is_equiv` falls back to comparing the raw
  strings, and "x / y" no longer matches "x/y".

PRM800K's grader starts from a third copy (`math_normalize.py`) that removes only `\\%`; it
calls `strip_string(..., bare_percent=False)`.

Where the original raises (a `\\frac` or `\\sqrt` with nothing after it, two `\\text{ ` unit
markers), `is_equiv` compares the raw strings; `Unnormalisable` marks those places.
"""

from __future__ import annotations

from harness.types import Sample


class Unnormalisable(ValueError):
    """The original normaliser fails here; `is_equiv` then compares the raw strings."""


def _fix_fracs(text: str) -> str:
    """`\\frac12` -> `\\frac{1}{2}`, `\\frac1{72}` -> `\\frac{1}{72}`; braced fractions pass."""
    head, *tails = text.split("\\frac")
    fixed = head
    for tail in tails:
        fixed += "\\frac"
        if not tail:
            raise Unnormalisable("\\frac with nothing after it")
        if tail[0] == "{":
            fixed += tail
        elif len(tail) < 2:
            return text
        elif tail[1] != "{":
            fixed += "{" + tail[0] + "}{" + tail[1] + "}" + tail[2:]
        else:
            fixed += "{" + tail[0] + "}" + tail[1:]
    return fixed


def _fix_a_slash_b(text: str) -> str:
    """`3/4` -> `\\frac{3}{4}`, only when both sides are plain integers written canonically."""
    parts = text.split("/")
    if len(parts) != 2:
        return text
    try:
        numerator, denominator = int(parts[0]), int(parts[1])
    except ValueError:
        return text
    if text != f"{numerator}/{denominator}":
        return text
    return "\\frac{" + str(numerator) + "}{" + str(denominator) + "}"


def _remove_right_units(text: str) -> str:
    """MATH writes units as `\\text{ cm}` (with a space), so everything from there on goes."""
    if "\\text{ " not in text:
        return text
    parts = text.split("\\text{ ")
    if len(parts) != 2:
        raise Unnormalisable("more than one \\text{ unit marker")
    return parts[0]


def _fix_sqrt(text: str) -> str:
    """`\\sqrt3` -> `\\sqrt{3}` (one character only, as the original)."""
    head, *tails = text.split("\\sqrt")
    fixed = head
    for tail in tails:
        if not tail:
            raise Unnormalisable("\\sqrt with nothing after it")
        fixed += "\\sqrt" + (tail if tail[0] == "{" else "{" + tail[0] + "}" + tail[1:])
    return fixed


def strip_string(text: str, *, bare_percent: bool = True) -> str:
    """The original `_strip_string`, step for step (order matters: units go before spaces)."""
    text = text.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    text = text.replace("tfrac", "frac").replace("dfrac", "frac")
    text = text.replace("\\left", "").replace("\\right", "")
    text = text.replace("^{\\circ}", "").replace("^\\circ", "")
    text = text.replace("\\$", "")
    text = _remove_right_units(text)
    text = text.replace("\\%", "")
    if bare_percent:
        text = text.replace("%", "")
    text = text.replace(" .", " 0.").replace("{.", "{0.")
    if not text:
        return text
    if text[0] == ".":
        text = "0" + text
    sides = text.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        text = sides[1]
    text = _fix_sqrt(text)
    text = text.replace(" ", "")
    text = _fix_fracs(text)
    if text == "0.5":
        text = "\\frac{1}{2}"
    return _fix_a_slash_b(text)


def is_equiv(first: str, second: str) -> bool:
    """Equal after normalisation; equal as raw strings when normalisation fails."""
    try:
        return strip_string(first) == strip_string(second)
    except Unnormalisable:
        return first == second


def hendrycks_match(extracted: str, sample: Sample) -> float:
    """1.0 when MATH's `is_equiv` accepts the extracted answer for the gold one."""
    return float(is_equiv(extracted, sample.target))
