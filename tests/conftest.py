"""Shared fixtures. Tests never download: the hub is switched offline before anything imports it."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

SUBJECTS = ("Tom", "Anna", "The farmer", "A baker", "Maria", "The class", "Ben", "Our team")
THINGS = ("apples", "eggs", "books", "pencils", "cookies", "marbles", "dollars", "miles")
VERBS = ("buys", "sells", "finds", "gives away", "eats", "counts", "saves", "walks")


def tiny_corpus() -> list[str]:
    """A few hundred short English and arithmetic sentences, deterministic, for BPE training."""
    sentences = []
    for i, subject in enumerate(SUBJECTS):
        for j, thing in enumerate(THINGS):
            a, b = 3 + i * 7 + j, 2 + j * 3
            verb = VERBS[(i + j) % len(VERBS)]
            sentences.append(f"{subject} {verb} {a} {thing} and then {b} more.")
            sentences.append(f"Question: How many {thing} are there? Answer: {a} + {b} = {a + b}.")
            sentences.append(f"{a} * {b} = {a * b}, so the answer is {a * b}.")
    return sentences


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random Llama with a ChatML template (64 hidden, 2 layers, 500-token vocabulary)."""
    from harness.testing.tiny import TEST_SIZES, build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-model"), tiny_corpus(), **TEST_SIZES)


@pytest.fixture
def host_port() -> Iterator[int]:
    """A port listening on the host's loopback: only a sandbox sharing the host's network reaches it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]
