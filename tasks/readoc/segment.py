"""READoc's segmentation of a standardized document, reproduced exactly (`extract_materials`).

Each READoc metric reads one component cut out of the standardized Markdown (see
`standardize.py`), so what a component holds is part of the score: headings are whole lines
with their `#` markers (heading EDS compares them raw), formulas and tables keep their delimiters,
and a table keeps the newline before `\\begin{table}`. Source: icip-cas/READoc
`src/evaluation/segmentation.py` (HEAD ec2999f6); the patterns match what the official ones match.

Quirks kept on purpose:
- A LaTeX table is found only after a newline and only as `\\begin{table}` (not `table*`), so a table
  on the document's first line is not one; `\\(…\\)` never spans a line, `\\[…\\]` may; a closing
  delimiter preceded by a backslash does not close.
- The component lists are found independently, so a heading-like line inside a display formula
  is both in `heads` and in `outline`; only `segments` skips an atom that starts inside the
  previous one.
- `plain` removes tables, then headings, then inline and then display formulas, and collapses 3 or
  more newlines (not whitespace-only lines) to one blank line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^#{1,6} +.+", re.MULTILINE)
_LATEX_TABLE = re.compile(r"\n\\begin\{table\}(?:(?!\\begin\{table\}).)*?\\end\{table\}", re.DOTALL)
_DISPLAY_MATH = re.compile(r"\\\[.+?(?<!\\)\\\]", re.DOTALL)
_INLINE_MATH = re.compile(r"\\\(.*?(?<!\\)\\\)")
_NEWLINE_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Materials:
    """The components READoc scores, in the official `extract_materials` shapes.

    overall: the whole document, stripped. segments: reading order; each heading line, table and
    display formula is one segment, the text between them is split on blank lines, and every
    segment is stripped and non-empty. plain: the document without tables, headings and formulas,
    stripped. tables: `\\n\\begin{table}…\\end{table}` strings. heads: heading lines with their `#`
    markers. inline: `\\(…\\)` strings. outline: `\\[…\\]` strings.
    """

    overall: str
    segments: list[str]
    plain: str
    tables: list[str]
    heads: list[str]
    inline: list[str]
    outline: list[str]


def segment(standardized: str) -> Materials:
    """Cut a document already through `standardize` into READoc's components."""
    heads = list(_HEADING.finditer(standardized))
    tables = list(_LATEX_TABLE.finditer(standardized))
    outline = list(_DISPLAY_MATH.finditer(standardized))
    return Materials(
        overall=standardized.strip(),
        segments=_reading_order(standardized, heads + tables + outline),
        plain=_plain_text(standardized),
        tables=[match.group() for match in tables],
        heads=[match.group() for match in heads],
        inline=_INLINE_MATH.findall(standardized),
        outline=[match.group() for match in outline],
    )


def _reading_order(text: str, atoms: list[re.Match[str]]) -> list[str]:
    """Atoms in document order with the paragraphs between them; an atom starting inside the
    previous one is dropped, as officially."""
    pieces: list[str] = []
    position = 0
    for atom in sorted(atoms, key=lambda match: match.start()):
        if atom.start() < position:
            continue
        if atom.start() > position:
            pieces += text[position:atom.start()].strip().split("\n\n")
        pieces.append(atom.group())
        position = atom.end()
    if position < len(text):
        pieces += text[position:].strip().split("\n\n")
    return [piece.strip() for piece in pieces if piece.strip()]


def _plain_text(text: str) -> str:
    for pattern in (_LATEX_TABLE, _HEADING, _INLINE_MATH, _DISPLAY_MATH):
        text = pattern.sub("", text)
    return _NEWLINE_RUNS.sub("\n\n", text).strip()
