"""READoc hooks: each document's PDF, its S3 suite scores, and the official per-subset numbers."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from .suite import average, document_scores


def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """The PDF beside the gold Markdown: READoc keeps `<subset>/pdf/<id>.pdf` next to `<subset>/markdown/`."""
    return {"pdf": str(Path(row["path"]).parent.parent / "pdf" / f"{row['id']}.pdf")}


@lru_cache(maxsize=32)
def _document_scores(gold: str, predicted: str, subset: str) -> dict[str, float]:
    """All metrics of one document at once: the twelve metric labels read from one scoring."""
    return document_scores(gold, predicted, subset)


def readoc_metric(markdown: str, sample: Any, key: str) -> float | None:
    """One S3 metric of one document; None where the document does not define it (no gold headings,
    tables or formulas; a GitHub document's formulas), which leaves it out of the average as officially."""
    return _document_scores(sample.target, markdown, sample.data["subset"]).get(key)


def summarise(records: Sequence[Any], metrics: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The official result object per subset (suite_e2e.py's keys), extraction errors and time per page."""
    by_subset: dict[str, dict[str, dict[str, float]]] = {}
    for record in records:
        subset, _, document = record.id.partition("/")
        by_subset.setdefault(subset, {})[document] = {
            label.split("[")[0]: value for label, value in record.scores.items() if not math.isnan(value)}
    official = {subset: average(documents, subset)[0] for subset, documents in by_subset.items()}
    traces = {record.id: json.loads(record.trace) for record in records if record.trace}
    pages = sum(int(trace.get("pages") or 0) for trace in traces.values())
    seconds = sum(record.latency_s for record in records if not record.cached)
    errors = {sample: trace["extraction_error"] for sample, trace in traces.items() if trace.get("extraction_error")}
    return {
        "official": official,
        "headline": {f"{subset}/{key}": value for subset, scores in official.items() for key, value in scores.items()},
        "extraction_errors": errors,
        "pages": pages,
        "seconds_per_page": seconds / pages if pages and seconds else None,
        "note": "each metric averaged over the documents that define it, per subset (suite_e2e.py); "
                "a failed extraction scores as an empty document, as a missing output does officially",
    }
