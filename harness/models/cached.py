"""A Model that answers from the response cache first and asks the wrapped model only for misses.

The engine caches what it asks the model under test; an adapter's inner calls (the samples
and critiques behind one answer) are invisible to it. Wrapping the inner models here lets an
interrupted adapter run resume without generating any inner answer twice.
"""

from __future__ import annotations

from typing import Sequence

from harness.models.base import Model
from harness.store.cache import ResponseCache
from harness.types import Request, Response


class CachedModel:
    """Same protocol as the wrapped model; identical requests in one batch are asked once.

    A model that is not `cacheable` (its answers depend on more than the request's content, as
    the oracle's and replay's do) is passed through untouched.
    """

    def __init__(self, model: Model, cache: ResponseCache) -> None:
        self.model = model
        self.cache = cache
        self.name = model.name
        self.chunk_size = model.chunk_size
        self.cacheable = model.cacheable

    def fingerprint(self) -> str:
        return self.model.fingerprint()

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Look every request up; one inner call for the misses; store what it answered."""
        if not self.cacheable:
            return self.model.generate(requests)
        fingerprint = self.model.fingerprint()
        hashes = [request.content_hash() for request in requests]
        found = self.cache.get_many(fingerprint, list(dict.fromkeys(hashes)))
        missing: dict[str, Request] = {}
        for key, request in zip(hashes, requests):
            if key not in found:
                missing.setdefault(key, request)
        if missing:
            answers = self.model.generate(list(missing.values()))
            fresh = dict(zip(missing, answers))
            self.cache.put_many(fingerprint, fresh.items())
            found.update(fresh)
        return [found[key] for key in hashes]
