"""The readoc task end to end: documents as samples, the S3 suite per document, outputs saved as files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import UsageError, evaluate
from harness.tasks.packages import import_task_module
from harness.types import Request, Response

score_folders = import_task_module("readoc", "suite").score_folders

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "readoc"
pytestmark = [
    pytest.mark.skipif(shutil.which("pandoc") is None, reason="the pandoc binary is not on PATH (scripts/install-pandoc)"),
    pytest.mark.skipif(not (DATA / "arxiv" / "markdown").is_dir(),
                       reason=f"READoc sample documents not found at {DATA} (see shared/data/readoc/SOURCE.md)"),
]


class FirstHalfExtractor:
    """Returns the first half of each gold document (read from the request's reference): a
    system that loses the end of every document, scored exactly like any extraction model."""

    name, chunk_size, cacheable = "first-half", 4, False

    def generate(self, requests: list[Request]) -> list[Response]:
        assert all(request.kind == "extract" and Path(request.document or "").is_file() for request in requests)
        return [Response(text=(request.reference or "")[: len(request.reference or "") // 2], trace={"pages": 2})
                for request in requests]

    def fingerprint(self) -> str:
        return "first-half"


def test_the_oracle_scores_one_on_every_metric_of_both_subsets(tmp_path: Path) -> None:
    result = evaluate("readoc", "oracle", data=DATA, run_dir=tmp_path / "run", use_cache=False)
    official = result.metrics["summary"]["official"]
    assert set(official) == {"arxiv", "github"}
    assert set(official["arxiv"]) == {"text_eds", "text_f1", "head_eds", "head_teds", "inline_eds", "outline_eds",
                                      "table_eds", "table_teds", "seg_kt", "word_kt", "seg_sp", "word_sp"}
    assert not {"inline_eds", "table_teds"} & set(official["github"])
    for scores in official.values():
        assert scores == pytest.approx({key: 1.0 for key in scores})
    # Documents without gold tables do not define table TEDS: undefined, not failed.
    tables = result.metrics["subsets"]["arxiv"]["table_teds[markdown]"]
    assert tables["undefined"] > 0 and tables["unscored"] == 0 and tables["complete"]
    assert tables["n"] + tables["undefined"] == 7
    github = result.metrics["subsets"]["github"]["table_teds[markdown]"]
    assert (github["value"], github["undefined"]) == (None, 7)


def test_responses_are_saved_per_document_and_rescore_to_the_run_numbers(tmp_path: Path) -> None:
    result = evaluate("readoc", FirstHalfExtractor(), data=DATA, run_dir=tmp_path / "run", use_cache=False,
                      task_args={"subsets": "github"})
    saved = sorted((tmp_path / "run" / "markdown" / "github").glob("*.md"))
    assert [path.stem for path in saved] == sorted(path.stem for path in (DATA / "github" / "markdown").glob("*.md"))
    rescored = score_folders(DATA / "github" / "markdown", tmp_path / "run" / "markdown" / "github", "github")
    assert rescored.official_json() == pytest.approx(result.metrics["summary"]["official"]["github"])
    assert 0.0 < rescored.scores["text_eds"] < 1.0
    assert result.metrics["summary"]["pages"] == 14


def test_a_document_template_is_required_for_extract_tasks(tmp_path: Path) -> None:
    folder = tmp_path / "tasks" / "readoc"
    shutil.copytree(Path(__file__).resolve().parents[1] / "tasks" / "readoc", folder)
    spec = folder / "task.yaml"
    spec.write_text(spec.read_text().replace('document: "{{ pdf }}"\n', ""))
    with pytest.raises(UsageError, match="needs `document:`"):
        evaluate("readoc", "oracle", data=DATA, runs_root=tmp_path, tasks_dirs=[tmp_path / "tasks"])


def test_bad_pdfs_and_malformed_markdown_are_scored_without_stopping_the_run(tmp_path: Path) -> None:
    pymupdf = pytest.importorskip("pymupdf", reason="the dse: backend needs pymupdf (pip install 'harness[readoc]')")
    pytest.importorskip("pymupdf4llm", reason="the dse: backend needs pymupdf4llm (pip install 'harness[readoc]')")
    gold, pdfs = tmp_path / "arxiv" / "markdown", tmp_path / "arxiv" / "pdf"
    gold.mkdir(parents=True)
    pdfs.mkdir()
    text = "# Results\n\nThe value is $\\frac{1}{$ broken.\n\n| a | b |\n| 1 |\n|---|\n\n\\begin{table}\\begin{tabular}{l}x\\end{table}\n"
    for name in ("good", "encrypted", "corrupt", "image", "missing"):
        (gold / f"{name}.md").write_text(text)
    document = pymupdf.open()
    document.new_page().insert_text((72, 72), "Results. The value is one half.")
    document.save(pdfs / "good.pdf")
    document.save(pdfs / "encrypted.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    (pdfs / "corrupt.pdf").write_bytes(b"%PDF-1.7 truncated")
    picture = pymupdf.open()
    picture.new_page().insert_image(pymupdf.Rect(0, 0, 100, 100), pixmap=document[0].get_pixmap())
    picture.save(pdfs / "image.pdf")
    result = evaluate("readoc", "dse:pymupdf4llm", data=tmp_path, run_dir=tmp_path / "run", use_cache=False,
                      task_args={"subsets": "arxiv"})
    errors = result.metrics["summary"]["extraction_errors"]
    assert set(errors) == {"arxiv/encrypted", "arxiv/corrupt", "arxiv/image", "arxiv/missing"}
    assert "encrypted" in errors["arxiv/encrypted"] and "no text layer" in errors["arxiv/image"]
    official = result.metrics["summary"]["official"]["arxiv"]
    assert 0.0 < official["text_eds"] < 1.0 and result.stats.errors == 0
