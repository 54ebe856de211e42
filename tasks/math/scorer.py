"""MATH hooks: one row shape for both files, so prompts, gold answers and groups are shared.

MATH-500 rows (PRM800K `math_splits/test.jsonl`, HuggingFaceH4/MATH-500) carry `answer`,
`subject` and an integer `level`; full MATH rows (hendrycks' per-problem JSON, as converted in
DigitalLearningGmbH/MATH-lighteval) carry `type` and `level` "Level 3", and their answer is the
last `\\boxed{}` of the solution, taken with hendrycks' `last_boxed_only_string`/`remove_boxed`,
as every official MATH scorer takes it. On MATH-500 the two agree for all 500 problems.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.scoring.boxed import last_boxed_content

if TYPE_CHECKING:  # not imported at run time, so the engine does not take them for hooks
    from collections.abc import Mapping
    from typing import Any


def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """`answer`, `subject` and `level` ("Level N") for either data file."""
    answer = row.get("answer")
    if answer is None:
        answer = last_boxed_content(str(row.get("solution", "")))
        if answer is None:
            raise UsageError(f"MATH row {str(row.get('problem', ''))[:60]!r}... has no `answer` and no "
                             "\\boxed{} in its solution; is this MATH data (fields problem, solution)?")
    level = row.get("level", "")
    level = f"Level {level}" if isinstance(level, int) else str(level)
    return {"answer": str(answer), "subject": str(row.get("subject") or row.get("type") or "unknown"), "level": level}
