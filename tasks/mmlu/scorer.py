"""MMLU's rows in either form (the official csv, the hub's parquet) as one, with each subject's category."""

from __future__ import annotations

from typing import Any, Mapping

from harness.errors import UsageError

LETTERS = "ABCD"

# lm-eval 0.4.13's subject -> category (the tag mmlu_<category>_tasks in mmlu/default/mmlu_<subject>.yaml);
# its groups mmlu_stem, mmlu_humanities, mmlu_social_sciences and mmlu_other average these.
CATEGORIES = {
    "abstract_algebra": "stem",
    "anatomy": "stem",
    "astronomy": "stem",
    "business_ethics": "other",
    "clinical_knowledge": "other",
    "college_biology": "stem",
    "college_chemistry": "stem",
    "college_computer_science": "stem",
    "college_mathematics": "stem",
    "college_medicine": "other",
    "college_physics": "stem",
    "computer_security": "stem",
    "conceptual_physics": "stem",
    "econometrics": "social_sciences",
    "electrical_engineering": "stem",
    "elementary_mathematics": "stem",
    "formal_logic": "humanities",
    "global_facts": "other",
    "high_school_biology": "stem",
    "high_school_chemistry": "stem",
    "high_school_computer_science": "stem",
    "high_school_european_history": "humanities",
    "high_school_geography": "social_sciences",
    "high_school_government_and_politics": "social_sciences",
    "high_school_macroeconomics": "social_sciences",
    "high_school_mathematics": "stem",
    "high_school_microeconomics": "social_sciences",
    "high_school_physics": "stem",
    "high_school_psychology": "social_sciences",
    "high_school_statistics": "stem",
    "high_school_us_history": "humanities",
    "high_school_world_history": "humanities",
    "human_aging": "other",
    "human_sexuality": "social_sciences",
    "international_law": "humanities",
    "jurisprudence": "humanities",
    "logical_fallacies": "humanities",
    "machine_learning": "stem",
    "management": "other",
    "marketing": "other",
    "medical_genetics": "other",
    "miscellaneous": "other",
    "moral_disputes": "humanities",
    "moral_scenarios": "humanities",
    "nutrition": "other",
    "philosophy": "humanities",
    "prehistory": "humanities",
    "professional_accounting": "other",
    "professional_law": "humanities",
    "professional_medicine": "other",
    "professional_psychology": "social_sciences",
    "public_relations": "social_sciences",
    "security_studies": "social_sciences",
    "sociology": "social_sciences",
    "us_foreign_policy": "social_sciences",
    "virology": "other",
    "world_religions": "humanities",
}


def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """`choices` (the four option texts), `answer` (the gold index) and `category`.

    The official csv keeps the options in columns A-D and the answer as a letter; the hub
    (cais/mmlu) keeps a `choices` list and an index. lm-eval's prompt reads the hub's form.
    """
    subject = str(row.get("subject") or row["subset"])
    if subject not in CATEGORIES:
        raise UsageError(f"MMLU subject {subject!r} is not one of the 57 (see tasks/mmlu/scorer.py CATEGORIES); "
                         "is this MMLU data?")
    if "choices" in row:
        return {"choices": list(row["choices"]), "answer": int(row["answer"]), "category": CATEGORIES[subject]}
    letter = str(row.get("answer", "")).strip()
    if letter not in LETTERS or not all(column in row for column in LETTERS):
        raise UsageError(f"MMLU {subject} row {str(row.get('question', ''))[:60]!r}: expected columns question, A, B, "
                         f"C, D and an answer letter A-D (got answer {letter!r}); is this an official MMLU csv?")
    return {"choices": [row[column] for column in LETTERS], "answer": LETTERS.index(letter),
            "category": CATEGORIES[subject]}
