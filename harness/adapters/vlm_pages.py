"""`vlm:` a vision-language model as a document extractor, page by page, as READoc's VLM runs do.

`--model "vlm:openai:gpt-4o-mini"` or `vlm:vllm:Qwen/Qwen2-VL-7B-Instruct` wraps any chat backend
that takes images (openai:, vllm:) and answers `extract` requests: every page of the PDF is
rendered at `zoom` 3 and encoded as JPEG quality 95, then sent with the request's prompt (the
task's per-subset instruction) as one user turn; the page outputs, each stripped, are joined by
blank lines (`src/pdf_to_markdown/vlm_gpt-4o-mini.py`). Decoding comes from the request (the task
sets READoc's max_tokens 2048, temperature 0.7, top-p 0.8); page k of a document is drawn with
seed `seed + k`, so a rerun reproduces it. All pages of a chunk of documents go to the inner model
in one call, through the response cache, so an interrupted run resumes without asking again.

A PDF that cannot be opened or rendered scores as an empty document (the trace says why), as a
missing output does officially; a page the inner model failed to answer leaves the document
unscored (`error`), since its Markdown would be incomplete.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any, Sequence

from harness.errors import UsageError
from harness.models.base import inner_spec, load_model, require_kind
from harness.models.cached import CachedModel
from harness.store.cache import ResponseCache, default_cache_dir
from harness.types import Message, Request, Response

# Bump when a change here changes outputs, so answers cached from the old code are not reused.
ADAPTER_REVISION = 1
INNER_PREFIX = "vlm."


class VLMPagesModel:
    """Per-page extraction with any image-capable chat model (see the module docstring)."""

    def __init__(self, name: str, *, zoom: float = 3.0, jpeg_quality: int = 95, cache: bool = True,
                 cache_dir: str | None = None, **inner_args: Any) -> None:
        if not name:
            raise UsageError("vlm needs a chat model that reads images, e.g. vlm:openai:gpt-4o-mini")
        unknown = [key for key in inner_args if not key.startswith(INNER_PREFIX) or key == INNER_PREFIX]
        if unknown:
            raise UsageError(f"unknown vlm argument(s) {', '.join(unknown)}; valid: zoom, jpeg_quality, cache, "
                             "cache_dir, vlm.<argument of the inner model>")
        if zoom <= 0 or not 1 <= jpeg_quality <= 100:
            raise UsageError(f"vlm: zoom={zoom}, jpeg_quality={jpeg_quality}: use zoom > 0 and quality 1-100")
        inner = load_model(inner_spec(name, {k[len(INNER_PREFIX):]: v for k, v in inner_args.items()}))
        store = ResponseCache(Path(cache_dir) if cache_dir else default_cache_dir()) if cache else None
        self.inner = CachedModel(inner, store) if store is not None else inner
        self.name = f"vlm:{name}"
        self.zoom, self.jpeg_quality = zoom, jpeg_quality
        self.chunk_size = 2  # documents per call: their pages make one inner batch
        self.cacheable = inner.cacheable

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Render every page, ask for all of them in one inner call, join each document's pages."""
        require_kind(requests, "extract", self.name, "reads documents page by page", "readoc")
        began = time.perf_counter()
        pages = [self._pages(request.document or "") for request in requests]
        asks = [self._ask(request, index, image) for request, images in zip(requests, pages)
                if isinstance(images, list) for index, image in enumerate(images)]
        answers = iter(self.inner.generate(asks) if asks else [])
        share = (time.perf_counter() - began) / max(1, len(requests))
        return [_document(images, [next(answers) for _ in images] if isinstance(images, list) else [], share)
                for images in pages]

    def fingerprint(self) -> str:
        identity = {"adapter": "vlm", "revision": ADAPTER_REVISION, "inner": self.inner.fingerprint(),
                    "zoom": self.zoom, "jpeg_quality": self.jpeg_quality}
        return "vlm:" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def _pages(self, path: str) -> list[str] | str:
        """Each page as a JPEG data URL, or the reason the PDF could not be rendered."""
        try:
            import pymupdf
            from PIL import Image
        except ImportError as error:
            raise UsageError(f"vlm: needs pymupdf and Pillow to render pages: pip install 'harness[readoc]' ({error})")
        try:
            with pymupdf.open(path) as document:
                if document.needs_pass:
                    return "the PDF is encrypted and no password was given"
                urls = []
                for page in document:
                    pixmap = page.get_pixmap(matrix=pymupdf.Matrix(self.zoom, self.zoom), alpha=False)
                    image = Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)
                    buffer = io.BytesIO()
                    image.save(buffer, "JPEG", quality=self.jpeg_quality)
                    urls.append("data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
                return urls
        except Exception as error:  # pymupdf raises many types for damaged files; each is the document's fault
            return f"cannot render the PDF: {type(error).__name__}: {error}"

    @staticmethod
    def _ask(request: Request, index: int, image: str) -> Request:
        settings = request.settings
        if settings.seed is not None:
            settings = dataclasses.replace(settings, seed=settings.seed + index)
        return Request(kind="generate", sample_id=f"{request.sample_id}/page{index + 1}", attempt=request.attempt,
                       messages=(Message("user", request.prompt or "", images=(image,)),), settings=settings)


def _document(images: list[str] | str, answers: list[Response], latency_s: float) -> Response:
    """The document's Markdown from its pages' answers (or its extraction error)."""
    if isinstance(images, str):
        return Response(text="", latency_s=latency_s, trace={"pages": None, "extraction_error": images})
    failed = next((answer for answer in answers if answer.error), None)
    if failed is not None:
        return Response(error=f"a page was not answered: {failed.error}", latency_s=latency_s)
    text = "".join(answer.text.strip() + "\n\n" for answer in answers).strip()
    return Response(text=text, latency_s=latency_s, trace={"pages": len(answers)},
                    input_tokens=_total(answer.input_tokens for answer in answers),
                    output_tokens=_total(answer.output_tokens for answer in answers))


def _total(counts: Any) -> int | None:
    values = list(counts)
    return None if any(value is None for value in values) else sum(values)
