"""READoc's standardization of Markdown, reproduced exactly (`clean_md` in the official suite).

READoc scores a predicted Markdown against gold Markdown only after both pass through this, so each
quirk of the official rules moves scores and is kept on purpose. Source: icip-cas/READoc
`src/evaluation/standardization.py` (HEAD ec2999f6); the regular expressions are the official ones.

Quirks that follow from the official patterns (do not "fix" them):
- Setext headings: the whole run of non-blank lines above a line of `=`/`-` becomes the title, joined
  with spaces, so a `---` rule right under a paragraph turns that paragraph into a `##` heading.
  The underline needs a newline after it.
- `[text](url)` is matched lazily from the first `[`, so `[a] b [c](u)` becomes `a] b [c`.
- `$…$` never spans a line break (the official pattern has no DOTALL); `$$…$$` may span single line
  breaks but not a blank line. A `$` preceded by a backslash neither opens nor closes.
- Markdown tables: any run of >= 2 lines that start and end with `|` (after stripping) goes through
  pandoc (markdown -> HTML) and BeautifulSoup's `get_text(strip=True)`, which strips each text
  fragment and joins them without spaces (`a **b** c` -> `abc`; `\\(x\\)` reads as `(x)`). A run
  pandoc does not read as a table with a head and a body is left as it was.
- Blank lines: any whitespace run holding 3 or more newlines (2+ blank lines) becomes one blank
  line, and the indentation of the line after it goes too.

Pandoc: tables are converted by the pandoc binary (`pandoc_convert.py` beside this; officially
through the PyPI `pandoc` package, which runs the same binary). Its HTML differs between pandoc
releases, so scores are pinned to one binary: our tests fix the expected LaTeX with Debian's
pandoc 2.17.1.1. A table pandoc cannot convert is left unchanged,
as officially; a missing pandoc binary is instead an error (`UsageError`), because officially it
would silently leave every Markdown table unconverted and skew the table and text scores.
"""

from __future__ import annotations

import re
from typing import Iterable

from bs4 import BeautifulSoup, Tag

from harness.errors import UsageError
from .pandoc_convert import convert, pandoc_available

_SETEXT_LEVEL_1 = re.compile(r"((?:[^\n]+\n)+)=+\n")
_SETEXT_LEVEL_2 = re.compile(r"((?:[^\n]+\n)+)-+\n")
_LATEX_FIGURE = re.compile(r"\\begin\{figure\*?\}(.*?)\\end\{figure\*?\}", re.DOTALL)
_MARKDOWN_IMAGE = re.compile(r"!\[.*?\]\(.*?\)")
_MARKDOWN_LINK = re.compile(r"\[(.*?)\]\(.*?\)")
# (pattern, literal replacement), applied in this order.
_MATH_ENVIRONMENTS = (
    (re.compile(r"\\begin\{(equation|multline)\*?\}"), "\\["),
    (re.compile(r"\\end\{(equation|multline)\*?\}"), "\\]"),
    (re.compile(r"\\begin\{gather\*?\}"), "\\[\n\\begin{gathered}"),
    (re.compile(r"\\begin\{align\*?\}"), "\\[\n\\begin{aligned}"),
    (re.compile(r"\\end\{gather\*?\}"), "\\end{gathered}\n\\]"),
    (re.compile(r"\\end\{align\*?\}"), "\\end{aligned}\n\\]"),
)
_DISPLAY_DOLLARS = re.compile(r"(?<!\\)\$\$((?:(?!\n\n).)+?)(?<!\\)\$\$", re.DOTALL)
_INLINE_DOLLARS = re.compile(r"(?<!\\)(?<!\$)\$(?!\$)((?:(?!\n\n).)+?)(?<!\\)\$(?!\$)")
_BLANK_LINES = re.compile(r"(\n\s*){3,}")
# Checked in this order against a header cell's style; the official default is left.
_ALIGNMENTS = (("right", "r"), ("left", "l"), ("center", "c"))


def standardize(markdown: str) -> str:
    """The document in READoc's canonical form, as official `clean_md` leaves it."""
    text = _setext_to_atx(markdown)
    text = _drop_figures_and_links(text)
    text = _normalize_formulas(text)
    text = _convert_markdown_tables(text)
    return _BLANK_LINES.sub("\n\n", text)


def _setext_to_atx(text: str) -> str:
    """Setext `=`/`-` underlines to `#`/`##`; level 1 first, as officially."""
    text = _SETEXT_LEVEL_1.sub(lambda match: f"# {_joined_title(match)}\n", text)
    return _SETEXT_LEVEL_2.sub(lambda match: f"## {_joined_title(match)}\n", text)


def _joined_title(match: re.Match[str]) -> str:
    return match.group(1).replace("\n", " ").strip()


def _drop_figures_and_links(text: str) -> str:
    """Figures carry nothing READoc scores, and a link scores as its visible text."""
    text = _LATEX_FIGURE.sub("", text)
    text = _MARKDOWN_IMAGE.sub("", text)
    return _MARKDOWN_LINK.sub(lambda match: match.group(1), text)


def _normalize_formulas(text: str) -> str:
    """Every display formula to `\\[…\\]` and every inline one to `\\(…\\)`, so systems that write
    math differently compare alike."""
    for pattern, replacement in _MATH_ENVIRONMENTS:
        text = pattern.sub(lambda _match, literal=replacement: literal, text)
    text = _DISPLAY_DOLLARS.sub(lambda match: f"\\[{match.group(1)}\\]", text)
    return _INLINE_DOLLARS.sub(lambda match: f"\\({match.group(1)}\\)", text)


def _convert_markdown_tables(text: str) -> str:
    """Markdown tables to READoc's LaTeX table form, the form its table metrics read.

    Each block is replaced wherever its text occurs, in document order, as officially
    (`str.replace`); a repeated block converts to the same LaTeX, so it is converted once.
    """
    blocks = list(dict.fromkeys(_markdown_table_blocks(text)))
    if blocks and not pandoc_available():
        raise UsageError(
            "READoc standardization converts Markdown tables with the pandoc binary, which is not "
            "on PATH: install it (scripts/install-pandoc, Debian's pandoc 2.17)"
        )
    for block in blocks:
        latex = _table_to_latex(block)
        if latex is not None:
            text = text.replace(block, latex)
    return text


def _markdown_table_blocks(text: str) -> list[str]:
    """Runs of >= 2 consecutive lines that start and end with `|`, with their lines as written."""
    blocks: list[str] = []
    run: list[str] = []
    for line in text.split("\n") + [""]:
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            run.append(line)
            continue
        if len(run) >= 2:
            blocks.append("\n".join(run))
        run = []
    return blocks


def _table_to_latex(block: str) -> str | None:
    """The block's LaTeX, or None where pandoc or the HTML walk fails (the block then stays)."""
    try:
        html = convert(block, "markdown", "html")
        return None if html is None else html_table_to_latex(html)
    except Exception:  # the official code skips any failure here; so must we, never raising
        return None


def html_table_to_latex(html: str) -> str:
    """READoc's LaTeX for pandoc's HTML table: alignment from each header cell's style, one line
    per row, `\\hline` around the header and at the end.

    Raises AttributeError where the HTML has no `thead` or no `tbody`, as officially.
    """
    soup = BeautifulSoup(html, "html.parser")
    headers = soup.find("thead").find_all("th")
    rows = soup.find("tbody").find_all("tr")
    alignments = " ".join(_column_alignment(header.get("style", "")) for header in headers)
    lines = ["\\begin{table}", f"\\begin{{tabular}}{{{alignments}}}", "\\hline"]
    lines.append(_latex_row(headers))
    lines.append("\\hline")
    lines.extend(_latex_row(row.find_all("td")) for row in rows)
    lines += ["\\hline", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines)


def _column_alignment(style: str) -> str:
    return next((letter for word, letter in _ALIGNMENTS if word in style), "l")


def _latex_row(cells: Iterable[Tag]) -> str:
    return " & ".join(cell.get_text(strip=True) for cell in cells) + " \\\\ "
