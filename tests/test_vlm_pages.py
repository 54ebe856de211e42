"""`vlm:` per-page extraction: rendering, one inner call per chunk, page joining, bad PDFs."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Sequence

import pytest

from harness import UsageError
from harness.adapters.vlm_pages import VLMPagesModel
from harness.registry import MODELS
from harness.types import GenerationSettings, Request, Response

pymupdf = pytest.importorskip("pymupdf", reason="pymupdf renders the pages (pip install 'harness[readoc]')")
Image = pytest.importorskip("PIL.Image", reason="Pillow encodes the pages as JPEG")


class PageReader:
    """Answers each page with its size and the text the test drew on it (read back from nothing
    but the image: the page number is encoded in the image height)."""

    calls: list[list[Request]] = []

    def __init__(self, name: str = "", chunk_size: int = 8) -> None:
        self.name, self.chunk_size, self.cacheable = name or "page-reader", chunk_size, True

    def fingerprint(self) -> str:
        return "page-reader"

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        PageReader.calls.append(list(requests))
        answers = []
        for request in requests:
            (message,) = request.messages or ()
            (url,) = message.images
            assert url.startswith("data:image/jpeg;base64,")
            image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
            answers.append(Response(text=f"  page {image.width}x{image.height} seed {request.settings.seed}  "))
        return answers


MODELS.register("page-reader", PageReader)


def make_pdf(path: Path, pages: int, encrypted: bool = False) -> Path:
    document = pymupdf.open()
    for number in range(pages):
        page = document.new_page(width=200, height=100 + 10 * number)
        page.insert_text((20, 40), f"Page {number + 1}")
    options = {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "user_pw": "u", "owner_pw": "o"} if encrypted else {}
    document.save(path, **options)
    return path


def extract(path: Path, seed: int | None = 5, max_tokens: int = 2048) -> Request:
    return Request(kind="extract", sample_id=path.stem, prompt="Convert this page.", document=str(path),
                   settings=GenerationSettings(max_tokens=max_tokens, temperature=0.7, top_p=0.8, seed=seed))


def test_pages_render_at_3x_and_join_in_order_in_one_inner_call(tmp_path: Path) -> None:
    PageReader.calls.clear()
    model = VLMPagesModel("page-reader", cache=False)
    first, second = make_pdf(tmp_path / "a.pdf", 2), make_pdf(tmp_path / "b.pdf", 1)
    responses = model.generate([extract(first), extract(second)])
    assert len(PageReader.calls) == 1 and len(PageReader.calls[0]) == 3
    assert responses[0].text == "page 600x300 seed 5\n\npage 600x330 seed 6"  # 3x zoom; seed + page index
    assert responses[1].text == "page 600x300 seed 5" and responses[0].trace == {"pages": 2}
    ask = PageReader.calls[0][0]
    assert ask.messages[0].content == "Convert this page." and ask.settings.top_p == 0.8


def test_an_encrypted_or_corrupt_pdf_is_an_empty_document_with_the_reason(tmp_path: Path) -> None:
    corrupt = tmp_path / "c.pdf"
    corrupt.write_bytes(b"%PDF-1.4 not really")
    responses = VLMPagesModel("page-reader", cache=False).generate(
        [extract(make_pdf(tmp_path / "e.pdf", 1, encrypted=True)), extract(corrupt), extract(make_pdf(tmp_path / "ok.pdf", 1))])
    assert responses[0].text == "" and "encrypted" in responses[0].trace["extraction_error"]
    assert responses[1].text == "" and "cannot render" in responses[1].trace["extraction_error"]
    assert responses[2].text.startswith("page") and responses[0].error is None


def test_images_are_sent_as_openai_image_parts_and_text_only_backends_refuse_them(tiny_model_dir: Path, tmp_path: Path) -> None:
    from harness.models.openai import chat_messages

    model = VLMPagesModel("page-reader", cache=False)
    ask = model._ask(extract(make_pdf(tmp_path / "a.pdf", 1)), 0, "data:image/jpeg;base64,AAAA")
    assert chat_messages(ask) == [{"role": "user", "content": [
        {"type": "text", "text": "Convert this page."},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}]}]
    with pytest.raises(UsageError, match="reads text only"):
        VLMPagesModel(f"hf:{tiny_model_dir}", cache=False).generate([extract(make_pdf(tmp_path / "b.pdf", 1), max_tokens=8)])


def test_bad_arguments_and_requests_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown vlm argument"):
        VLMPagesModel("page-reader", zom=2)
    with pytest.raises(UsageError, match="answers extract requests"):
        VLMPagesModel("page-reader", cache=False).generate([Request(kind="generate", sample_id="x", prompt="p")])
