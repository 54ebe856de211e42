"""Critic-CoT "critic as filter": sample n solutions, drop those the critic faults, majority-vote.

Follows the official `evaluate/eval_math_critic.py` (AlignRM/Critic-CoT): a solution is kept
unless some step is labelled incorrect (unstated steps count as fine), and the vote falls back
to the plain majority when nothing is kept, or when the few kept solutions disagree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from harness.adapters.critic_cot_requests import Candidate, Problem, Roles, critique_all, solve_all
from harness.types import Response

# Fewer kept solutions than min(MIN_KEPT, voters // KEPT_PER) that disagree are too few to trust.
MIN_KEPT = 6
KEPT_PER = 16


@dataclass(frozen=True)
class FilterVote:
    """The vote's outcome; `majority` is None only when no candidate has an answer."""

    chosen: int
    majority: int | None
    fallback: str | None


def plurality(candidates: Sequence[Candidate], indices: Sequence[int]) -> int:
    """The first of `indices` holding the most common answer.

    Ties go to the answer seen first, as `collections.Counter.most_common` breaks them in the
    official script.
    """
    counts = Counter(candidates[index].answer for index in indices)
    best = max(counts.values())
    return next(index for index in indices if counts[candidates[index].answer] == best)


def vote(candidates: Sequence[Candidate]) -> FilterVote:
    """Pick the answer; candidates without steps or answer never vote (the official drops them).

    If no candidate has an answer at all, the first candidate is returned as the response.
    """
    voters = [index for index, candidate in enumerate(candidates) if candidate.usable]
    if not voters:
        return FilterVote(chosen=0, majority=None, fallback="none-kept")
    majority = plurality(candidates, voters)
    kept = [index for index in voters if not candidates[index].rejected]
    if not kept:
        return FilterVote(chosen=majority, majority=majority, fallback="none-kept")
    # Official: len(original_predict_answer) // 16, where that list holds the usable samples
    # (n when every sample has steps and an answer).
    distinct = {candidates[index].answer for index in kept}
    if len(distinct) > 1 and len(kept) < min(MIN_KEPT, len(voters) // KEPT_PER):
        return FilterVote(chosen=majority, majority=majority, fallback="kept-disagree")
    return FilterVote(chosen=plurality(candidates, kept), majority=majority, fallback=None)


def filter_trace(candidates: Sequence[Candidate], outcome: FilterVote) -> dict[str, Any]:
    return {
        "adapter": "critic-cot",
        "mode": "filter",
        "n": len(candidates),
        "candidates": [candidate.trace() for candidate in candidates],
        "chosen": outcome.chosen,
        "majority": outcome.majority,
        "fallback": outcome.fallback,
    }


def run_filter(roles: Roles, problems: Sequence[Problem], n: int) -> list[Response]:
    """Answer a batch with one solver call (all n samples of all problems) and one critic call."""
    ledgers, candidates = solve_all(roles, problems, n)
    critique_all(roles, [
        (problem, ledger, candidate, problem.seed("critique", index))
        for problem, ledger, drawn in zip(problems, ledgers, candidates)
        for index, candidate in enumerate(drawn)
        if candidate.usable
    ])
    responses = []
    for ledger, drawn in zip(ledgers, candidates):
        if ledger.error is not None:
            responses.append(ledger.failure())
            continue
        outcome = vote(drawn)
        responses.append(ledger.response(drawn[outcome.chosen], filter_trace(drawn, outcome)))
    return responses
