"""Continuous batching for `hf:` generation: a slot whose answer ended takes the next prompt at once.

One `generate` call per batch decodes until the batch's longest answer ends. With a real model
answers vary: on GSM8K, SmolLM2-135M's first 8 answers were 1 to 106 tokens long (362 in all), so
a batch ran 106 steps for 45 steps' worth of work, and a decoding step costs about the same for 1
live row as for 8 (it reads every weight once). Here each of `batch_size` slots is refilled as
soon as its answer ends, and slots nobody refills are dropped from the batch.

How rows of different lengths share one cache: every live row writes its next token into the same
cache column. A new row's prompt is prefilled alone (`hf_decoding._prefill_one`, also the fast
path on CPU) and its states are laid into the columns just left of the write column; its own
position ids and attention-mask columns keep it to its own tokens. The write column starts right
of the longest prompt of the group, so any prompt fits; when it reaches the end of the buffers,
columns no live row uses are shifted out.

Only plain decoding runs here: greedy, or `hf_sampling`'s per-row seeded sampler. A model whose
generation config asks for logits processors (a repetition penalty, say), or whose cache needs
special layers, is decoded by `transformers.generate` instead (`plain_decoding_supported`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from transformers.cache_utils import Cache

from harness.models.hf_decoding import PreallocatedLayer, _prefill_one, ends_answer, preallocated_cache, stop_window
from harness.models.hf_sampling import row_generator, sample_rows
from harness.types import GenerationSettings


@dataclass(frozen=True)
class Decoded:
    """One answer: its tokens (the one that ended it included) and whether a stop or EOS ended it."""

    tokens: list[int]
    stopped: bool


@dataclass
class _Row:
    request: int
    next_token: int
    position: int  # position id of `next_token`
    start: int  # first cache column holding this row's states
    generator: torch.Generator | None
    tokens: list[int] = field(default_factory=list)


def plain_decoding_supported(model: Any, generation_config: Any) -> bool:
    """Whether `decode_continuously` computes what `generate` would: the model's cache is plain
    (no sliding-window or linear-attention layers) and its generation config adds no logits
    processor. The processors are listed by `generate`'s own (private) builder; if that cannot
    be asked, `generate` is used."""
    if preallocated_cache(model.config, 1) is None:
        return False
    try:
        processors = model._get_logits_processor(generation_config=generation_config, input_ids_seq_length=1,
                                                 device=str(model.device), model_kwargs={})
    except (AttributeError, TypeError):
        return False
    return len(processors) == 0


@torch.inference_mode()
def decode_continuously(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], settings: GenerationSettings,
                        seeds: Sequence[int | None], *, slots: int, eos_ids: set[int]) -> list[Decoded]:
    """Answer every prompt (token ids, none empty) with at most `slots` rows in flight, in the
    order given (callers pass the longest prompts first)."""
    return _Decoder(model, tokenizer, prompts, settings, seeds, slots, eos_ids).run()


class _Decoder:
    def __init__(self, model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], settings: GenerationSettings,
                 seeds: Sequence[int | None], slots: int, eos_ids: set[int]) -> None:
        self.model, self.tokenizer, self.prompts = model, tokenizer, prompts
        self.settings, self.seeds, self.eos_ids = settings, seeds, eos_ids
        self.window = stop_window(settings.stop)
        self.slots = min(slots, len(prompts))
        self.floor = max(len(prompt) for prompt in prompts) - 1  # the write column never goes left of this
        self.capacity = self.floor + 2 * settings.max_tokens + 1
        self.cache: Cache | None = None
        self.mask = torch.zeros((self.slots, self.capacity), dtype=torch.long, device=model.device)
        self.rows: list[_Row | None] = [None] * self.slots
        self.results: list[Decoded | None] = [None] * len(prompts)

    def run(self) -> list[Decoded]:
        queue = deque(range(len(self.prompts)))
        while True:
            for slot, row in enumerate(self.rows):
                if row is None and queue:
                    self._admit(slot, queue.popleft())
            live = [slot for slot, row in enumerate(self.rows) if row is not None]
            if not live:
                return [result for result in self.results if result is not None]
            if len(live) < len(self.rows):
                self._keep(live)
            self._step()

    def _layers(self) -> list[PreallocatedLayer]:
        assert self.cache is not None
        return self.cache.layers  # type: ignore[return-value]

    def _column(self) -> int:
        return self._layers()[0].length if self.cache is not None else self.floor

    def _admit(self, slot: int, request: int) -> None:
        """Prefill a prompt's tokens but its last into `slot`, left of the write column."""
        prompt = self.prompts[request]
        column = self._column()
        states = _prefill_one(self.model, prompt[:-1])
        if states is not None:
            if self.cache is None:
                self.cache = Cache(layers=[PreallocatedLayer.for_slots(layer, len(self.rows), self.capacity, column)
                                           for layer in states.layers])
            for layer, row_states in zip(self._layers(), states.layers):
                layer.place(slot, row_states, column)
        self.mask[slot] = 0
        self.mask[slot, column - (len(prompt) - 1) : column] = 1
        generator = None if self.settings.greedy else row_generator(self.seeds[request], self.model.device)
        self.rows[slot] = _Row(request, prompt[-1], len(prompt) - 1, column - (len(prompt) - 1), generator)

    def _keep(self, live: list[int]) -> None:
        if self.cache is not None:
            for layer in self._layers():
                layer.keep_rows(live)
        self.mask = self.mask[live]
        self.rows = [self.rows[slot] for slot in live]

    def _step(self) -> None:
        rows = [row for row in self.rows if row is not None]
        if self.cache is None:  # every prompt so far was one token: nothing cached yet
            self.cache = preallocated_cache(self.model.config, self.capacity)
            for layer in self._layers():
                layer.length = self.floor
        self._make_room(rows)
        column = self._column()
        self.mask[:, column] = 1
        device = self.model.device
        logits = self.model(
            input_ids=torch.tensor([[row.next_token] for row in rows], device=device),
            attention_mask=self.mask[:, : column + 1],
            position_ids=torch.tensor([[row.position] for row in rows], device=device),
            cache=self.cache,
            logits_to_keep=1,
        ).logits[:, -1]
        chosen = self._choose(logits, rows).tolist()
        for row, token in zip(rows, chosen):
            row.tokens.append(token)
            row.next_token, row.position = token, row.position + 1
        tails = [row.tokens[-self.window :] for row in rows]
        for slot, (row, ended) in enumerate(zip(rows, ends_answer(self.tokenizer, tails, self.settings.stop, self.eos_ids))):
            if ended or len(row.tokens) >= self.settings.max_tokens:
                self.results[row.request] = Decoded(row.tokens, stopped=ended)
                self.rows[slot] = None

    def _choose(self, logits: torch.Tensor, rows: list[_Row]) -> torch.Tensor:
        if self.settings.greedy:
            return logits.float().argmax(dim=-1)
        generators = [row.generator for row in rows]
        return sample_rows(logits, generators, self.settings.temperature, self.settings.top_p)  # type: ignore[arg-type]

    def _make_room(self, rows: list[_Row]) -> None:
        """Shift out the columns left of every live row when the write column reaches the end."""
        column = self._column()
        if column < self.capacity:
            return
        columns = min(min(row.start for row in rows), column - self.floor)
        for layer in self._layers():
            layer.shift_left(columns)
        self.mask[:, : column - columns] = self.mask[:, columns:column].clone()
        self.mask[:, column - columns :] = 0
        for row in rows:
            row.start -= columns
