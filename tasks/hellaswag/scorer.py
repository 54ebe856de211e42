"""HellaSwag hooks: lm-eval's preprocessing of every row, and a reader for llama.cpp's text copy.

`row_context` is lm-eval 0.4.13's `hellaswag/utils.py:process_docs` (the query joins
`activity_label`, `ctx_a` and `ctx_b.capitalize()`; WikiHow's bracketed markers are dropped), so
prompts and options equal lm-eval's on the official data.

`read_llamacpp_text` reads the only copy of the validation split reachable here: klosax's
`hellaswag_val_full.txt(.bz2)`, six lines per item (`activity_label: ctx`, the gold label, four
endings), already stripped of the markers. It keeps `ctx` whole, so the rows it yields put all
of it in `ctx_a` with an empty `ctx_b`: lm-eval's capitalisation of `ctx_b` cannot be redone and
those prompts differ from lm-eval's (README.md says where).
"""

from __future__ import annotations

import bz2
import re
from typing import TYPE_CHECKING

from harness.errors import UsageError

if TYPE_CHECKING:  # not imported at run time, so the engine does not take them for hooks
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

LINES_PER_ITEM = 6


def preprocess(text: str) -> str:
    """lm-eval's `preprocess`, step for step (one pass of double-space removal, as there)."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """`query` and the preprocessed `choices`, as lm-eval's process_docs adds them."""
    try:
        context = row["ctx_a"] + " " + row["ctx_b"].capitalize()
        return {"query": preprocess(row["activity_label"] + ": " + context),
                "choices": [preprocess(ending) for ending in row["endings"]]}
    except KeyError as error:
        raise UsageError(f"hellaswag row lacks field {error}; expected the official schema (activity_label, "
                         "ctx_a, ctx_b, endings, label: hub Rowan/hellaswag or hellaswag_val.jsonl)") from None


def read_llamacpp_text(path: Path) -> list[dict[str, Any]]:
    """Rows in the official schema (as far as the text keeps it) from klosax's text file."""
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if len(lines) % LINES_PER_ITEM:
        raise UsageError(f"{path}: {len(lines)} lines, not a multiple of {LINES_PER_ITEM}; expected llama.cpp's "
                         "hellaswag_val_full.txt (context, label, four endings per item), unmodified")
    rows = []
    for start in range(0, len(lines), LINES_PER_ITEM):
        header, label, *endings = lines[start:start + LINES_PER_ITEM]
        activity_label, separator, ctx = header.partition(": ")
        if not separator or label not in ("0", "1", "2", "3"):
            raise UsageError(f"{path} line {start + 1}: expected 'activity label: context' then a label 0-3, got "
                             f"{header[:60]!r} and {label!r}; is this llama.cpp's hellaswag_val_full.txt?")
        rows.append({"activity_label": activity_label, "ctx_a": ctx, "ctx_b": "", "ctx": ctx, "endings": endings,
                     "label": label})
    return rows
