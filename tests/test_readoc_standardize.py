"""READoc's standardization and segmentation: each official rule, its quirks, and the real golds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.tasks.packages import import_task_module

readoc_segment = import_task_module("readoc", "segment")
Materials, segment = readoc_segment.Materials, readoc_segment.segment
standardize = import_task_module("readoc", "standardize").standardize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "readoc"
GOLD_FILES = sorted(DATA.glob("*/markdown/*.md"))
needs_pandoc = pytest.mark.skipif(shutil.which("pandoc") is None,
                                  reason="the pandoc binary is not on PATH (scripts/install-pandoc installs it)")
needs_data = pytest.mark.skipif(not GOLD_FILES,
                                reason=f"READoc sample documents not found at {DATA} (see shared/data/readoc/SOURCE.md)")


@pytest.mark.parametrize("markdown, expected", [
    ("Title\n=====\n\ntext", "# Title\n\ntext"),
    ("Two\nlines\n---\n", "## Two lines\n"),
    ("Title\n===", "Title\n==="),  # the underline needs a newline after it
    ("para\n\n---\n", "para\n\n---\n"),  # a rule after a blank line stays a rule
])
def test_setext_headings_become_atx(markdown: str, expected: str) -> None:
    assert standardize(markdown) == expected


def test_figures_and_images_are_deleted_and_links_become_their_text() -> None:
    markdown = ("x\n\\begin{figure*}\n\\includegraphics{a}\n\\end{figure*}\n"
                "y ![fig](p.png) see [the docs](http://x) now")
    assert standardize(markdown) == "x\n\ny  see the docs now"


def test_a_link_is_matched_lazily_from_the_first_bracket() -> None:
    assert standardize("[a] b [c](u)") == "a] b [c"


@pytest.mark.parametrize("markdown, expected", [
    ("\\begin{equation}a=b\\end{equation}", "\\[a=b\\]"),
    ("\\begin{multline*}a\\end{multline*}", "\\[a\\]"),
    ("\\begin{gather*}a\\\\b\\end{gather*}", "\\[\n\\begin{gathered}a\\\\b\\end{gathered}\n\\]"),
    ("\\begin{align}a&=b\\end{align}", "\\[\n\\begin{aligned}a&=b\\end{aligned}\n\\]"),
    ("$$a\nb$$", "\\[a\nb\\]"),
    ("$$a\n\nb$$", "$$a\n\nb$$"),  # never across a blank line
    ("so $x^2$ and $y$.", "so \\(x^2\\) and \\(y\\)."),
    ("$a\nb$", "$a\nb$"),  # inline math never spans a line break
    ("Price \\$5 and \\$6, math $a$.", "Price \\$5 and \\$6, math \\(a\\)."),
    ("cost $5 and $6", "cost \\(5 and \\)6"),  # no notion of currency
])
def test_formulas_take_one_display_and_one_inline_form(markdown: str, expected: str) -> None:
    assert standardize(markdown) == expected


@pytest.mark.parametrize("markdown, expected", [
    ("a\n\n\nb", "a\n\nb"),
    ("a\n \n\t\n   b", "a\n\nb"),  # the next line's indentation goes with the run
    ("a\n\nb", "a\n\nb"),
])
def test_two_or_more_blank_lines_collapse_to_one(markdown: str, expected: str) -> None:
    assert standardize(markdown) == expected


@needs_pandoc
def test_a_markdown_table_becomes_the_official_latex() -> None:
    markdown = ("Before.\n\n| Name | Score | Note |\n|:-----|:-----:|-----:|\n"
                "| **A** x | $1$ | [l](u) |\n| b |  2 | |\n\nAfter.")
    expected = ("Before.\n\n\\begin{table}\n\\begin{tabular}{l c r}\n\\hline\n"
                "Name & Score & Note \\\\ \n\\hline\n"
                "Ax & (1) & l \\\\ \n"  # get_text(strip=True) drops the spaces around markup
                "b & 2 &  \\\\ \n"
                "\\hline\n\\end{tabular}\n\\end{table}\n\nAfter.")
    assert standardize(markdown) == expected


@needs_pandoc
@pytest.mark.parametrize("markdown", [
    "| a | b |\n| 1 | 2 |\n",  # no delimiter row: pandoc reads a paragraph
    "|   |   |\n|---|---|\n| 1 | 2 |\n",  # empty header: pandoc writes no thead
])
def test_a_table_pandoc_cannot_convert_is_left_unchanged(markdown: str) -> None:
    assert standardize(markdown) == markdown


def test_a_missing_pandoc_binary_is_an_error_only_when_a_table_needs_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert standardize("no tables $x$") == "no tables \\(x\\)"
    with pytest.raises(UsageError, match="pandoc"):
        standardize("| a |\n|---|\n| 1 |\n")


def test_standardize_is_not_idempotent_in_general() -> None:
    once = standardize("Para\n[---](u)\n")
    assert once == "Para\n---\n"
    assert standardize(once) == "## Para\n"


STANDARDIZED = ("# Title\n\nIntro with \\(x^2\\) inline.\n\n## Part one\nBody line.\n\\[\nE = mc^2\n\\]\n"
                "Text after.\n\n\\begin{table}\n\\begin{tabular}{l}\n\\hline\na \\\\ \n\\hline\n"
                "\\end{tabular}\n\\end{table}\n\nEnd.\n")
TABLE = "\\begin{table}\n\\begin{tabular}{l}\n\\hline\na \\\\ \n\\hline\n\\end{tabular}\n\\end{table}"


def test_segment_cuts_the_official_components() -> None:
    assert segment(STANDARDIZED) == Materials(
        overall=STANDARDIZED.strip(),
        segments=["# Title", "Intro with \\(x^2\\) inline.", "## Part one", "Body line.",
                  "\\[\nE = mc^2\n\\]", "Text after.", TABLE, "End."],
        plain="Intro with  inline.\n\nBody line.\n\nText after.\n\nEnd.",
        tables=["\n" + TABLE],
        heads=["# Title", "## Part one"],
        inline=["\\(x^2\\)"],
        outline=["\\[\nE = mc^2\n\\]"],
    )


def test_segment_lists_overlapping_atoms_in_each_list_but_once_in_reading_order() -> None:
    materials = segment("\\[\n# not a heading\n\\]\nafter")
    assert materials.heads == ["# not a heading"]
    assert materials.outline == ["\\[\n# not a heading\n\\]"]
    assert materials.segments == ["\\[\n# not a heading\n\\]", "after"]


def test_segment_finds_no_table_on_the_first_line() -> None:
    assert segment(TABLE + "\n").tables == []


@needs_data
@needs_pandoc
@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda path: path.name)
def test_real_gold_documents_standardize_stably_and_segment(path: Path) -> None:
    once = standardize(path.read_text(encoding="utf-8"))
    assert standardize(once) == once  # holds for these golds, though not for every input
    materials = segment(once)
    assert all(head.startswith("#") for head in materials.heads)
    assert all(table.startswith("\n\\begin{table}") for table in materials.tables)
    assert all(piece == piece.strip() and piece for piece in materials.segments)
