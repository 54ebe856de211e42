"""READoc's end-to-end score of a folder of predicted Markdown against the gold Markdown.

Per document, gold and prediction are standardized and segmented alike, then each component is
scored (`file_evaluate` of the official `suite_e2e.py`); each metric is then averaged over the
documents where it is defined (a document without gold headings, tables or formulas leaves
those averages), and the subset decides which components count: arXiv all, GitHub no formulas
or tables, Zenodo no formulas. A missing prediction scores as an empty document, as officially.

Reported keys are the official ones (`text_eds`, `text_f1`, `head_eds`, `head_teds`,
`inline_eds`, `outline_eds`, `table_eds`, `table_teds`, `seg_kt`, `word_kt`, `seg_sp`,
`word_sp`). Where no gold document defines a metric the official script fails with a KeyError;
we leave the key out and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from harness.errors import UsageError
from .metrics import (
    concatenated_metrics,
    heading_teds,
    segment_order,
    table_metrics,
    word_order,
)
from .segment import Materials, segment
from .standardize import standardize

SUBSETS = ("arxiv", "github", "zenodo")
METRIC_KEYS = ("text_eds", "text_f1", "head_eds", "head_teds", "inline_eds", "outline_eds",
               "table_eds", "table_teds", "seg_kt", "word_kt", "seg_sp", "word_sp")
MATH_KEYS = ("inline_eds", "outline_eds")
TABLE_KEYS = ("table_eds", "table_teds")


def subset_keys(subset: str) -> tuple[str, ...]:
    """The metrics a subset reports (suite_e2e.py: GitHub has no math or tables, Zenodo no math)."""
    if subset not in SUBSETS:
        raise UsageError(f"READoc subset {subset!r}: use one of {', '.join(SUBSETS)}")
    dropped = {"arxiv": (), "github": MATH_KEYS + TABLE_KEYS, "zenodo": MATH_KEYS}[subset]
    return tuple(key for key in METRIC_KEYS if key not in dropped)


def document_scores(gold_markdown: str, predicted_markdown: str, subset: str) -> dict[str, float]:
    """The defined metrics of one document: a metric whose gold component is empty is absent."""
    keys = subset_keys(subset)
    gold, pred = segment(standardize(gold_markdown)), segment(standardize(predicted_markdown))
    scores: dict[str, float | None] = {}
    text = concatenated_metrics(pred.plain.strip(), gold.plain.strip())
    scores["text_eds"], scores["text_f1"] = text.get("edit_dist_sim"), text.get("f_measure")
    if gold.heads:
        scores["head_eds"] = concatenated_metrics(_joined(pred.heads), _joined(gold.heads)).get("edit_dist_sim")
        scores["head_teds"] = heading_teds(pred.heads, gold.heads)
    if "inline_eds" in keys:
        scores["inline_eds"] = concatenated_metrics(_joined(pred.inline), _joined(gold.inline)).get("edit_dist_sim")
        scores["outline_eds"] = concatenated_metrics(_joined(pred.outline), _joined(gold.outline)).get("edit_dist_sim")
    if "table_eds" in keys:
        concatenated, mapped = table_metrics(gold.tables, pred.tables)
        scores["table_eds"], scores["table_teds"] = concatenated.get("edit_dist_sim"), mapped.get("teds_min")
    scores.update(_order_scores(gold, pred))
    return {key: float(value) for key, value in scores.items() if key in keys and value is not None}


def _joined(items: list[str]) -> str:
    """Components are compared as one string, joined by newlines (`"\\n".join(...).strip()`)."""
    return "\n".join(items).strip()


def _order_scores(gold: Materials, pred: Materials) -> dict[str, float | None]:
    """Reading order; undefined (absent) when gold has no segments or at most one word, as officially."""
    segments = segment_order(pred.segments, gold.segments)
    words = word_order(pred.overall, gold.overall)
    return {"seg_kt": segments.get("kendall_tau"), "seg_sp": segments.get("spearmanr"),
            "word_kt": words.get("kendall_tau"), "word_sp": words.get("spearmanr")}


@dataclass
class SuiteResult:
    """Averages over the documents defining each metric, with how many did; per-document scores."""

    subset: str
    scores: dict[str, float]
    documents_defining: dict[str, int]
    per_document: dict[str, dict[str, float]] = field(default_factory=dict)
    missing_predictions: list[str] = field(default_factory=list)

    def official_json(self) -> dict[str, float]:
        """The official result file's object: its keys, in its order, undefined ones absent."""
        return {key: self.scores[key] for key in subset_keys(self.subset) if key in self.scores}


def average(per_document: Mapping[str, Mapping[str, float]], subset: str) -> tuple[dict[str, float], dict[str, int]]:
    """Each metric's mean over the documents where it is defined."""
    scores, counts = {}, {}
    for key in subset_keys(subset):
        values = [scores_of_doc[key] for scores_of_doc in per_document.values() if key in scores_of_doc]
        if values:
            scores[key], counts[key] = sum(values) / len(values), len(values)
    return scores, counts


def score_folders(gold_dir: Path, pred_dir: Path, subset: str) -> SuiteResult:
    """`suite_e2e.py`: every `*.md` in `gold_dir` against the same name in `pred_dir`."""
    subset_keys(subset)
    if not gold_dir.is_dir():
        raise UsageError(f"--gold {gold_dir} is not a folder of gold Markdown files (<id>.md)")
    if not pred_dir.is_dir():
        raise UsageError(f"--pred {pred_dir} is not a folder; predictions are <id>.md files named like the gold ones")
    gold_files = sorted(gold_dir.glob("*.md"))
    if not gold_files:
        raise UsageError(f"--gold {gold_dir} holds no .md files")
    per_document, missing = {}, []
    for gold_file in gold_files:
        prediction = pred_dir / gold_file.name
        if not prediction.is_file():
            missing.append(gold_file.stem)
        per_document[gold_file.stem] = document_scores(_read(gold_file), _read(prediction) if prediction.is_file() else "",
                                                       subset)
    scores, counts = average(per_document, subset)
    return SuiteResult(subset, scores, counts, per_document, missing)


def infer_subset(paths: Iterable[Path]) -> str | None:
    """arxiv, github or zenodo when a path names exactly one of them (READoc's folder layout)."""
    found = {part.lower() for path in paths for part in path.resolve().parts} & set(SUBSETS)
    return found.pop() if len(found) == 1 else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error}") from error
