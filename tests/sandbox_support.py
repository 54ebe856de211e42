"""Shared helpers for sandbox tests: real programs from the data, and skips that say why."""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from harness.sandbox.local import LocalSandbox

CRUXEVAL_X = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval-x"


@functools.cache
def gold_records(language: str) -> list[dict[str, Any]]:
    path = CRUXEVAL_X / "cruxeval_preprocessed" / f"{language}.jsonl"
    if not path.is_file():
        pytest.skip(f"CRUXEval-X data not found at {path}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


REQUIRE_ENV = "HARNESS_REQUIRE_SANDBOXES"
# Ruby's Test::Unit reports how long the tests took: two fresh runs of one program differ there.
TIMINGS = re.compile(r"Finished in [0-9.e-]+ seconds\.|[0-9.e+-]+ tests/s, [0-9.e+-]+ assertions/s")


def comparable_output(text: str) -> str:
    """`text` with what differs between two fresh runs of the same program (timings) masked."""
    return TIMINGS.sub("<timing>", text)


def require_language(language: str) -> None:
    """Skip with the sandbox's own reason when the language cannot run here.

    CI builds every toolchain and sets HARNESS_REQUIRE_SANDBOXES=1, so there a missing one is a
    failure, not a skip that would hide it.
    """
    reason = LocalSandbox().unavailable(language)
    if reason and os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{language}: {reason}")
    if reason:
        pytest.skip(f"{language}: {reason}")


@functools.cache
def cruxeval_scorer() -> Any:
    """The CRUXEval-X task's hooks module (substitution and gold answers)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tasks" / "cruxeval-x" / "scorer.py"
    spec = importlib.util.spec_from_file_location("cruxeval_x_scorer_for_tests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wrong_output_program(language: str, index: int) -> str:
    """Record `index` with the expected value of another record whose expected value differs."""
    scorer = cruxeval_scorer()
    rows = gold_records(language)
    row = rows[index]
    gold = scorer.gold_answer(row, language, "output")
    donors = (scorer.gold_answer(other, language, "output") for other in rows[index + 1:])
    wrong = next(answer for answer in donors if answer.strip() != gold.strip())
    return scorer.substitute(row, language, "output", wrong)
