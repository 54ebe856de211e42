"""RewardBench v1 hooks: each row's section, and the section and overall scores of a run."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from harness.scoring.rewardbench import (
    PRIOR_SECTION, prior_sets_score, section_of, subset_means, v1_overall, v1_section_scores,
)


def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """The section (Chat, Chat Hard, Safety, Reasoning, Prior Sets) of the row's subset."""
    return {"section": section_of(str(row["subset"]))}


def summarise(records: Sequence[Any], metrics: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Subset accuracies, sections weighted by EXAMPLE_COUNTS, and the official overall.

    A section with no samples in this run (a Prior Sets run, a `--limit` run) is None, and so
    is the overall unless all four core sections are present; Prior Sets join the overall only
    when present (weight 1 against 2 for each core section, as officially). `harness rm-report`
    combines a core run and a Prior Sets run of the same model.
    """
    accuracy = subset_means((record.groups["subset"], record.scores["accuracy"]) for record in records)
    sections: dict[str, float | None] = dict(v1_section_scores(accuracy))
    sections[PRIOR_SECTION] = prior_sets_score(accuracy)
    overall = v1_overall(sections)
    return {"subsets": accuracy, "sections": sections, "overall": overall,
            "headline": {**sections, "overall": overall},
            "note": "sections weighted by RewardBench's EXAMPLE_COUNTS (math-prm as 984); "
                    "overall = (2*Chat + 2*Chat Hard + 2*Safety + 2*Reasoning + Prior Sets) / 9, "
                    "Prior Sets masked when absent; None = not measured in this run"}
