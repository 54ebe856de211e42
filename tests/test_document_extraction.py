"""The dse: backend: PDFs to Markdown with pipeline tools; bad documents become empty outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.models.base import load_model
from harness.models.document_extraction import DocumentExtractionModel, page_count
from harness.types import Request

pymupdf = pytest.importorskip("pymupdf", reason="pymupdf is not installed: pip install 'harness[readoc]'")
# A 6-page arXiv paper, the quickest of the sample PDFs to convert (about 2 s).
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "readoc" / "arxiv" / "pdf" / "2112.02325.pdf"
WORDS = "Harness extracts quarterly rainfall"


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


TOOLS = [pytest.param(tool, marks=pytest.mark.skipif(not _installed(tool), reason=f"{tool} is not installed: "
                                                     "pip install 'harness[readoc]'"))
         for tool in ("pymupdf4llm", "pdfplumber")]


def extract(path: Path | str) -> Request:
    return Request(kind="extract", sample_id="doc", prompt="Convert this page to Markdown.", document=str(path))


def text_pdf(path: Path, pages: int = 2) -> Path:
    document = pymupdf.open()
    for number in range(pages):
        document.new_page().insert_text((72, 72), f"{WORDS} page {number + 1}", fontsize=12)
    document.save(path)
    return path


@pytest.fixture()
def encrypted_pdf(tmp_path: Path) -> Path:
    document = pymupdf.open()
    document.new_page().insert_text((72, 72), WORDS, fontsize=12)
    path = tmp_path / "encrypted.pdf"
    document.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="owner")
    return path


@pytest.fixture()
def image_only_pdf(tmp_path: Path) -> Path:
    """A page holding only a picture of text, as a scan without OCR has."""
    source = pymupdf.open()
    source.new_page().insert_text((72, 72), WORDS, fontsize=24)
    picture = source[0].get_pixmap(dpi=72)
    document = pymupdf.open()
    page = document.new_page()
    page.insert_image(page.rect, pixmap=picture)
    path = tmp_path / "scan.pdf"
    document.save(path)
    return path


@pytest.fixture()
def corrupt_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.pdf"
    path.write_bytes(b"%PDF-1.7\n\x00\x13 not a pdf at all \xff" * 20)
    return path


@pytest.mark.parametrize("tool", TOOLS)
def test_a_text_pdf_becomes_markdown_holding_its_words(tool: str, tmp_path: Path) -> None:
    [response] = DocumentExtractionModel(tool).generate([extract(text_pdf(tmp_path / "text.pdf"))])
    assert WORDS in response.text and "page 2" in response.text
    assert response.error is None and response.latency_s > 0
    assert response.trace is not None and response.trace["pages"] == 2 and response.trace["tool"] == tool
    assert "extraction_error" not in response.trace


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("bad, reason", [("encrypted_pdf", "encrypted"), ("corrupt_pdf", "unreadable"),
                                         ("image_only_pdf", "no text layer")])
def test_a_bad_document_is_an_empty_output_that_says_why(tool: str, bad: str, reason: str,
                                                         request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(bad)
    [response] = DocumentExtractionModel(tool).generate([extract(path)])
    assert response.text == "" and response.error is None
    assert response.trace is not None and response.trace["extraction_error"].startswith(reason)
    assert response.trace["pages"] == (None if bad == "corrupt_pdf" else 1)


@pytest.mark.parametrize("tool", TOOLS)
def test_a_missing_file_is_an_empty_output_and_the_rest_are_converted(tool: str, tmp_path: Path) -> None:
    missing, good = extract(tmp_path / "absent.pdf"), extract(text_pdf(tmp_path / "text.pdf"))
    first, second = DocumentExtractionModel(tool).generate([missing, good])
    assert first.text == "" and first.trace is not None and "unreadable" in first.trace["extraction_error"]
    assert WORDS in second.text


@pytest.mark.skipif(not _installed("pymupdf4llm"), reason="pymupdf4llm is not installed: pip install 'harness[readoc]'")
def test_a_tool_failure_is_an_empty_output_and_its_chatter_goes_to_the_trace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    import pymupdf4llm

    def failing_tool(path: str) -> str:
        print("Processing 1/1")
        pymupdf.message("MuPDF warning: broken xref")
        raise ValueError("bad object 12")

    monkeypatch.setattr(pymupdf4llm, "to_markdown", failing_tool)
    [response] = DocumentExtractionModel("pymupdf4llm").generate([extract(text_pdf(tmp_path / "text.pdf"))])
    assert response.text == "" and response.error is None and response.trace is not None
    assert response.trace["extraction_error"] == "pymupdf4llm failed: ValueError: bad object 12"
    assert response.trace["tool_messages"] == "Processing 1/1\nMuPDF warning: broken xref"
    assert capfd.readouterr() == ("", "")


def test_layout_engine_without_ocr_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pymupdf.layout", reason="pymupdf-layout is not installed (pymupdf4llm's layout engine)")
    model = DocumentExtractionModel("pymupdf4llm", layout=True)
    [response] = model.generate([extract(text_pdf(tmp_path / "text.pdf"))])
    assert WORDS in response.text
    assert capfd.readouterr() == ("", "")  # pymupdf4llm's default (OCR on) prints "RapidOCR is missing"
    assert "layout=true,ocr=false" in model.fingerprint()


@pytest.mark.skipif(not _installed("pdfplumber"), reason="pdfplumber is not installed: pip install 'harness[readoc]'")
def test_pdfplumber_writes_a_ruled_grid_as_a_markdown_table_once(tmp_path: Path) -> None:
    document = pymupdf.open()
    page = document.new_page()
    page.insert_text((72, 60), "Rainfall by city", fontsize=11)
    for row, cells in enumerate((("City", "Rain"), ("Oslo", "12"), ("Lima", "3"))):
        for column, cell in enumerate(cells):
            box = pymupdf.Rect(72 + 100 * column, 80 + 20 * row, 172 + 100 * column, 100 + 20 * row)
            page.draw_rect(box, color=(0, 0, 0), width=0.5)
            page.insert_text((box.x0 + 4, box.y1 - 6), cell, fontsize=10)
    page.insert_text((72, 160), "Source: a test.", fontsize=11)
    document.save(tmp_path / "table.pdf")
    [response] = DocumentExtractionModel("pdfplumber").generate([extract(tmp_path / "table.pdf")])
    assert response.text == ("Rainfall by city\n\n| City | Rain |\n| --- | --- |\n| Oslo | 12 |\n| Lima | 3 |\n\n"
                             "Source: a test.")


def test_unknown_tools_and_misplaced_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown tool 'marker'.*pdfplumber, pymupdf4llm"):
        load_model("dse:marker")
    with pytest.raises(UsageError, match="layout=true applies to dse:pymupdf4llm only"):
        DocumentExtractionModel("pdfplumber", layout=True)


@pytest.mark.parametrize("tool", TOOLS)
def test_requests_other_than_extract_are_usage_errors(tool: str) -> None:
    with pytest.raises(UsageError, match="answers extract requests.*not 'generate'"):
        DocumentExtractionModel(tool).generate([Request(kind="generate", sample_id="q", prompt="2+2=")])


@pytest.mark.skipif(not (_installed("pymupdf4llm") and _installed("pdfplumber")),
                    reason="needs both tools: pip install 'harness[readoc]'")
def test_fingerprints_name_the_tool_its_versions_and_settings() -> None:
    pymupdf4llm, pdfplumber = (DocumentExtractionModel(tool).fingerprint() for tool in ("pymupdf4llm", "pdfplumber"))
    assert pymupdf4llm != pdfplumber
    assert f"pymupdf={pymupdf.__version__}" in pymupdf4llm and "layout=false,ocr=false" in pymupdf4llm
    assert f"pdfplumber={__import__('pdfplumber').__version__}" in pdfplumber


@pytest.mark.skipif(not SAMPLE.is_file(), 
                    reason=f"READoc sample PDF not found: {SAMPLE} (see shared/data/readoc/SOURCE.md)")
@pytest.mark.skipif(not _installed("pymupdf4llm"), reason="pymupdf4llm is not installed: pip install 'harness[readoc]'")
def test_a_readoc_sample_pdf_converts_with_every_page_counted() -> None:
    [response] = load_model("dse:pymupdf4llm").generate([extract(SAMPLE)])
    assert len(response.text) > 1000 and "extraction_error" not in (response.trace or {})
    assert response.trace is not None and response.trace["pages"] == page_count(str(SAMPLE)) == 6
