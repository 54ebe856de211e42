"""The data that flows between the pipeline's stages.

Every stage (task, model, scorer, store) speaks only these frozen types, so any stage can be
replaced without the others noticing. Keep them small: a field belongs here only if two stages
need it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping

RequestKind = Literal["generate", "loglikelihood", "reward", "extract"]


@dataclass(frozen=True)
class Message:
    """One chat turn; `role` is system, user or assistant. `images` are data URLs
    (`data:image/jpeg;base64,...`) shown with the text, for vision-language models."""

    role: str
    content: str
    images: tuple[str, ...] = ()

    def as_openai(self) -> dict[str, Any]:
        """The turn in the OpenAI chat format (also what vLLM's `LLM.chat` reads): plain text,
        or text and image parts when there are images."""
        if not self.images:
            return {"role": self.role, "content": self.content}
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.content}]
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in self.images]
        return {"role": self.role, "content": parts}


@dataclass(frozen=True)
class Sample:
    """One benchmark item: the raw dataset row plus the fields the engine needs by name."""

    id: str
    subset: str
    index: int
    data: Mapping[str, Any]
    target: str
    groups: Mapping[str, str] = field(default_factory=dict)  # e.g. {"subject": "Algebra", "level": "Level 5"}


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings. Part of the request hash, so a change never reuses a cached answer."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class Request:
    """What a model is asked: a base-format `prompt` or chat `messages`, never both.

    `reference` is the answer a perfect model would give (for the `oracle:` backend); like
    `sample_id` and `attempt` it is bookkeeping and stays out of the hash, so identical prompts
    share one cached response.

    A `reward` request is a conversation (`messages`, ending with the user's turn) and the
    `candidates` that could answer it; the model scores each candidate (`Response.scores`).
    Its `settings.seed` is the run seed, for models that draw at random (a judge's A/B order).

    A `loglikelihood` request asks how likely each of its `candidates` (continuations, the
    choices of a multiple-choice question) is after the `prompt`; all choices of one question
    travel together so a backend scores their shared context once. With `contexts` (one per
    candidate, lm-eval's "multiple input": Winogrande's sentence filled with each option),
    candidate i is scored after `prompt + contexts[i]`, so the prompt is still the shared part.

    An `extract` request names a `document` (a PDF path) to turn into Markdown; its `prompt` is
    the instruction a vision-language model gets with each page. The document's bytes, not its
    path, enter the hash.
    """

    kind: RequestKind
    sample_id: str
    attempt: int = 0
    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    reference: str | None = None
    candidates: tuple[str, ...] | None = None
    contexts: tuple[str, ...] | None = None
    document: str | None = None

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("a Request needs exactly one of prompt or messages")
        if (self.kind in ("reward", "loglikelihood")) != (self.candidates is not None):
            raise ValueError("reward and loglikelihood requests, and only they, carry candidates")
        if self.candidates is not None and not self.candidates:
            raise ValueError("a request's candidates must not be empty")
        if self.contexts is not None and (self.kind != "loglikelihood" or len(self.contexts) != len(self.candidates or ())):
            raise ValueError("contexts belong to loglikelihood requests, one per candidate")
        if (self.kind == "extract") != (self.document is not None):
            raise ValueError("extract requests, and only they, name a document")

    def content_hash(self) -> str:
        """Hash of everything the model sees; the response cache key (with the model fingerprint)."""
        payload = {
            "kind": self.kind,
            "prompt": self.prompt,
            # as_openai: a text-only turn hashes as it always did ({role, content}).
            "messages": [m.as_openai() for m in self.messages] if self.messages is not None else None,
            "settings": asdict(self.settings),
            # A field of earlier versions, always None now: kept so earlier runs' cache keys hold.
            "continuation": None,
            **({"candidates": list(self.candidates)} if self.candidates is not None else {}),
            **({"contexts": list(self.contexts)} if self.contexts is not None else {}),
            **({"document": _file_digest(self.document)} if self.document is not None else {}),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    @property
    def continues_assistant(self) -> bool:
        """A chat request whose last turn is the assistant's: the model continues that turn.

        Methods such as Critic-CoT prefill the answer ("Step 1"); the response holds only what
        the model added after the prefill.
        """
        return bool(self.messages) and self.messages[-1].role == "assistant"

    def prompt_text(self) -> str:
        """The prompt as one string (with a reward request's candidates), for logs and length-sorting."""
        if self.prompt is not None:
            return self.prompt
        turns = [f"<{m.role}>\n{m.content}" + (f"\n[{len(m.images)} image(s)]" if m.images else "")
                 for m in self.messages or ()]
        if self.kind == "loglikelihood":
            contexts = self.contexts or ("",) * len(self.candidates or ())
            turns += [f"<choice {i}>\n{context}{text}" for i, (context, text) in enumerate(zip(contexts, self.candidates or ()))]
        else:
            turns += [f"<candidate {i}>\n{text}" for i, text in enumerate(self.candidates or ())]
        return "\n\n".join(turns)


def _file_digest(path: str) -> str:
    """A document's identity for the cache: its bytes' hash (an unreadable file: its path).

    The runner hashes each request more than once (cache lookup, then storage); the digest is
    remembered per (path, size, mtime) so a PDF is read once while it is unchanged."""
    try:
        stat = os.stat(path)
    except OSError:
        return f"unreadable:{path}"
    return _bytes_digest(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1024)
def _bytes_digest(path: str, size: int, mtime_ns: int) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return f"unreadable:{path}"


@dataclass(frozen=True)
class Response:
    """A model's answer to one Request.

    `error` is set, and `text` empty, when the model could not answer (a replay file without
    the sample, say); such a sample is reported as unscored, never as wrong.

    For a reward request `scores` holds one score per candidate, in the request's order. A judge
    whose verdict could not be parsed answers `scores=None` (with its text): the benchmark then
    gives the credit of a blind guess, as RewardBench's own code does, not a loss.

    For a loglikelihood request `scores` holds each candidate's log-probability (the sum over
    its tokens) and `greedy` whether greedy decoding would have produced it, as lm-eval's
    `(logprob, is_greedy)` pairs.
    """

    text: str = ""
    scores: tuple[float, ...] | None = None
    greedy: tuple[bool, ...] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float = 0.0
    finish_reason: str | None = None
    error: str | None = None
    # What a wrapping adapter did to reach `text` (JSON-serialisable): every candidate it drew,
    # the critic's labels, which survived. Kept in the sample record so a user can see why.
    trace: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Response":
        data = json.loads(text)
        for key in ("logprob", "is_greedy"):  # single-continuation fields of earlier versions, never filled
            data.pop(key, None)
        for key in ("scores", "greedy"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


@dataclass(frozen=True)
class SampleRecord:
    """One row of samples.parquet: a scored attempt at one sample."""

    id: str
    subset: str
    attempt: int
    prompt: str
    response: str
    target: str
    extracted: Mapping[str, str]
    scores: Mapping[str, float]
    latency_s: float
    input_tokens: int | None
    output_tokens: int | None
    cached: bool
    error: str | None = None
    execution: Mapping[str, str] = field(default_factory=dict)  # label -> sandbox status (and `label.reason`)
    groups: Mapping[str, str] = field(default_factory=dict)  # the sample's groups, for per-group metrics
    trace: str | None = None  # JSON: an adapter's Response.trace, with every candidate's scores added
    reward_scores: tuple[float, ...] | None = None  # a reward model's score per candidate (reward tasks)
    choice_logprobs: tuple[float, ...] | None = None  # loglikelihood requests: each choice's log-probability
    choice_greedy: tuple[bool, ...] | None = None  # and whether greedy decoding would produce it
    finish_reason: str | None = None  # why generation stopped: stop, length, ...
