"""The PRM800K answer grader (Lightman et al., 2023): how MATH-500 results were first graded.

This follows `grade_answer(given_answer, ground_truth)` of openai/prm800k
(`prm800k/grading/grader.py` with `math_normalize.py`, MIT), which is not on PyPI. The grader is
deliberately conservative, and we keep every rule that makes it so:

1. equal after MATH's normaliser (prm800k's copy, which removes `\\%` but not a bare `%`);
2. equal after its own normaliser (`_normalize`: LaTeX to text with pylatexenc, units and
   `\\text{}` dropped, lower case, integers canonical);
3. otherwise tuples and intervals are split (the brackets must match), and element by element:
   two fractions `a/b` must be identical (an unreduced fraction is wrong), an integer must meet
   an integer, and anything else must make sympy simplify the difference to 0, unless the
   expression has more than two letters, `^{`, `^(` or a multi-digit or repeated exponent.

One deviation: the official code calls `sympy.simplify` with no time limit (those string rules
are its only guard against a hang). We stop sympy after `timeout_seconds` (default 5 s, the
Minerva check's limit) and grade that element wrong; `timeout_seconds=None` removes the limit.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sympy
from pylatexenc.latex2text import LatexNodes2Text
from sympy.parsing import sympy_parser

from harness.errors import UsageError
from harness.scoring.math_hendrycks import Unnormalisable, strip_string
from harness.scoring.time_limit import call_with_time_limit
from harness.types import Sample

_ENCLOSING_TEXT = re.compile(r"^\\text\{(?P<text>.+?)\}$")
_UNITS = ("degree", "cm", "centimeter", "meter", "mile", "second", "minute", "hour", "day", "week",
          "month", "year", "foot", "feet", "inch", "yard")
_LATEX_SYMBOLS = {"√": "sqrt", "π": "pi", "∞": "inf", "∪": "U", "·": "*", "×": "*"}
_HANG_SUBSTRINGS = ("^{", "^(")
_HANG_PATTERNS = (re.compile(r"\^[0-9]+\^"), re.compile(r"\^[0-9][0-9]+"))
_BRACKETS = "()[]"
_THOUSANDS_COMMA = re.compile(r"(\d)(,)(\d\d\d)($|\D)")
_FRACTION = re.compile(r"^-?[0-9]+.?/0*[1-9][0-9]*.?$")


def mathd_normalize(answer: str) -> str:
    """`math_normalize.normalize_answer`: unwrap `\\text{...}`, then MATH's normaliser."""
    answer = answer.strip()
    match = _ENCLOSING_TEXT.search(answer)
    if match is not None:
        answer = match.group("text").strip()
    try:
        return strip_string(answer, bare_percent=False)
    except Unnormalisable:  # where MATH's normaliser gives up, the official keeps the answer as is
        return answer


@lru_cache(maxsize=1)
def _latex_converter() -> LatexNodes2Text:
    return LatexNodes2Text()


def _latex_to_text(expression: str) -> str:
    """LaTeX to a sympy-readable string; `\\frac` gets a space so `7\\frac34` reads `7 3/4`."""
    expression = expression.replace("\\tfrac", "\\frac").replace("\\dfrac", "\\frac")
    expression = _latex_converter().latex_to_text(expression.replace("\\frac", " \\frac"))
    for symbol, name in _LATEX_SYMBOLS.items():
        expression = expression.replace(symbol, name)
    return expression.strip()


def _strip_thousands_commas(expression: str) -> str:
    """`1,234,567` -> `1234567`, leaving tuple commas (`1,2`) alone."""
    while True:
        stripped = _THOUSANDS_COMMA.sub("\\1\\3\\4", expression)
        if stripped == expression:
            return stripped
        expression = stripped


def _is_integral(text: str, *, strip_commas: bool = True) -> bool:
    """`text` reads as a float within 1e-7 of an integer (after dropping thousands commas)."""
    try:
        number = float(_strip_thousands_commas(text) if strip_commas else text)
        return abs(number - int(round(number))) <= 1e-7
    except (ValueError, OverflowError):  # not a number, or inf / nan
        return False


def _drop_words_and_units(expression: str) -> str:
    """The first half of `_normalize`: `\\text{}`, `$`, `%`, "and"/"or", big-number words, units."""
    match = _ENCLOSING_TEXT.search(expression)
    if match is not None:
        expression = match.group("text")
    expression = expression.replace("\\%", "%").replace("\\$", "$").replace("$", "").replace("%", "")
    expression = expression.replace(" or ", " , ").replace(" and ", " , ")
    expression = expression.replace("million", "*10^6").replace("billion", "*10^9")
    expression = expression.replace("trillion", "*10^12")
    for unit in _UNITS:
        expression = re.sub(f"{unit}(es)?(s)? *(\\^[0-9]+)?", "", expression)
    expression = re.sub(r"\^ *\\circ", "", expression)
    if expression and expression[0] == "{" and expression[-1] == "}":
        expression = expression[1:-1]
    return re.sub(r",\\! *", "", expression)


def _normalize(expression: str) -> str:
    """The grader's own `_normalize`: words, units and LaTeX out; a canonical, lower-case string."""
    expression = _drop_words_and_units(expression)
    if _is_integral(expression, strip_commas=False):
        expression = str(int(round(float(expression))))
    if "\\" in expression:
        try:
            expression = _latex_to_text(expression)
        except Exception:  # the official keeps the LaTeX when pylatexenc fails
            pass
    expression = re.sub("- *", "-", expression)
    expression = re.sub("([0-9]) +([0-9])", "\\1+\\2", expression)  # mixed number: 7 3/4 = 7+3/4
    expression = expression.replace(" ", "").replace("{", "").replace("}", "").lower()
    if _is_integral(expression):
        expression = str(int(float(expression.replace(",", ""))))
    return expression


def _may_call_sympy(expression: str) -> bool:
    """The official hang guard: at most two unknown letters and no risky exponent."""
    letters = {char for char in expression.replace("sqrt", "").replace("frac", "") if char.isalpha()}
    if len(letters) > 2 or any(bad in expression for bad in _HANG_SUBSTRINGS):
        return False
    return not any(pattern.search(expression) for pattern in _HANG_PATTERNS)


def _sympy_difference_is_zero(expression: str) -> bool:
    transformations = sympy_parser.standard_transformations + (sympy_parser.implicit_multiplication_application,)
    difference = sympy_parser.parse_expr(expression.replace("^", "**"), transformations=transformations)
    return sympy.simplify(difference) == 0


def _equal_under_sympy(gold: str, given: str, timeout_seconds: float | None) -> bool:
    expression = f"({gold})-({given})"
    if not _may_call_sympy(expression):
        return False
    try:
        return bool(call_with_time_limit(lambda: _sympy_difference_is_zero(expression), timeout_seconds))
    except UsageError:
        raise
    except Exception:  # unparsable, or too slow: the official grades both wrong
        return False


def _split_tuple(expression: str) -> list[str]:
    """Elements of `(a,b)` or `[a,b)`; anything else, including nested brackets, is one element."""
    expression = _strip_thousands_commas(expression)
    if not expression:
        return []
    inner = expression[1:-1]
    if (len(expression) > 2 and expression[0] in _BRACKETS and expression[-1] in _BRACKETS
            and not any(bracket in inner for bracket in _BRACKETS)):
        return [element.strip() for element in inner.split(",")]
    return [expression]


def _elements_equal(gold: str, given: str, timeout_seconds: float | None) -> bool:
    if _FRACTION.search(gold) and _FRACTION.search(given):
        return gold == given  # unreduced fractions stay wrong: no sympy here
    if _is_integral(gold) != _is_integral(given):
        return False
    return _equal_under_sympy(gold, given, timeout_seconds)


def grade_answer(given: str, gold: str, *, timeout_seconds: float | None = 5) -> bool:
    """PRM800K's verdict on `given` against the gold answer `gold`."""
    if mathd_normalize(gold) == mathd_normalize(given):
        return True
    gold_normalized, given_normalized = _normalize(gold), _normalize(given)
    if gold_normalized == given_normalized:
        return True
    if not given_normalized:
        return False
    gold_elements, given_elements = _split_tuple(gold_normalized), _split_tuple(given_normalized)
    if len(gold_elements) > 1 and (gold_normalized[0] != given_normalized[0]
                                   or gold_normalized[-1] != given_normalized[-1]):
        return False
    if len(gold_elements) != len(given_elements):
        return False
    return all(_elements_equal(gold_element, given_element, timeout_seconds)
               for gold_element, given_element in zip(gold_elements, given_elements))


def prm800k_match(extracted: str, sample: Sample, *, timeout_seconds: float | None = 5) -> float:
    """1.0 when PRM800K's grader accepts the extracted answer for the gold one."""
    return float(grade_answer(extracted, sample.target, timeout_seconds=timeout_seconds))
