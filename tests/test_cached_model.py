"""CachedModel: inner answers come from the response cache first, the model only for misses."""

from __future__ import annotations

from typing import Sequence

import pytest

from harness.models.cached import CachedModel
from harness.store.cache import ResponseCache
from harness.types import GenerationSettings, Request, Response


class CountingModel:
    """Echoes each prompt; records every call; fails prompts that start with "fail"."""

    chunk_size = 5

    def __init__(self, identity: str = "m1", cacheable: bool = True) -> None:
        self.name = "counting"
        self.identity = identity
        self.cacheable = cacheable
        self.calls: list[list[str]] = []

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        prompts = [request.prompt or "" for request in requests]
        self.calls.append(prompts)
        return [Response(error="down") if p.startswith("fail") else Response(text=f"{self.identity}:{p}")
                for p in prompts]

    def fingerprint(self) -> str:
        return self.identity


def ask(prompt: str, seed: int | None = None) -> Request:
    return Request(kind="generate", sample_id=prompt, prompt=prompt, settings=GenerationSettings(seed=seed))


@pytest.fixture
def cache(tmp_path) -> ResponseCache:
    return ResponseCache(tmp_path)


def test_misses_are_asked_in_one_batch_and_hits_never(cache: ResponseCache) -> None:
    inner = CountingModel()
    model = CachedModel(inner, cache)
    assert [r.text for r in model.generate([ask("a"), ask("b")])] == ["m1:a", "m1:b"]
    assert [r.text for r in model.generate([ask("b"), ask("c"), ask("a")])] == ["m1:b", "m1:c", "m1:a"]
    assert inner.calls == [["a", "b"], ["c"]]
    assert model.generate([ask("a"), ask("c")])[1].text == "m1:c" and len(inner.calls) == 2


def test_identical_requests_in_a_batch_are_asked_once(cache: ResponseCache) -> None:
    inner = CountingModel()
    responses = CachedModel(inner, cache).generate([ask("a"), ask("a"), ask("a", seed=1)])
    assert [r.text for r in responses] == ["m1:a"] * 3 and inner.calls == [["a", "a"]]


def test_errors_are_returned_but_not_cached(cache: ResponseCache) -> None:
    inner = CountingModel()
    model = CachedModel(inner, cache)
    assert model.generate([ask("fail"), ask("ok")])[0].error == "down"
    model.generate([ask("fail"), ask("ok")])
    assert inner.calls == [["fail", "ok"], ["fail"]]


def test_the_cache_is_keyed_by_the_inner_fingerprint(cache: ResponseCache) -> None:
    CachedModel(CountingModel("m1"), cache).generate([ask("a")])
    other = CountingModel("m2")
    assert CachedModel(other, cache).generate([ask("a")])[0].text == "m2:a" and other.calls == [["a"]]


def test_identity_and_protocol_delegate_to_the_inner_model(cache: ResponseCache) -> None:
    model = CachedModel(CountingModel("m9"), cache)
    assert (model.name, model.chunk_size, model.cacheable, model.fingerprint()) == ("counting", 5, True, "m9")


def test_an_uncacheable_model_is_passed_through(cache: ResponseCache) -> None:
    inner = CountingModel(cacheable=False)
    model = CachedModel(inner, cache)
    model.generate([ask("a")])
    model.generate([ask("a")])
    assert inner.calls == [["a"], ["a"]] and cache.get_many("m1", [ask("a").content_hash()]) == {}
