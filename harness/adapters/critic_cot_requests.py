"""The inner requests Critic-CoT makes, and the records it keeps of their answers.

Both inference modes (filter, refine) ask the same three questions (solve, critique, refine);
building them in one place keeps the prompts, prefixes, seeds and decoding identical across
modes, so the two modes share cached solutions and critiques where they ask the same thing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.adapters.critic_cot_steps import (
    CRITIQUE_PREFIX,
    CRITIQUE_STOP,
    SOLVE_PREFIX,
    SYSTEM_PROMPT,
    critique_prompt,
    extract_answer,
    format_attempt,
    parse_labels,
    solve_prompt,
    split_steps,
)
from harness.models.base import Model
from harness.types import GenerationSettings, Message, Request, Response


@dataclass(frozen=True)
class Decoding:
    """Sampling settings of the two roles; the official scripts use different ones per stage."""

    temperature: float
    critic_temperature: float
    top_p: float
    max_tokens: int
    critic_max_tokens: int

    def solve(self, seed: int) -> GenerationSettings:
        return GenerationSettings(
            max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p, seed=seed
        )

    def critique(self, seed: int) -> GenerationSettings:
        return dataclasses.replace(self.refine(seed), stop=CRITIQUE_STOP)

    def refine(self, seed: int) -> GenerationSettings:
        return GenerationSettings(
            max_tokens=self.critic_max_tokens, temperature=self.critic_temperature, top_p=self.top_p, seed=seed
        )


@dataclass(frozen=True)
class Roles:
    """The two models and how they sample; the critic also writes the corrections."""

    solver: Model
    critic: Model
    decoding: Decoding


@dataclass(frozen=True)
class Problem:
    """One incoming request and the problem statement it carries."""

    request: Request
    text: str

    def seed(self, *path: object) -> int:
        """A seed for one inner generation, fixed by the incoming seed and attempt, the problem
        and the path.

        Fixed so a rerun asks identical requests (and hits the cache); distinct per path so the
        n candidates, and the rounds of each refine restart, are distinct samples (identical
        requests would share one cache entry); distinct per problem so that problems batched
        together do not draw correlated samples. The problem text, not the sample id, enters, so
        the same problem gets the same samples under any id. Differing seeds do not split
        batches: `hf:` samples each row with its own generator, vLLM takes per-request seeds.
        """
        key = json.dumps([self.request.settings.seed, self.request.attempt, self.text, *path])
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF

    def ask(self, prompt: str, prefix: str, settings: GenerationSettings) -> Request:
        """A chat request whose trailing assistant turn the backend continues from `prefix`.

        The incoming `reference` is passed on (it is outside the request hash) so that
        `critic-cot:oracle` runs the adapter's plumbing end to end.
        """
        messages = (Message("system", SYSTEM_PROMPT), Message("user", prompt), Message("assistant", prefix))
        return Request(
            kind="generate",
            sample_id=self.request.sample_id,
            attempt=self.request.attempt,
            messages=messages,
            settings=settings,
            reference=self.request.reference,
        )


@dataclass
class Candidate:
    """One attempt at a problem and the critic's verdict on it.

    `rejected` means the attempt takes no part in the filtered vote: the critic marked a step
    incorrect, or (never critiqued) it has no steps or no boxed answer, as the official solve
    stage drops such outputs.
    """

    text: str
    steps: list[str]
    finish_reason: str | None = None
    critique: str | None = None
    labels: list[int] = field(default_factory=list)
    rejected: bool = True
    answer: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.answer = extract_answer(self.text)

    @classmethod
    def solution(cls, text: str, finish_reason: str | None) -> "Candidate":
        """A solver's full output, split into steps."""
        return cls(text, split_steps(text), finish_reason)

    @classmethod
    def attempt(cls, steps: Sequence[str], finish_reason: str | None) -> "Candidate":
        """A refined step list, written out as the critic sees it (steps kept, not re-split)."""
        return cls(format_attempt(steps), list(steps), finish_reason)

    @property
    def usable(self) -> bool:
        return bool(self.steps) and self.answer is not None

    def judge(self, critique: str) -> None:
        self.critique = critique
        self.labels = parse_labels(critique, len(self.steps))
        self.rejected = -1 in self.labels

    def trace(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "answer": self.answer,
            "critique": self.critique,
            "labels": list(self.labels),
            # null: never critiqued (no steps), so it says nothing about the critic's judgement
            "rejected": self.rejected if self.critique is not None else None,
        }


@dataclass
class Ledger:
    """What answering one incoming request cost, over every inner call, and the first failure."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float = 0.0
    error: str | None = None

    def add(self, response: Response, role: str) -> bool:
        """Count a response; False (and the error kept) when the inner model could not answer."""
        if response.input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + response.input_tokens
        if response.output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + response.output_tokens
        self.latency_s += response.latency_s
        if response.error is not None and self.error is None:
            self.error = f"critic-cot {role} failed: {response.error}"
        return response.error is None

    def failure(self) -> Response:
        """An inner failure makes the answer an error: unscored, uncached, retried next run."""
        return Response(error=self.error, latency_s=self.latency_s)

    def response(self, chosen: Candidate, trace: dict[str, Any]) -> Response:
        return Response(
            text=chosen.text,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            latency_s=self.latency_s,
            finish_reason=chosen.finish_reason,
            trace=trace,
        )


def generate(model: Model, requests: Sequence[Request]) -> list[Response]:
    """One batched call, skipped when there is nothing to ask."""
    return model.generate(list(requests)) if requests else []


def solve_all(
    roles: Roles, problems: Sequence[Problem], count: int
) -> tuple[list[Ledger], list[list[Candidate]]]:
    """Draw `count` solutions per problem in one solver call.

    A problem whose solver answers include an error gets no candidates (its ledger holds the
    error). Sample i of a problem has the same request in both modes, so they share the cache.
    """
    requests = [
        problem.ask(solve_prompt(problem.text), SOLVE_PREFIX, roles.decoding.solve(problem.seed("solve", index)))
        for problem in problems
        for index in range(count)
    ]
    responses = generate(roles.solver, requests)
    ledgers = [Ledger() for _ in problems]
    candidates = []
    for position, ledger in enumerate(ledgers):
        drawn = responses[position * count:(position + 1) * count]
        answered = all([ledger.add(response, "solver") for response in drawn])
        solutions = [Candidate.solution(SOLVE_PREFIX + r.text, r.finish_reason) for r in drawn]
        candidates.append(solutions if answered else [])
    return ledgers, candidates


def critique_all(roles: Roles, items: Sequence[tuple[Problem, Ledger, Candidate, int]]) -> None:
    """Critique every (problem, ledger, candidate, seed) in one critic call; verdicts in place."""
    requests = [
        problem.ask(
            critique_prompt(problem.text, candidate.steps), CRITIQUE_PREFIX, roles.decoding.critique(seed)
        )
        for problem, _, candidate, seed in items
    ]
    for (_, ledger, candidate, _), response in zip(items, generate(roles.critic, requests)):
        if ledger.add(response, "critic"):
            candidate.judge(CRITIQUE_PREFIX + response.text)
