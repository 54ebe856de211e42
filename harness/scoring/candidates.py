"""Scores of the candidates an adapter drew on the way to its answer (Critic-CoT, voting).

An adapter's Response may carry a trace listing every candidate solution it generated, which one
it chose, which one a critic-free majority vote would have chosen, and which ones its critic
rejected. Scoring every candidate with the task's own extraction and scorers (the task does, one
batch per metric) lets a run report, beside the adapter's score, what plain majority voting and
pass@n give on the same samples, and how well the critic separated wrong candidates from right
ones (precision and recall with the incorrect class as positive, pooled over candidates as the
Critic-CoT evaluation pools them).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

MAJORITY = ":majority"
ANY = ":any"


def derived_labels(labels: Iterable[str]) -> list[str]:
    """The per-sample labels a traced run adds for each metric label."""
    return [f"{label}{suffix}" for label in labels for suffix in (MAJORITY, ANY)]


def score_candidates(trace: Mapping[str, Any],
                     scores: Sequence[Mapping[str, float]]) -> tuple[dict[str, Any], dict[str, float]]:
    """The trace with each candidate's scores (`scores`, in candidate order) and the derived scores.

    `L:majority` is the score of the critic-free majority answer, `L:any` is 1 when any candidate
    scores 1 (pass@n over the n candidates drawn).
    """
    candidates = [dict(candidate, scores=dict(candidate_scores))
                  for candidate, candidate_scores in zip(trace.get("candidates", ()), scores, strict=True)]
    scored = dict(trace, candidates=candidates)
    derived: dict[str, float] = {}
    if not candidates:
        return scored, derived
    majority = trace.get("majority")
    for label in candidates[0]["scores"]:
        values = [candidate["scores"][label] for candidate in candidates]
        known = [value for value in values if not math.isnan(value)]
        derived[label + ANY] = max(known) if known else math.nan
        if isinstance(majority, int) and 0 <= majority < len(candidates):
            derived[label + MAJORITY] = values[majority]
    return scored, derived


def filter_quality(traces: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Pooled precision, recall and F1 of the candidates' `rejected` flags, incorrect = positive.

    Correctness of a candidate is its score under each label; candidates the filter never
    judged (`rejected` missing or null) or with an unscored (NaN) value are left out. A ratio
    with a zero denominator is null.
    """
    quality = {}
    for label in labels:
        tp = fp = fn = tn = 0
        for trace in traces:
            for candidate in trace.get("candidates", ()):
                value = candidate.get("scores", {}).get(label, math.nan)
                if candidate.get("rejected") is None or math.isnan(value):
                    continue
                wrong, rejected = value < 1.0, bool(candidate["rejected"])
                tp += wrong and rejected
                fp += rejected and not wrong
                fn += wrong and not rejected
                tn += not wrong and not rejected
        if tp + fp + fn + tn == 0:
            continue
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
        quality[label] = {"precision": precision, "recall": recall, "f1": f1,
                          "accuracy": (tp + tn) / (tp + fp + fn + tn), "candidates": tp + fp + fn + tn,
                          "rejected": tp + fp, "incorrect": tp + fn}
    return quality
