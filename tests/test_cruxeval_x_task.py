"""CRUXEval-X end to end through `evaluate`: oracle, wrong answers, guard, selection, sandbox errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness import evaluate
from harness.sandbox.local import LocalSandbox
from harness.tasks import load_task
from harness.tasks.task import Task, apply_task_args
from tests.sandbox_support import CRUXEVAL_X, REQUIRE_ENV, cruxeval_scorer, gold_records, require_language

LANGUAGES = cruxeval_scorer().LANGUAGES
pytestmark = pytest.mark.skipif(not CRUXEVAL_X.is_dir(), reason=f"CRUXEval-X data not found at {CRUXEVAL_X}")


def available_languages() -> list[str]:
    """Languages whose toolchain is built; under HARNESS_REQUIRE_SANDBOXES=1 all must be."""
    sandbox = LocalSandbox()
    if os.environ.get(REQUIRE_ENV) == "1":
        for language in LANGUAGES:
            require_language(language)
    return [language for language in LANGUAGES if sandbox.unavailable(language) is None]


def run(tmp_path: Path, model: str, **options: Any) -> dict[str, Any]:
    result = evaluate("cruxeval-x", model, data=CRUXEVAL_X, run_dir=tmp_path / "run",
                      cache_dir=tmp_path / "cache", **options)
    return result.metrics


def test_oracle_passes_every_subset_of_every_available_language(tmp_path: Path) -> None:
    languages = available_languages()
    if not languages:
        pytest.skip("no language toolchain is built here (harness sandbox build)")
    metrics = run(tmp_path, "oracle", limit=3, task_args={"subsets": "+".join(languages)})
    assert set(metrics["subsets"]) == {f"{lang}.{sub}" for lang in languages for sub in ("input", "output")}
    for subset, table in metrics["subsets"].items():
        for label in ("pass@1[answer]", "pass@1[official-vllm]"):
            assert table[label]["value"] == 1.0 and table[label]["complete"], (subset, label, table[label])
    assert metrics["summary"]["pass@1[answer]/all/language_mean"]["value"] == 1.0


def wrong_answers(language: str, count: int) -> list[dict[str, str]]:
    """Replay lines giving each of the first `count` records another record's (different) expected value.

    Output only: for input, another record's call may legitimately give the same output (seen in lua).
    """
    scorer = cruxeval_scorer()
    rows = gold_records(language)
    lines = []
    for index, row in enumerate(rows[:count]):
        for subtask in ("output",):
            gold = scorer.gold_answer(row, language, subtask)
            wrong = next(answer for other in rows[index + 1:]
                         if (answer := scorer.gold_answer(other, language, subtask)).strip() != gold.strip())
            lines.append({"id": f"{language}/{subtask}/{row['id']}", "response": f"[ANSWER]\n{wrong}\n"})
    return lines


def test_another_problems_gold_answer_fails_in_every_language(tmp_path: Path) -> None:
    languages = available_languages()
    if not languages:
        pytest.skip("no language toolchain is built here (harness sandbox build)")
    replay = tmp_path / "wrong.jsonl"
    replay.write_text("".join(json.dumps(line) + "\n" for lang in languages for line in wrong_answers(lang, 2)))
    metrics = run(tmp_path, f"replay:{replay}", limit=2,
                  task_args={"subsets": "+".join(languages), "subtasks": "output"})
    for subset, table in metrics["subsets"].items():
        # Loose equality is part of some languages' official rules (Perl eq_deeply, JS deepEqual,
        # R all.equal): another literal can still pass there, e.g. "1" for 1. At least one must fail.
        assert table["pass@1[answer]"]["value"] < 1.0 and table["pass@1[answer]"]["complete"], (subset, table)


def copied_call_replay(tmp_path: Path, count: int) -> Path:
    """Output answers that repeat the test's own call (X == X), which the guard exists to catch."""
    scorer = cruxeval_scorer()
    lines = [{"id": f"py/output/{row['id']}", "response": f"[ANSWER]\n{scorer.gold_answer(row, 'py', 'input')}\n"}
             for row in gold_records("py")[:count]]
    path = tmp_path / "copied.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_guard_fails_copied_calls_and_can_be_switched_off(tmp_path: Path) -> None:
    require_language("py")
    replay = copied_call_replay(tmp_path, 3)
    args = {"subsets": "py", "subtasks": "output"}
    guarded = run(tmp_path / "on", f"replay:{replay}", limit=3, task_args=args)
    official = run(tmp_path / "off", f"replay:{replay}", limit=3, task_args={**args, "guard": False})
    assert guarded["metrics"]["pass@1[answer]"]["value"] == 0.0
    assert official["metrics"]["pass@1[answer]"]["value"] == 1.0  # the official scorer lets X == X pass


def test_aliases_and_language_selection_shape_the_samples() -> None:
    spec, args = apply_task_args(load_task("cruxeval-x-output"), {"subsets": "java+rkt"})
    samples = Task(spec, args, CRUXEVAL_X).samples(limit=2)
    assert [sample.subset for sample, _ in samples] == ["java.output"] * 2 + ["rkt.output"] * 2
    assert all(sample.id.startswith(f"{sample.subset.split('.')[0]}/output/") for sample, _ in samples)


def test_missing_toolchain_leaves_the_language_unscored_and_incomplete(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_SANDBOX_DIR", str(tmp_path / "no-trees"))
    metrics = run(tmp_path, "oracle", limit=2, task_args={"subsets": "py"})
    table = metrics["subsets"]["py.input"]["pass@1[answer]"]
    assert table["value"] is None and table["unscored"] == 2 and not table["complete"]
    assert metrics["summary"]["pass@1[answer]/all/language_mean"] == {"value": None, "languages": 2, "complete": False}


def test_repeated_samples_report_pass_at_k(tmp_path: Path) -> None:
    require_language("py")
    metrics = run(tmp_path, "oracle", limit=2, task_args={"subsets": "py", "repeats": 2})
    assert metrics["metrics"]["pass@2[answer]"]["value"] == 1.0
    assert metrics["metrics"]["pass@1[answer]"]["n"] == 8
