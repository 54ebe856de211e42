"""TruthfulQA's rows in either form (the release's mc_task.json, the hub's parquet) as one."""

from __future__ import annotations

from typing import Any, Mapping

from harness.errors import UsageError

TARGET_SETS = ("mc1_targets", "mc2_targets")


def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """Each target set as the hub's `{choices, labels}`, and `mc1_gold` / `mc2_gold`: the indices
    of its true answers (labelled 1).

    The release keeps each set as `{answer: label}` in order; the hub (truthful_qa,
    multiple_choice) splits it into two lists. lm-eval's mc2 sums the probability of the options
    labelled 1, wherever they stand (two questions list a false answer before a true one); its mc1
    takes option 0 as the true one, which it is in every question of the release.
    """
    derived: dict[str, Any] = {}
    for key in TARGET_SETS:
        targets = row.get(key)
        if isinstance(targets, Mapping) and "choices" not in targets:
            targets = {"choices": list(targets), "labels": list(targets.values())}
        if not isinstance(targets, Mapping) or 1 not in targets.get("labels", ()):
            raise UsageError(f"TruthfulQA question {str(row.get('question'))[:60]!r}: {key} is {targets!r}, not a set of "
                             "answers labelled 0/1 with a true one; is this the multiple_choice data (mc_task.json)?")
        derived[key] = {"choices": list(targets["choices"]), "labels": list(targets["labels"])}
        derived[key.replace("targets", "gold")] = [i for i, label in enumerate(targets["labels"]) if label == 1]
    return derived
