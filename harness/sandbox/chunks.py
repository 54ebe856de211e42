"""Cutting a language's programs into chunks that the workers finish together."""

from __future__ import annotations

from typing import Sequence, TypeVar

Item = TypeVar("Item")


def balanced_chunks(items: Sequence[Item], max_chunk: int, workers: int) -> list[Sequence[Item]]:
    """As many chunks as `max_chunk` needs, rounded up to a multiple of `workers`, all of one size:
    the workers then finish a language together instead of one idling through the last chunk."""
    count = -(-len(items) // max_chunk)
    count = -(-count // workers) * workers
    size = max(1, -(-len(items) // max(1, count)))
    return [items[start:start + size] for start in range(0, len(items), size)]
