"""GSM8K end to end on the real shared data: oracle, replay, and lm-eval prompt parity."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness import evaluate
from harness.scoring.exact_match import normalise

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
needs_data = pytest.mark.skipif(not (DATA / "test.jsonl").is_file(), reason=f"GSM8K data not found at {DATA} (see shared/data/gsm8k/SOURCE.md)")
LABELS = ["exact_match[strict-match]", "exact_match[flexible-extract]", "exact_match[math-verify]"]


def gold_answers() -> list[str]:
    rows = [json.loads(line) for line in (DATA / "test.jsonl").read_text().splitlines()]
    return [row["answer"].split("####")[-1].strip() for row in rows]


@needs_data
@pytest.mark.parametrize("task", ["gsm8k", "gsm8k:cot"])
def test_oracle_scores_100_percent_under_every_extraction(task: str, tmp_path: Path) -> None:
    result = evaluate(task, "oracle", data=DATA / "test.jsonl", run_dir=tmp_path / "run", use_cache=False)
    for label in LABELS:
        assert result.metrics["metrics"][label]["value"] == 1.0, label
        assert result.metrics["metrics"][label]["n"] == 1319


@needs_data
def test_shuffled_replay_scores_the_share_of_coinciding_answers(tmp_path: Path) -> None:
    golds = gold_answers()
    order = list(range(len(golds)))
    random.Random(7).shuffle(order)
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"id": str(i), "response": f"#### {golds[j]}"}) + "\n" for i, j in enumerate(order)))
    rules = ([",", r"\$", "(?s).*#### ", r"\.$"], True, False)
    expected = sum(normalise(golds[j], *rules) == normalise(golds[i], *rules) for i, j in enumerate(order)) / len(golds)
    result = evaluate("gsm8k", f"replay:{replay}", data=DATA / "test.jsonl", run_dir=tmp_path / "run", use_cache=False)
    metrics = result.metrics["metrics"]
    assert 0 < expected < 0.2
    assert metrics["exact_match[strict-match]"]["value"] == pytest.approx(expected)
    assert metrics["exact_match[flexible-extract]"]["value"] == pytest.approx(expected)
    assert metrics["exact_match[math-verify]"]["value"] == pytest.approx(expected, abs=0.01)


@needs_data
def test_replay_missing_samples_are_unscored_not_wrong(tmp_path: Path) -> None:
    golds = gold_answers()
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"id": str(i), "response": f"#### {golds[i]}"}) + "\n" for i in range(0, 10, 2)))
    result = evaluate("gsm8k", f"replay:{replay}", data=DATA / "test.jsonl", limit=10, run_dir=tmp_path / "run", use_cache=False)
    entry = result.metrics["metrics"]["exact_match[strict-match]"]
    assert (entry["value"], entry["n"], entry["unscored"]) == (1.0, 5, 5)
