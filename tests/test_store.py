"""The run store and response cache: schema, manifest fields, cache keyed by model identity."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from harness import evaluate
from harness.store.cache import ResponseCache
from harness.types import Request, Response
from scripted_models import ScriptedGSM8KModel


def test_samples_parquet_and_manifest_hold_the_documented_fields(tmp_path: Path) -> None:
    result = evaluate("gsm8k", ScriptedGSM8KModel(), sample_data=True, run_dir=tmp_path / "run", cache_dir=tmp_path / "c")
    table = pq.read_table(tmp_path / "run" / "samples.parquet")
    assert {"id", "subset", "attempt", "prompt", "response", "extracted", "scores", "latency_s",
            "input_tokens", "output_tokens"} <= set(table.column_names)
    row = table.slice(0, 1).to_pylist()[0]
    assert dict(row["extracted"])["strict-match"] == row["target"] and dict(row["scores"])["exact_match[strict-match]"] == 1.0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["task"]["name"] == "gsm8k" and len(manifest["task"]["content_hash"]) == 64
    assert manifest["model"]["fingerprint"] == "scripted-gsm8k-v1"
    for key in ("harness_version", "git_commit", "seeds", "settings", "started_at", "finished_at", "timings"):
        assert key in manifest
    assert result.metrics["metrics"]["exact_match[strict-match]"]["value"] == 0.5


def test_second_run_is_answered_from_the_cache(tmp_path: Path) -> None:
    first = evaluate("gsm8k", ScriptedGSM8KModel(), sample_data=True, run_dir=tmp_path / "a", cache_dir=tmp_path / "c")
    second = evaluate("gsm8k", ScriptedGSM8KModel(), sample_data=True, run_dir=tmp_path / "b", cache_dir=tmp_path / "c")
    assert (first.stats.model_requests, second.stats.model_requests, second.stats.cached_requests) == (10, 0, 10)
    assert first.metrics == second.metrics


def test_cache_never_hands_one_models_answer_to_another(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    request = Request(kind="generate", sample_id="1", prompt="2+2=")
    cache.put_many("model-a", [(request.content_hash(), Response(text="4"))])
    assert cache.get_many("model-b", [request.content_hash()]) == {}
    assert cache.get_many("model-a", [request.content_hash()])[request.content_hash()].text == "4"


def test_request_hash_covers_settings_but_not_bookkeeping() -> None:
    from harness.types import GenerationSettings

    base = Request(kind="generate", sample_id="1", prompt="p")
    assert base.content_hash() == Request(kind="generate", sample_id="9", attempt=3, prompt="p", reference="x").content_hash()
    assert base.content_hash() != Request(kind="generate", sample_id="1", prompt="p", settings=GenerationSettings(max_tokens=7)).content_hash()


def test_errored_responses_are_not_cached(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put_many("m", [("h", Response(error="boom"))])
    assert cache.get_many("m", ["h"]) == {}


def test_resuming_a_run_dir_with_other_settings_is_refused(tmp_path: Path) -> None:
    import pytest

    from harness import UsageError

    evaluate("gsm8k", "oracle", sample_data=True, run_dir=tmp_path / "run")
    with pytest.raises(UsageError, match="holds a different run"):
        evaluate("gsm8k:cot", "oracle", sample_data=True, run_dir=tmp_path / "run")
