"""The runner hands backends and sandboxes chunks that hold one subset at a time, longest prompt first."""

from __future__ import annotations

from harness.runners.generation import generation_order
from harness.types import Request, Sample


def _pair(subset: str, index: int, prompt: str) -> tuple[Sample, Request]:
    sample = Sample(id=f"{subset}/{index}", subset=subset, index=index, data={}, target="")
    return sample, Request(kind="generate", sample_id=sample.id, prompt=prompt)


def test_pending_requests_are_grouped_by_subset_then_longest_first() -> None:
    pending = [_pair("py.output", 0, "ab"), _pair("java.input", 1, "a"), _pair("py.output", 2, "abcd"),
               _pair("java.input", 3, "abc"), _pair("cpp.input", 4, "abcdefgh")]
    ordered = [sample.id for sample, _ in generation_order(pending)]
    assert ordered == ["cpp.input/4", "java.input/3", "java.input/1", "py.output/2", "py.output/0"]
