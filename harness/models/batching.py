"""Batches for scoring forward passes (reward models): length-sorted, capped in rows and tokens.

On a CPU, throughput peaks near 1-2k padded tokens per forward pass and falls beyond it (the
attention scores of a large batch no longer fit the cache): `benchmarks/rm_throughput.py` measured
a 16-row batch of ~300-token sequences slower than one sequence at a time, and the same rows cut at
1,536 tokens 1.25x faster. So `auto` caps CPU batches at that many tokens; on a GPU, where bigger
batches keep paying, `batch_size` alone decides.
"""

from __future__ import annotations

import torch

from harness.errors import UsageError

CPU_BATCH_TOKENS = 1536


def length_batches(lengths: list[int], batch_size: int, max_tokens: int | None) -> list[list[int]]:
    """Indices, longest first, cut at `batch_size` rows or `max_tokens` padded tokens (a row
    longer than the cap gets a batch of its own)."""
    batches: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        current = batches[-1] if batches else None
        # Longest first: the batch's first row sets its padded width.
        if current and len(current) < batch_size and \
                (max_tokens is None or (len(current) + 1) * lengths[current[0]] <= max_tokens):
            current.append(index)
        else:
            batches.append([index])
    return batches


def batch_token_cap(value: int | str | None, device: torch.device, model: str) -> int | None:
    """`max_batch_tokens`: auto (a cap on CPU only), none, or a number of padded tokens."""
    if value == "auto":
        return CPU_BATCH_TOKENS if device.type == "cpu" else None
    if value is None or value == "none":
        return None
    if not isinstance(value, int) or value < 1:
        raise UsageError(f"{model}: max_batch_tokens={value!r}; use auto, none or a positive number of tokens")
    return value
