"""READoc's end-to-end suite: per-document metrics, averages over defining documents, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.tasks.packages import import_task_module

suite = import_task_module("readoc", "suite")
document_scores, infer_subset, score_folders, subset_keys = (
    suite.document_scores, suite.infer_subset, suite.score_folders, suite.subset_keys)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "readoc"
needs_pandoc = pytest.mark.skipif(shutil.which("pandoc") is None,
                                  reason="the pandoc binary is not on PATH (scripts/install-pandoc installs it)")
needs_data = pytest.mark.skipif(not (DATA / "arxiv" / "markdown").is_dir(),
                                reason=f"READoc sample documents not found at {DATA} (see shared/data/readoc/SOURCE.md)")

DOCUMENT = """# Title

Some text with $x^2$ inline.

## Section

More words here.

$$E = mc^2$$

| a | b |
|---|---|
| 1 | 2 |
"""


@needs_pandoc
def test_a_document_against_itself_scores_one_on_every_defined_metric() -> None:
    scores = document_scores(DOCUMENT, DOCUMENT, "arxiv")
    assert set(scores) == set(subset_keys("arxiv"))
    assert all(value == pytest.approx(1.0) for value in scores.values()), scores


@needs_pandoc
def test_subsets_report_their_official_keys_and_undefined_metrics_are_absent() -> None:
    assert set(document_scores(DOCUMENT, DOCUMENT, "github")) == set(subset_keys("github"))
    assert "inline_eds" not in subset_keys("github") and "table_teds" in subset_keys("zenodo")
    plain = document_scores("Just one paragraph of words.", "Just one paragraph of words.", "arxiv")
    assert not {"head_eds", "head_teds", "inline_eds", "outline_eds", "table_eds", "table_teds"} & set(plain)


@needs_pandoc
@needs_data
@pytest.mark.parametrize("subset", ["arxiv", "github"])
def test_gold_scored_against_itself_gives_one_on_the_real_documents(subset: str) -> None:
    gold = DATA / subset / "markdown"
    result = score_folders(gold, gold, subset)
    assert len(result.per_document) == 7 and not result.missing_predictions
    assert result.official_json() == pytest.approx({key: 1.0 for key in result.official_json()})
    assert {"text_eds", "head_teds", "seg_kt", "word_sp"} <= set(result.official_json())


@needs_pandoc
def test_a_missing_prediction_scores_as_an_empty_document(tmp_path: Path) -> None:
    gold, pred = tmp_path / "arxiv" / "gold", tmp_path / "arxiv" / "pred"
    gold.mkdir(parents=True)
    pred.mkdir()
    (gold / "a.md").write_text(DOCUMENT)
    (gold / "b.md").write_text(DOCUMENT)
    (pred / "a.md").write_text(DOCUMENT)
    result = score_folders(gold, pred, "arxiv")
    assert result.missing_predictions == ["b"]
    assert result.per_document["b"]["text_eds"] == 0.0
    assert result.scores["text_eds"] == pytest.approx(0.5)


@needs_pandoc
def test_cli_prints_the_official_json_and_infers_the_subset(tmp_path: Path) -> None:
    gold = tmp_path / "github" / "markdown"
    gold.mkdir(parents=True)
    (gold / "a.md").write_text("# T\n\nwords and more words\n")
    result = CliRunner().invoke(app, ["readoc", "score", "--gold", str(gold), "--pred", str(gold), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == pytest.approx({key: 1.0 for key in (
        "text_eds", "text_f1", "head_eds", "head_teds", "seg_kt", "word_kt", "seg_sp", "word_sp")})
    assert infer_subset([tmp_path / "elsewhere"]) is None
    unknown = CliRunner().invoke(app, ["readoc", "score", "--gold", str(tmp_path), "--pred", str(tmp_path)])
    assert unknown.exit_code == 2 and "--subset" in unknown.output
