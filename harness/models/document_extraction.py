"""`dse:TOOL` turns each extract request's PDF into Markdown with an offline pipeline tool.

These are READoc's non-neural baselines: no model, no prompt (the request's instruction is for
vision-language models and is ignored here). Tools:

- `pymupdf4llm`: `pymupdf4llm.to_markdown(path)` with default arguments (READoc's script runs
  `src/pdf_to_markdown/baseline_pymupdf4llm.py`, which its public repository does not include).
  READoc's runs predate pymupdf4llm's layout engine (a GNN layout model, its default in 2.x
  whenever pymupdf-layout is installed, as pymupdf 2.0 requires) and its OCR, so by default we
  select the original text-layer engine (`use_layout(False)`, which has no OCR; pymupdf4llm
  releases without `use_layout` have only that engine). `layout=true` selects the layout engine, with
  OCR off (`use_ocr=False`): with OCR on, output would depend on whether RapidOCR or Tesseract
  happens to be installed (without either, pymupdf4llm only prints "RapidOCR is missing").
- `pdfplumber`: a plain baseline of ours. Each page's text lines, top to bottom as pdfplumber
  clusters them (no column detection, no headings); ruled grids of at least two rows and two
  columns as Markdown tables in their place (a one-column grid is a framed box, such as a code
  listing, and stays text); pages joined by blank lines. Words split at gaps over 1.5 pt, not
  pdfplumber's default 3 pt, which glues tightly set words ("Configatronmakesconfiguring"): on the
  14 READoc sample PDFs 12% of the words it found were not in the gold text, 4.4% at 1.5 pt.

A document that cannot be read (missing, corrupt, encrypted without a password, a tool
failure) or has no text layer (a scanned page; OCR is off) is answered with empty text and an
`extraction_error` in the trace, never `error=`: READoc scores a missing output as an empty
document, and one bad file must not stop the run. What the tools print is collected into the
trace (`tool_messages`) so it cannot break the progress bar or stdout tables.

No per-document timeout: the tools run in-process, and pymupdf's C code cannot be interrupted
mid-page; a timeout would need a worker process per document. The slowest of the 14 sample
documents took about 12 s (25 pages). Not thread-safe: stdout and pymupdf's message stream are
swapped while a document is converted.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import logging
import time
from importlib import metadata
from types import ModuleType
from typing import Any, Iterator, Sequence

from harness.errors import UsageError
from harness.models.base import require_kind
from harness.types import Request, Response

# Bump when a change here changes outputs, so responses cached from the old code are not reused.
ENGINE_REVISION = 1
# The packages whose versions decide each tool's output (pymupdf also checks every document).
TOOL_PACKAGES = {"pymupdf4llm": ("pymupdf4llm", "pymupdf"), "pdfplumber": ("pdfplumber", "pdfminer.six", "pymupdf")}
INSTALL_HINT = "pip install 'harness[readoc]'"
MESSAGES_KEPT = 2000  # characters of tool chatter kept in a trace
WORD_GAP = 1.5  # points between characters that split words in pdfplumber (see the module docstring)


def _import(module: str) -> ModuleType:
    """Import a tool on first use, so the harness starts without the readoc extra installed."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise UsageError(f"dse: cannot import {module} ({error}); install the READoc tools: {INSTALL_HINT}") from error


def page_count(path: str) -> int | None:
    """The document's page count by pymupdf, or None when it cannot be opened."""
    pymupdf = _import("pymupdf")
    try:
        with pymupdf.open(path) as document:
            return document.page_count
    except Exception:  # pymupdf raises its own RuntimeError subclasses and plain ones
        return None


def _open_problem(path: str) -> tuple[int | None, str | None]:
    """Page count, and why no tool can read the file (None when one can)."""
    pymupdf = _import("pymupdf")
    try:
        with pymupdf.open(path) as document:
            if document.needs_pass:
                return document.page_count, "encrypted: the PDF needs a password to open"
            return document.page_count, None
    except Exception as error:
        return None, f"unreadable: {type(error).__name__}: {error}"


def _has_text_layer(path: str) -> bool:
    """Whether any page has extractable text (a scanned, image-only PDF has none)."""
    with _import("pymupdf").open(path) as document:
        return any(page.get_text().strip() for page in document)


@contextlib.contextmanager
def _captured_chatter() -> Iterator[io.StringIO]:
    """Collect what the tools print: to stdout, to pymupdf's message stream (bound to the
    original stdout at import, so redirecting stdout alone misses it) and pdfminer's logging."""
    pymupdf = _import("pymupdf")
    buffer = io.StringIO()
    previous = pymupdf._g_out_message  # pymupdf has a setter for its message stream, no getter
    pdfminer = logging.getLogger("pdfminer")
    handler = logging.StreamHandler(buffer)
    propagate = pdfminer.propagate
    pymupdf.set_messages(stream=buffer)
    pdfminer.addHandler(handler)
    pdfminer.propagate = False
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    finally:
        pymupdf.set_messages(stream=previous)
        pdfminer.removeHandler(handler)
        pdfminer.propagate = propagate


class DocumentExtractionModel:
    """`dse:pymupdf4llm` (optionally `,layout=true`) or `dse:pdfplumber`; see the module docstring."""

    chunk_size = 4  # documents per call: a crash loses little and the progress bar moves
    cacheable = True

    def __init__(self, name: str = "", *, layout: bool = False) -> None:
        if name not in TOOL_PACKAGES:
            raise UsageError(f"dse: unknown tool {name!r}; tools: {', '.join(sorted(TOOL_PACKAGES))} "
                             "(e.g. --model dse:pymupdf4llm)")
        if layout and name != "pymupdf4llm":
            raise UsageError(f"dse:{name}: layout=true applies to dse:pymupdf4llm only; drop it")
        self.name = name
        self.layout = layout
        self._tool = _import(name)
        if layout and not (hasattr(self._tool, "use_layout") and importlib.util.find_spec("pymupdf.layout")):
            raise UsageError("dse:pymupdf4llm,layout=true needs pymupdf4llm>=0.2 with its layout engine: "
                             "pip install -U pymupdf4llm pymupdf-layout")
        packages = TOOL_PACKAGES[name] + (("pymupdf-layout",) if layout else ())
        self.versions = {package: metadata.version(package) for package in packages}

    def fingerprint(self) -> str:
        versions = ",".join(f"{package}={version}" for package, version in self.versions.items())
        settings = f",layout={str(self.layout).lower()},ocr=false" if self.name == "pymupdf4llm" else ""
        return f"dse:{self.name}|{versions}{settings}|engine={ENGINE_REVISION}"

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Convert each request's document; a document that fails yields empty text (see module)."""
        require_kind(requests, "extract", f"dse:{self.name}", "converts documents", "readoc")
        return [self.extract(str(request.document)) for request in requests]

    def extract(self, path: str) -> Response:
        """One document's Markdown, with its page count, the tool and why it is empty if it is."""
        began = time.perf_counter()
        trace: dict[str, Any] = {"tool": self.name, "version": self.versions[self.name]}
        text = ""
        with _captured_chatter() as chatter:  # pymupdf may warn while repairing a damaged file
            pages, problem = _open_problem(path)
            if problem is None:
                try:
                    text = self._convert(path)
                except Exception as error:  # any tool failure on one document: READoc scores it empty
                    problem = f"{self.name} failed: {type(error).__name__}: {error}"
            if problem is None and not text.strip() and not _has_text_layer(path):
                problem = "no text layer: no page has extractable text (a scanned or image-only PDF; OCR is off)"
        if chatter.getvalue().strip():
            trace["tool_messages"] = chatter.getvalue().strip()[:MESSAGES_KEPT]
        if problem is not None:
            trace["extraction_error"] = problem
            text = ""
        return Response(text=text, latency_s=time.perf_counter() - began, trace={"pages": pages, **trace})

    def _convert(self, path: str) -> str:
        if self.name == "pdfplumber":
            return _pdfplumber_markdown(self._tool, path)
        if hasattr(self._tool, "use_layout"):  # a process-wide switch, so set it for every document
            self._tool.use_layout(self.layout)
        return self._tool.to_markdown(path, **({"use_ocr": False} if self.layout else {}))


def _pdfplumber_markdown(pdfplumber: ModuleType, path: str) -> str:
    """Every page's Markdown, pages joined by a blank line (an empty page adds nothing)."""
    with pdfplumber.open(path) as pdf:
        pages = []
        for page in pdf.pages:
            pages.append(_page_markdown(page))
            page.close()  # drops the page's parsed objects, which a long document would accumulate
    return "\n\n".join(page for page in pages if page)


def _page_markdown(page: Any) -> str:
    """Text lines and tables of one page, ordered by where they start on it."""
    tables = [(table.bbox, rows) for table in page.find_tables()
              if _is_data_table(rows := table.extract(x_tolerance=WORD_GAP))]
    if tables:
        page = page.filter(lambda obj: not any(_char_inside(obj, bbox) for bbox, _ in tables))
    lines = page.extract_text_lines(x_tolerance=WORD_GAP, return_chars=False)
    blocks: list[tuple[float, bool, str]] = [(line["top"], False, line["text"]) for line in lines]
    blocks += [(bbox[1], True, _markdown_table(rows)) for bbox, rows in tables]
    blocks.sort(key=lambda block: block[0])
    paragraphs: list[list[str]] = []
    for index, (_, is_table, text) in enumerate(blocks):
        if is_table or index == 0 or blocks[index - 1][1]:
            paragraphs.append([])  # a table stands alone; text after a table starts afresh
        paragraphs[-1].append(text)
    return "\n\n".join("\n".join(lines) for lines in paragraphs)


def _is_data_table(rows: list[list[str | None]]) -> bool:
    """A grid worth a Markdown table: two rows and two columns at least, and some text in it."""
    return len(rows) >= 2 and max(len(row) for row in rows) >= 2 and any(cell for row in rows for cell in row)


def _char_inside(obj: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    """A character whose centre lies in the table's box (its text is in the table already)."""
    if obj.get("object_type") != "char":
        return False
    x, y = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
    return bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]


def _markdown_table(rows: list[list[str | None]]) -> str:
    """A pipe table; the first row is the header (Markdown requires one); short rows are padded."""
    width = max(len(row) for row in rows)
    cells = [[_table_cell(cell) for cell in row] + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def _table_cell(cell: str | None) -> str:
    """One line per cell (Markdown cells cannot break lines); a literal pipe escaped."""
    return " ".join((cell or "").split()).replace("|", "\\|")
