"""The last `\\boxed{...}` of a text: how MATH marks a solution's final answer.

The rules are those of `last_boxed_only_string` and `remove_boxed` in lm-eval's `hendrycks_math`
and `minerva_math` tasks (hendrycks' original plus the `\\boxed ` space form), because MATH gold
answers are taken from solutions this way; a different rule would change the gold itself. Their
quirks are kept on purpose:

- braces are counted from the last `\\boxed` (or, when there is none, the last `\\fbox`), with no
  regard for escaped braces;
- once `\\boxed ` (with a space) occurs anywhere, the answer is the text after its last occurrence,
  up to the next `$`, even when a later `\\boxed{...}` exists.
"""

from __future__ import annotations

_BOXED_SPACE = "\\boxed "
_WRAPPERS = ("\\boxed{", "\\fbox{")


def last_boxed_only_string(text: str) -> str | None:
    """The last `\\boxed{...}` (or `\\fbox{...}`, or `\\boxed x`) with its command; None if unclosed."""
    if _BOXED_SPACE in text:
        return _BOXED_SPACE + text.split(_BOXED_SPACE)[-1].split("$")[0]
    start = text.rfind("\\boxed")
    if start < 0:
        start = text.rfind("\\fbox")
        if start < 0:
            return None
    depth = 0
    for position in range(start, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return text[start: position + 1]
    return None


def remove_boxed(boxed: str) -> str | None:
    """The argument of a `last_boxed_only_string` result; None when it is not a well-formed box.

    lm-eval asserts instead (and so rejects `\\fbox{...}`); we unwrap `\\fbox{` too, as hendrycks'
    docstring promises, and report a malformed box as None so a caller can choose its fallback.
    """
    if boxed.startswith(_BOXED_SPACE):
        return boxed[len(_BOXED_SPACE):]
    for wrapper in _WRAPPERS:
        if boxed.startswith(wrapper) and boxed.endswith("}"):
            return boxed[len(wrapper): -1]
    return None


def last_boxed_content(text: str) -> str | None:
    """What the last box of `text` holds, or None when there is no well-formed box."""
    boxed = last_boxed_only_string(text)
    return None if boxed is None else remove_boxed(boxed)
