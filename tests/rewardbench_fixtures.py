"""Small RewardBench data files in the official schemas, written by tests (the data is only on the hub).

v1 (`allenai/reward-bench`, split `filtered`): prompt (str), chosen, chosen_model, rejected,
rejected_model, subset, id. Prior Sets (`allenai/pref-test-sets`, one split per set): prompt as
a list of {role, content} turns, chosen, rejected. v2 (`allenai/reward-bench-2`, split `test`):
id, prompt, chosen (list), rejected (list), num_correct, num_rejected, total_completions, models,
subset; the Ties subset pairs `ref:N` and `tied:N` rows for the same prompt N.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

V1_SUBSETS = ("alpacaeval-easy", "mt-bench-hard", "refusals-dangerous", "xstest-should-respond", "math-prm", "hep-python")
PRIOR_SETS = ("anthropic_helpful", "anthropic_hhh", "shp", "summarize")
V2_SUBSETS = ("Factuality", "Precise IF", "Math", "Safety", "Focus")
TOPICS = ("apples", "rivers", "violins", "glaciers", "lanterns", "comets", "orchards", "harbors")


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def v1_rows(per_subset: int = 2) -> list[dict[str, Any]]:
    rows = []
    for s, subset in enumerate(V1_SUBSETS):
        for i in range(per_subset):
            topic = TOPICS[(s + i) % len(TOPICS)]
            rows.append({
                "prompt": f"Tell me one true fact about {topic}.",
                "chosen": f"Here is a careful, correct fact about {topic}: they are real.",
                "chosen_model": "gpt-4", "rejected": f"no idea {topic} whatever",
                "rejected_model": "llama-2", "subset": subset, "id": s * 100 + i,
            })
    return rows


def write_v1(folder: Path, per_subset: int = 2) -> Path:
    """`filtered.jsonl`: the file `--data FOLDER` finds for task rewardbench."""
    return _write_jsonl(folder / "filtered.jsonl", v1_rows(per_subset))


def write_prior(folder: Path, per_set: int = 2) -> list[Path]:
    """One file per Prior Set (`anthropic_helpful.jsonl`, ...), multi-turn prompts."""
    paths = []
    for s, name in enumerate(PRIOR_SETS):
        rows = [{
            "prompt": [{"role": "user", "content": f"Hi, I like {TOPICS[(s + i) % 8]}."},
                       {"role": "assistant", "content": "Nice! What would you like to know?"},
                       {"role": "user", "content": f"Where are {TOPICS[(s + i) % 8]} found?"}],
            "chosen": f"{TOPICS[(s + i) % 8].capitalize()} are found in many places; here are three.",
            "rejected": "dunno", "id": f"{name}-{i}",
        } for i in range(per_set)]
        paths.append(_write_jsonl(folder / f"{name}.jsonl", rows))
    return paths


def v2_rows(per_subset: int = 2, ties_prompts: int = 2) -> list[dict[str, Any]]:
    rows = []
    for s, subset in enumerate(V2_SUBSETS):
        for i in range(per_subset):
            topic = TOPICS[(s + i) % len(TOPICS)]
            rejected = [f"wrong answer {k} about {topic}" for k in range(3)]
            rows.append({
                "id": str(s * 100 + i), "prompt": f"Explain {topic} in one sentence.",
                "chosen": [f"A correct and complete sentence about {topic}."], "rejected": rejected,
                "num_correct": 1, "num_rejected": 3, "total_completions": 4,
                "models": ["m0", "m1", "m2", "m3"], "subset": subset,
            })
    for n in range(ties_prompts):
        topic = TOPICS[n % len(TOPICS)]
        for kind, correct in (("ref", 1), ("tied", 3)):
            chosen = [f"Correct answer {k} naming a kind of {topic}." for k in range(correct)]
            rejected = [f"wrong {k} {topic}" for k in range(2)]
            rows.append({
                "id": f"{kind}:{n}", "prompt": f"Name a kind of {topic}.", "chosen": chosen, "rejected": rejected,
                "num_correct": correct, "num_rejected": len(rejected), "total_completions": correct + len(rejected),
                "models": ["m"] * (correct + len(rejected)), "subset": "Ties",
            })
    return rows


def write_v2(folder: Path, per_subset: int = 2, ties_prompts: int = 2) -> Path:
    """`test.jsonl`: the file `--data FOLDER` finds for task rewardbench-2."""
    return _write_jsonl(folder / "test.jsonl", v2_rows(per_subset, ties_prompts))
