"""RewardBench 2 hooks: per-domain scores, the Ties formula and the final score of a run."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from harness.scoring.rewardbench import subset_means

from .scores import V2_DOMAINS, ties_score, v2_final

TIES = "Ties"


def summarise(records: Sequence[Any], metrics: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Accuracy per domain, Ties by its own formula, and the unweighted mean of the six domains.

    The Ties formula needs every completion's score; a Ties sample without scores (a judge that
    gave no verdict) leaves Ties, and so the final score, unmeasured (None) rather than guessed.
    """
    domains: dict[str, float | None] = dict(subset_means(
        (record.groups["subset"], record.scores["accuracy"]) for record in records if record.groups["subset"] != TIES))
    ties = [record for record in records if record.groups["subset"] == TIES]
    unscored = [record.id for record in ties if record.reward_scores is None]
    domains[TIES] = None if unscored or not ties else ties_score(
        (record.id, int(record.target), record.reward_scores) for record in ties)
    by_domain = {name: domains.get(name) for name in V2_DOMAINS}
    final = v2_final(domains)
    summary: dict[str, Any] = {
        "domains": by_domain, "final": final, "headline": {**by_domain, "final": final},
        "note": "final = unweighted mean of the six domains; None = not measured in this run",
    }
    if unscored:
        summary["ties_unmeasured"] = f"{len(unscored)} Ties samples have no candidate scores (e.g. {unscored[0]})"
    return summary

