"""READoc's table TEDS: LaTeX tables through pandoc to HTML, then APTED over the HTML trees.

Our code, written to the rules of icip-cas/READoc `src/evaluation/utils.py:TableTEDS` and the
pandoc step of `scoring.py:TableEvaluate`, reproducing its numbers exactly.

Two places where we go our own way without changing a number on the inputs the official code
can score:
- The official code converts with the `pandoc` PyPI package; we call the binary once
  (`pandoc_convert.py` beside this, which says why). A timeout counts as a failed conversion.
- Two tables with no elements under `<table>` would divide by zero officially; we score them 1.0
  (identical empty trees). pandoc always writes a `<tbody>`, so this does not arise from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import Levenshtein
from apted import APTED, Config
from lxml import html

from .pandoc_convert import convert

CELL_TAGS = ("td", "th")


def latex_table_to_html(latex: str) -> str | None:
    """The HTML document READoc scores a LaTeX table as, or None where pandoc cannot convert it.

    The body is wrapped in `<html><body>` as the official code does, so that only a `<table>`
    directly under the body is found; anything else pandoc writes (a bare paragraph, a `<div>`
    around a labelled table) later scores 0, as it does officially.
    """
    body = convert(latex, "latex", "html")
    return None if body is None else "<html><body>" + body + "</body></html>"


@dataclass
class _TableNode:
    """One HTML element as APTED sees it; cells carry their colspan, rowspan and content tokens."""

    tag: str
    colspan: int | None = None
    rowspan: int | None = None
    content: list[str] | None = None
    children: list[_TableNode] = field(default_factory=list)


class _TableCosts(Config):
    """Insert and delete cost 1; a rename costs 1 across tags or spans, else the cells' token distance."""

    def rename(self, node1: _TableNode, node2: _TableNode) -> float:
        if (node1.tag, node1.colspan, node1.rowspan) != (node2.tag, node2.colspan, node2.rowspan):
            return 1.0
        if node1.tag in CELL_TAGS and (node1.content or node2.content):
            return Levenshtein.distance(node1.content, node2.content) / max(len(node1.content), len(node2.content))
        return 0.0


def _element_tokens(element: html.HtmlElement) -> list[str]:
    """An element inside a cell as tokens: its tags whole, its text one character per token.

    As officially: an `unk` element has no closing token, and a cell's tail is never included.
    """
    tokens = [f"<{element.tag}>", *(element.text or "")]
    for child in element:
        tokens += _element_tokens(child)
    if element.tag != "unk":
        tokens.append(f"</{element.tag}>")
    if element.tag not in CELL_TAGS and element.tail is not None:
        tokens += list(element.tail)
    return tokens


def _table_tree(element: html.HtmlElement) -> _TableNode:
    """The APTED tree of an element: cells are leaves holding their tokenized content."""
    if element.tag in CELL_TAGS:
        return _TableNode(
            element.tag,
            int(element.attrib.get("colspan", "1")),
            int(element.attrib.get("rowspan", "1")),
            _element_tokens(element)[1:-1],
        )
    return _TableNode(element.tag, children=[_table_tree(child) for child in element])


def _body_table(document: str) -> html.HtmlElement | None:
    parser = html.HTMLParser(remove_comments=True, encoding="utf-8")
    tables = html.fromstring(document, parser=parser).xpath("body/table")
    return tables[0] if tables else None


def table_teds(first_html: str, second_html: str) -> float:
    """TEDS between two `latex_table_to_html` documents: 1 - tree edit distance / larger element count.

    Symmetric. An empty document (a failed conversion) or one without a table under its body
    scores 0. The element count is every element under `<table>`, including the ones inside
    cells that the tree itself leaves out, as officially.
    """
    if not first_html or not second_html:
        return 0.0
    first, second = _body_table(first_html), _body_table(second_html)
    if first is None or second is None:
        return 0.0
    distance = APTED(_table_tree(first), _table_tree(second), _TableCosts()).compute_edit_distance()
    n_nodes = max(len(first.xpath(".//*")), len(second.xpath(".//*")))
    if n_nodes == 0:
        return 1.0
    return 1.0 - float(distance) / n_nodes
