"""Minerva's MATH answer check (Lewkowycz et al., 2022) as lm-eval's `minerva_math` tasks run it.

Both answers go through `normalize_final_answer` (appendix D of the paper), then sympy parses
them with `parse_latex` and they are equal when `simplify(a - b) == 0`, within 5 seconds; any
failure to parse, subtract or simplify is a wrong answer.

Two versions of lm-eval's `lm_eval/tasks/minerva_math/utils.py` matter, and both can be had:

- lm-eval 0.4.13 (the version this project pins; the default here) fixed the normaliser: unit
  words are removed only as whole words and never inside LaTeX command names (0.4.12 turned
  `\\left` into `\\le` by removing "ft", and `\\sigma` into `\\sia` by removing "gm"), `\\sqrt[3]a`
  keeps its index, only true thousands separators are dropped (0.4.12 fused the tuple "0,1" into
  "01"), and `is_equiv` accepts identical non-empty strings before sympy, because `parse_latex`
  rejects tuples, intervals and matrices and so scored an answer identical to the gold wrong;
- lm-eval 0.4.12 and earlier ran appendix D verbatim with no string shortcut. The Open LLM
  Leaderboard's `leaderboard_math_hard` still does (with its own `strip()` shortcut and a 1 s
  limit). `legacy_normalization=True, string_shortcut=False` reproduces those lm-eval releases.

lm-eval's limit is `signal.alarm`, which fails outside the main thread; `call_with_time_limit`
keeps it there and also works in worker threads. sympy's LaTeX parser is loaded before the clock
starts, so a process's first answer is not judged on import time.

Requires `antlr4-python3-runtime` 4.11.x: sympy's LaTeX parser refuses any other runtime, and we
let that ImportError through rather than score every answer wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sympy import simplify
from sympy.parsing.latex import parse_latex

from harness.errors import UsageError
from harness.scoring.time_limit import call_with_time_limit
from harness.types import Sample

SUBSTITUTIONS = [
    ("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), (r"\ ", ""), (" ", ""), ("mbox", "text"),
    (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"),
]
REMOVED_EXPRESSIONS = [
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units",
    "\\ldots", "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm",
    "pounds", "meters", "meals", "edges", "students", "childrentickets", "multiples",
    "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}",
    r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!", "{,}", '"', "\\dots",
]
_COMMAND_NAME = re.compile(r"(\\[a-zA-Z]+)")


def _remove_unit_words(text: str, legacy: bool) -> str:
    """Drop the unit words and LaTeX noise of REMOVED_EXPRESSIONS (after SUBSTITUTIONS)."""
    for expression in REMOVED_EXPRESSIONS:
        if legacy or not expression.isalpha():
            text = text.replace(expression, "")
            continue
        pieces = _COMMAND_NAME.split(text)  # odd positions are command names: left alone
        pieces[::2] = [piece.replace(expression, "") for piece in pieces[::2]]
        text = "".join(pieces)
    return text


def _unwrap_and_expand(text: str, legacy: bool) -> str:
    """Keep the `$...$` part, unwrap text/bold/box commands, expand `\\frac12` and `\\sqrt2`."""
    text = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", text)
    text = re.sub(r"(\\text\{)(.*?)(\})", "\\2", text)
    text = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", text)
    text = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", text)
    text = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", text)
    text = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", text)
    if legacy:
        text = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", text)
    else:
        text = re.sub(r"(sqrt)(\[[^\]]*\])(\w)", "\\1\\2{\\3}", text)
        text = re.sub(r"(sqrt)(?!\[)([^{])", "sqrt{\\2}", text)
    return text.replace("$", "")


def normalize_final_answer(answer: str, *, legacy: bool = False) -> str:
    """Appendix D's normaliser; `legacy` selects the verbatim text over lm-eval 0.4.13's fixes."""
    answer = answer.split("=")[-1]
    if not legacy:  # whole-word unit removal while spaces still delimit words
        for expression in REMOVED_EXPRESSIONS:
            if expression.isalpha():
                answer = re.sub(rf"(?<!\\)\b{expression}\b", "", answer)
    for before, after in SUBSTITUTIONS:
        answer = answer.replace(before, after)
    answer = _unwrap_and_expand(_remove_unit_words(answer, legacy), legacy)
    if legacy:
        thousands = answer.replace(",", "").isdigit()
    else:
        thousands = re.fullmatch(r"-?\d{1,3}(,\d{3})+", answer) is not None
    return answer.replace(",", "") if thousands else answer


@lru_cache(maxsize=1)
def _load_latex_parser() -> None:
    """sympy loads its ANTLR parser on the first `parse_latex` call, which takes seconds on a busy
    machine: done inside the time limit it would score a process's first answer wrong."""
    parse_latex("1")


@dataclass(frozen=True)
class _ParseFailure:
    error: Exception


@lru_cache(maxsize=65536)
def _parsed(text: str) -> Any:
    """`parse_latex(text)`, or the exception it raised, remembered.

    The gold answer is parsed again for every response and every sampled candidate, and the
    ANTLR parser takes about 50 ms a string; a sympy expression is immutable, so sharing one is
    safe. A TimeoutError (the alarm firing mid-parse) is not remembered.
    """
    try:
        return parse_latex(text)
    except TimeoutError:
        raise
    except Exception as error:  # remembered, and raised again at every use
        return _ParseFailure(error)


def _sympy_equal(first: str, second: str) -> bool:
    left, right = _parsed(first), _parsed(second)
    for parsed in (left, right):
        if isinstance(parsed, _ParseFailure):
            raise parsed.error
    return simplify(left - right) == 0


def is_equiv(first: str, second: str, *, string_shortcut: bool = True,
             timeout_seconds: float | None = 5) -> bool:
    """Equal under sympy, for two normalised answers; every parse or sympy failure is False."""
    if string_shortcut and first and first == second:
        return True
    _load_latex_parser()
    try:
        return call_with_time_limit(lambda: _sympy_equal(first, second), timeout_seconds)
    except (ImportError, UsageError):  # a broken install or a bad option must not read as "wrong"
        raise
    except Exception:  # what lm-eval does: unparsable, non-numeric or too slow means wrong
        return False


def minerva_match(extracted: str, sample: Sample, *, string_shortcut: bool = True,
                  legacy_normalization: bool = False, timeout_seconds: float | None = 5) -> float:
    """1.0 when Minerva's check accepts the extracted answer (from `minerva_answer`) for the gold.

    `string_shortcut` (default True, as in lm-eval 0.4.13) accepts identical normalised answers
    without sympy, so an answer equal to the gold is never wrong; with False, a tuple, interval
    or matrix can never be right, as in lm-eval 0.4.12 and earlier. `legacy_normalization`
    selects appendix D verbatim (lm-eval 0.4.12 and earlier) over lm-eval 0.4.13's fixes.
    `timeout_seconds` bounds parsing plus simplification, as lm-eval's 5 s alarm does.
    """
    answer = normalize_final_answer(extracted, legacy=legacy_normalization)
    gold = normalize_final_answer(sample.target, legacy=legacy_normalization)
    return float(is_equiv(answer, gold, string_shortcut=string_shortcut, timeout_seconds=timeout_seconds))
