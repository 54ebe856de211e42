"""Critic-CoT end to end with a tiny transformers model: the real hf code path a 7B model takes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness import evaluate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "math"
pytestmark = pytest.mark.skipif(not (DATA / "math500_test.jsonl").is_file(),
                                reason=f"MATH data not found at {DATA} (see shared/data/math/SOURCE.md)")
SHORT = "max_tokens=12,critic_max_tokens=12,solver.batch_size=8"


def traces(run: Path) -> list[dict]:
    rows = pq.read_table(run / "samples.parquet", columns=["response", "trace"]).to_pylist()
    return [dict(json.loads(row["trace"]), response=row["response"]) for row in rows]


def test_filter_mode_runs_on_hf_and_records_every_candidate(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = f"critic-cot:hf:{tiny_model_dir},n=4,{SHORT}"
    result = evaluate("math-500:critic-cot", model, data=DATA, limit=3, run_dir=tmp_path / "run",
                      cache_dir=tmp_path / "cache")
    assert result.stats.model_requests == 3
    for trace in traces(tmp_path / "run"):
        assert (trace["mode"], len(trace["candidates"])) == ("filter", 4)
        assert len({candidate["text"] for candidate in trace["candidates"]}) > 1  # distinct seeds, distinct samples
        assert all(candidate["text"].startswith("Step 1") for candidate in trace["candidates"])
        assert trace["response"] == trace["candidates"][trace["chosen"]]["text"]
        assert all("scores" in candidate for candidate in trace["candidates"])
    metrics = result.metrics["metrics"]
    assert {"prm800k[boxed]", "prm800k[boxed]:any"} <= set(metrics)

    again = evaluate("math-500:critic-cot", model, data=DATA, limit=3, run_dir=tmp_path / "rerun",
                     cache_dir=tmp_path / "cache")
    assert (again.stats.model_requests, again.stats.cached_requests) == (0, 3)
    assert traces(tmp_path / "rerun") == traces(tmp_path / "run")


def test_refine_mode_runs_on_hf(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = f"critic-cot:hf:{tiny_model_dir},mode=refine,max_refine_depth=2,max_refine_restart=1,{SHORT}"
    result = evaluate("math-500:critic-cot", model, data=DATA, limit=2, run_dir=tmp_path / "run", use_cache=False)
    assert result.stats.model_requests == 2
    for trace in traces(tmp_path / "run"):
        assert trace["mode"] == "refine" and 1 <= len(trace["candidates"]) <= 3
        assert trace["response"] == trace["candidates"][trace["chosen"]]["text"]
        original = trace["candidates"][0]
        # A random model rarely writes "Step 1:"; without steps there is nothing to critique.
        assert original["critique"] is None or original["critique"].startswith("Step 1")
