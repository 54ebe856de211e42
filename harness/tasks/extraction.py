"""Named extraction pipelines: response text in, the answer a metric compares out.

Several pipelines run on every response and are reported side by side (lm-eval's `strict-match`
and `flexible-extract`), so a score never silently depends on one parsing choice. A pipeline
is a list of steps from the task spec; each step is `name` or `{name: {options}}`. Step names
resolve through `harness.registry.EXTRACTION_STEPS`: the factories below are the built-ins, and a
package adds its own with a `harness.extraction_steps` entry point.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from harness.errors import UsageError
from harness.registry import EXTRACTION_STEPS
from harness.scoring.boxed import last_boxed_content

FALLBACK = "[invalid]"
Step = Callable[[str], str]


def regex_step(pattern: str, group_select: int = 0, fallback: str = FALLBACK) -> Step:
    """lm-eval's RegexFilter: findall, pick match `group_select`, first non-empty group."""
    compiled = re.compile(pattern)

    def extract(text: str) -> str:
        matches = compiled.findall(text)
        if not matches:
            return fallback
        match = matches[group_select]
        if isinstance(match, tuple):
            match = next((group for group in match if group), fallback)
        return match.strip()

    return extract


def take_first_step() -> Step:
    """Kept for lm-eval parity: with one response per attempt it changes nothing."""
    return lambda text: text


def strip_thinking_step() -> Step:
    """Drop `<think>...</think>`; an unfinished thinking block leaves no answer."""
    closed = re.compile(r"<think>.*?</think>", re.DOTALL)

    def extract(text: str) -> str:
        text = closed.sub("", text)
        return "" if "<think>" in text else text.strip()

    return extract


def last_boxed_step(fallback: str = FALLBACK) -> Step:
    """What the last `\\boxed{...}` holds (nested braces, `\\boxed x`, `\\fbox{...}`), as MATH's
    own code takes a gold answer from a solution; see `harness.scoring.boxed` for its quirks."""

    def extract(text: str) -> str:
        content = last_boxed_content(text)
        return fallback if content is None else content

    return extract


def minerva_answer_step(fallback: str = FALLBACK) -> Step:
    """lm-eval `minerva_math`'s `get_unnormalized_answer`, with its regex and quirks unchanged.

    lm-eval appends "I hope it is correct." before searching, so a response cut off before that
    sentence still matches when it ends in a space (the regex's unescaped `.` then takes the
    character before that space). `.` does not cross lines. lm-eval marks no match with
    "[invalidanswer]"; we return `fallback` (our "[invalid]", the marker every other step uses).
    Neither survives Minerva's normaliser as anything a gold answer could equal, so verdicts
    do not change.
    """
    pattern = re.compile(r"Final Answer: The final answer is(.*?). I hope it is correct.")

    def extract(text: str) -> str:
        match = pattern.search(text + "I hope it is correct.")
        return fallback if match is None else match.group(1).strip()

    return extract


def _build_step(step: Any, hooks: Mapping[str, Callable[..., Any]]) -> Step:
    if isinstance(step, str):
        name, options = step, {}
    elif isinstance(step, dict) and len(step) == 1:
        name, options = next(iter(step.items()))
        options = options or {}
    else:
        raise UsageError(f"bad extraction step {step!r}: use a step name or {{name: {{options}}}}")
    if name == "python":
        if options not in hooks:
            raise UsageError(f"extraction step python: {options!r} is not a function in the task's scorer.py")
        return hooks[options]
    if name not in EXTRACTION_STEPS.names():
        raise UsageError(f"unknown extraction step {name!r}; known: {', '.join(EXTRACTION_STEPS.names())}, python "
                         f"(a package adds one with an entry point in group {EXTRACTION_STEPS.group})")
    factory = EXTRACTION_STEPS.get(name)
    try:
        return factory(**options)
    except (TypeError, re.error) as error:
        raise UsageError(f"bad options for extraction step {name!r}: {error}") from error


class Extractor:
    """All of a task's pipelines, compiled once."""

    def __init__(self, pipelines: Mapping[str, Sequence[Any]], hooks: Mapping[str, Callable[..., Any]]) -> None:
        self.pipelines = {
            name: [_build_step(step, hooks) for step in steps] for name, steps in pipelines.items()
        }

    def extract(self, text: str) -> dict[str, str]:
        results = {}
        for name, steps in self.pipelines.items():
            value = text
            for step in steps:
                value = step(value)
            results[name] = value
        return results
