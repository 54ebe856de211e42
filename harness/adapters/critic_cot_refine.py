"""Critic-CoT iterative refine: critique one solution, correct it from its first wrong step, repeat.

Follows `infer_instance_iterative_refine` in the official `src/run_math_vllm.py`
(AlignRM/Critic-CoT): up to `max_depth` refine rounds per chain; a chain that never satisfies the
critic is abandoned and a new one starts from the original solution and its critique, up to
`max_restart` chains in all; if every chain fails, the last attempt is the answer. Problems of
one batch advance together, so each stage of a round is one generate call for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.adapters.critic_cot_requests import (
    Candidate,
    Ledger,
    Problem,
    Roles,
    critique_all,
    generate,
    solve_all,
)
from harness.adapters.critic_cot_steps import (
    REFINE_PREFIX,
    first_wrong_step,
    parse_correction,
    refine_prompt,
    refined_steps,
)
from harness.types import Response


@dataclass
class Chain:
    """One problem's refine progress; `candidates` holds every critiqued attempt, original first."""

    problem: Problem
    ledger: Ledger
    candidates: list[Candidate]
    current: Candidate = field(init=False)
    depth: int = 0
    rounds: int = 0
    restarts: int = 0
    active: bool = False

    def __post_init__(self) -> None:
        self.current = self.candidates[0]

    def start(self) -> None:
        """Refine only an original the critic judged and faulted."""
        original = self.candidates[0]
        self.active = self.ledger.error is None and original.critique is not None and original.rejected

    def advance(self, attempt: Candidate, max_depth: int, max_restart: int) -> None:
        """Record a critiqued attempt; go on from it, restart from the original, or stop."""
        self.candidates.append(attempt)
        self.rounds += 1
        self.depth += 1
        if self.ledger.error is not None or not attempt.rejected:
            self.active = False
        elif self.depth < max_depth:
            self.current = attempt
        elif self.restarts + 1 < max_restart:
            self.restarts += 1
            self.depth = 0
            self.current = self.candidates[0]
        else:
            self.active = False

    def seed(self, role: str) -> int:
        return self.problem.seed(role, self.restarts, self.depth)

    def trace(self) -> dict[str, Any]:
        return {
            "adapter": "critic-cot",
            "mode": "refine",
            "candidates": [candidate.trace() for candidate in self.candidates],
            "chosen": len(self.candidates) - 1,
            "rounds": self.rounds,
            "restarts": self.restarts,
        }


def refine_attempts(roles: Roles, chains: Sequence[Chain]) -> list[Candidate]:
    """Each chain's next attempt: its steps before the first wrong one plus the correction.

    As in the official code, an attempt stays as it was (and is critiqued again) when the
    critique names no usable wrong step or the refiner writes no closed `<correction>` block.
    """
    targets = [first_wrong_step(chain.current.critique or "", len(chain.current.steps)) for chain in chains]
    asked = [(chain, target) for chain, target in zip(chains, targets) if target is not None]
    requests = [
        chain.problem.ask(
            refine_prompt(chain.problem.text, chain.current.steps, criticism),
            REFINE_PREFIX,
            roles.decoding.refine(chain.seed("refine")),
        )
        for chain, (_, criticism) in asked
    ]
    outputs = {id(chain): response for (chain, _), response in zip(asked, generate(roles.critic, requests))}
    attempts = []
    for chain, target in zip(chains, targets):
        steps, finish_reason = chain.current.steps, chain.current.finish_reason
        response = outputs.get(id(chain))
        if target is not None and response is not None and chain.ledger.add(response, "refiner"):
            corrected = parse_correction(REFINE_PREFIX + response.text)
            if corrected is not None:
                steps, finish_reason = refined_steps(steps, target[0], corrected), response.finish_reason
        attempts.append(Candidate.attempt(steps, finish_reason))
    return attempts


def refine_round(roles: Roles, chains: Sequence[Chain], max_depth: int, max_restart: int) -> None:
    """One round for every active chain: one refine call, then one critique call."""
    attempts = refine_attempts(roles, chains)
    critique_all(roles, [
        (chain.problem, chain.ledger, attempt, chain.seed("critique"))
        for chain, attempt in zip(chains, attempts)
        if chain.ledger.error is None
    ])
    for chain, attempt in zip(chains, attempts):
        chain.advance(attempt, max_depth, max_restart)


def run_refine(roles: Roles, problems: Sequence[Problem], max_depth: int, max_restart: int) -> list[Response]:
    """Answer a batch: one sample per problem, critiqued, then refined round by round."""
    ledgers, drawn = solve_all(roles, problems, 1)
    # A problem gets no candidates only when its ledger holds the solver's error.
    chains = {
        position: Chain(problem, ledger, list(candidates))
        for position, (problem, ledger, candidates) in enumerate(zip(problems, ledgers, drawn))
        if candidates
    }
    critique_all(roles, [
        (chain.problem, chain.ledger, chain.candidates[0], chain.problem.seed("critique", 0))
        for chain in chains.values()
        if chain.candidates[0].steps
    ])
    for chain in chains.values():
        chain.start()
    while active := [chain for chain in chains.values() if chain.active]:
        refine_round(roles, active, max_depth, max_restart)
    return [
        ledger.failure() if ledger.error is not None
        else ledger.response(chains[position].candidates[-1], chains[position].trace())
        for position, ledger in enumerate(ledgers)
    ]
