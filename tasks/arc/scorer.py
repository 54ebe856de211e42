"""ARC's rows in either form (AI2's jsonl, the hub's parquet) as one."""

from __future__ import annotations

from typing import Any, Mapping

from harness.errors import UsageError


def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """`question` (the text), `choices` ({text, label} lists) and `gold` (the answer's index).

    AI2's jsonl nests the options in the question (`question: {stem, choices: [{text, label}]}`);
    the hub (allenai/ai2_arc) flattens them, and lm-eval's prompt reads the hub's form. Labels are
    A-E for most questions and 1-4 for some; `answerKey` is one of them either way.
    """
    question, choices = row.get("question"), row.get("choices")
    if isinstance(question, Mapping):
        options = question.get("choices") or []
        question = question.get("stem")
        choices = {"text": [option["text"] for option in options], "label": [option["label"] for option in options]}
    if not isinstance(question, str) or not isinstance(choices, Mapping):
        raise UsageError(f"ARC row {row.get('id')!r} has neither AI2's fields (question.stem, question.choices) nor "
                         "the hub's (question, choices.text, choices.label); is this ARC data?")
    labels = list(choices["label"])
    if row.get("answerKey") not in labels:
        raise UsageError(f"ARC row {row.get('id')!r}: answerKey {row.get('answerKey')!r} is not one of its option "
                         f"labels {labels}")
    return {"question": question, "choices": {"text": list(choices["text"]), "label": labels},
            "gold": labels.index(row["answerKey"])}
