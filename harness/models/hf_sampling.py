"""Sampling with one seed per row, so sampled requests batch together and stay reproducible.

`transformers.generate` samples every row from the one global RNG, so a request's sample would
depend on which other requests share its batch; seeding per batch would force one batch per
seed, i.e. no batching at all for n sampled candidates (Critic-CoT draws 16 to 512 per problem).
Here each row owns a `torch.Generator` seeded from its request: the row's temperature and top-p
distribution is sampled with that generator, and the chosen token is handed to greedy decoding
as the only finite logit. A request's sample then depends on its prompt and seed only.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch
from transformers import LogitsProcessor


def row_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """A request's own generator: seeded from the request, or at random without a seed."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else random.getrandbits(63))
    return generator


def sample_rows(scores: torch.Tensor, generators: Sequence[torch.Generator], temperature: float,
                top_p: float) -> torch.Tensor:
    """One token per row, drawn with that row's generator (vLLM's semantics: top-p keeps the
    smallest set of tokens whose probability reaches p; no top-k)."""
    probabilities = torch.softmax(scores.float() / temperature, dim=-1)
    if top_p < 1.0:
        probabilities = _top_p(probabilities, top_p)
    return torch.stack([
        torch.multinomial(row, 1, generator=generator)[0] for row, generator in zip(probabilities, generators)
    ])


class RowSeededSampler(LogitsProcessor):
    """`sample_rows` as a logits processor for `transformers.generate`."""

    def __init__(self, seeds: Sequence[int | None], temperature: float, top_p: float, device: torch.device) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.generators = [row_generator(seed, device) for seed in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        chosen = sample_rows(scores, self.generators, self.temperature, self.top_p)
        only = torch.full_like(scores, float("-inf"))
        only[torch.arange(scores.shape[0]), chosen] = 0.0
        return only


def _top_p(probabilities: torch.Tensor, top_p: float) -> torch.Tensor:
    ordered, order = probabilities.sort(dim=-1, descending=True)
    before = ordered.cumsum(dim=-1) - ordered  # mass of the tokens ranked above each token
    ordered = ordered.masked_fill(before >= top_p, 0.0)
    return torch.zeros_like(probabilities).scatter(-1, order, ordered)
