"""READoc's per-component metrics on inputs small enough to score by hand."""

from __future__ import annotations

import random
import shutil
import string

import pytest

from harness.tasks.packages import import_task_module

readoc_metrics = import_task_module("readoc", "metrics")
readoc_teds = import_task_module("readoc", "teds")
convert = import_task_module("readoc", "pandoc_convert").convert
concatenated_metrics, heading_teds, segment_order, table_metrics, word_order = (
    readoc_metrics.concatenated_metrics, readoc_metrics.heading_teds, readoc_metrics.segment_order,
    readoc_metrics.table_metrics, readoc_metrics.word_order)
latex_table_to_html, table_teds = readoc_teds.latex_table_to_html, readoc_teds.table_teds

needs_pandoc = pytest.mark.skipif(
    shutil.which("pandoc") is None,
    reason="READoc's table TEDS converts LaTeX to HTML with the pandoc binary, which is not on PATH "
    "(scripts/install-pandoc installs it)",
)

TABLE_12 = (
    "\\begin{table}\n\\begin{tabular}{l c}\n\\hline\nA & B \\\\\n\\hline\nx & 12 \\\\\n\\hline\n"
    "\\end{tabular}\n\\end{table}"
)
TABLE_13 = TABLE_12.replace("12", "13")
TABLE_OTHER = "\\begin{tabular}{l}\n\\hline\nQuite another table \\\\\n\\hline\n\\end{tabular}"
UNCONVERTIBLE = "\\begin{tabular}{l} & \\\\ \\begin{"


def test_text_edit_distance_and_word_f1() -> None:
    scores = concatenated_metrics("the cat sat on a mat", "the cat sat on the mat")
    # "the" -> "a" is one substitution and two deletions, over the longer length 22.
    assert scores["edit_dist_sim"] == pytest.approx(1 - 3 / 22)
    # Word sets: gold {the, cat, sat, on, mat}, pred adds "a": p = 5/6, r = 1, F = 1/(0.5/p + 0.5/r).
    assert scores["precision"] == pytest.approx(5 / 6) and scores["recall"] == 1.0
    assert scores["f_measure"] == pytest.approx(10 / 11)


def test_empty_prediction_scores_zero_and_empty_gold_is_unscored() -> None:
    scores = concatenated_metrics("  \n", "some gold text")
    assert scores["edit_dist_sim"] == 0.0 and scores["precision"] == 0.0 and scores["f_measure"] == 0.0
    assert concatenated_metrics("anything", " \n\n ") == {}


def test_word_scores_follow_nltk() -> None:
    nltk = pytest.importorskip("nltk")
    pairs = [("a b c d", "a b x"), ("a a b", "b c"), ("x y", "x y"), ("p", "q r"), ("a b", "b a c d e")]
    for pred, gold in pairs:
        scores, reference, test = concatenated_metrics(pred, gold), set(gold.split()), set(pred.split())
        assert scores["precision"] == nltk.scores.precision(reference, test)
        assert scores["recall"] == nltk.scores.recall(reference, test)
        assert scores["f_measure"] == nltk.scores.f_measure(reference, test)


def test_heading_edit_distance_over_raw_heading_lines() -> None:
    gold, pred = ["# Intro", "## Method", "## Results"], ["# Intro", "## Methods"]
    # The prediction keeps "# Intro\n## Method", then its "s" matches Results' last letter:
    # 10 insertions ("\n## Result") over the gold's 28 characters.
    assert concatenated_metrics("\n".join(pred), "\n".join(gold))["edit_dist_sim"] == pytest.approx(1 - 10 / 28)


def test_heading_teds_renames_and_inserts() -> None:
    gold, pred = ["# Intro", "## Method", "## Results"], ["# Intro", "## Methods"]
    # Trees Root>Intro>{Method, Results} and Root>Intro>{Methods}: renaming Methods to Method
    # costs 1/7 (one edit over 7 letters) and inserting Results costs 1; over max(3, 2) headings.
    assert heading_teds(pred, gold) == pytest.approx(1 - (1 + 1 / 7) / 3)


def test_heading_teds_edges() -> None:
    gold = ["# Intro", "## Method", "## Results"]
    assert heading_teds([], gold) == 0.0  # three insertions over three headings
    # Same titles, wrong level: B under A in gold, beside A in the prediction; B is deleted and
    # inserted again (2) over 2 headings.
    assert heading_teds(["# A", "# B"], ["# A", "## B"]) == 0.0
    # Extra predicted headings count in the denominator: one deletion over max(1, 2).
    assert heading_teds(["# A", "# Extra"], ["# A"]) == 0.5
    with pytest.raises(ValueError, match="without gold headings"):
        heading_teds(["# A"], [])


def test_formula_edit_distance_over_joined_formulas() -> None:
    gold, pred = ["\\(x^2\\)", "\\(y\\)"], ["\\(x^3\\)"]
    # 2 -> 3 is one substitution, then "\n\(y\)" is six insertions, over the gold's 13 characters.
    assert concatenated_metrics("\n".join(pred), "\n".join(gold))["edit_dist_sim"] == pytest.approx(1 - 7 / 13)


@needs_pandoc
def test_table_teds_of_one_changed_cell() -> None:
    # pandoc writes table > thead > tr > th A, th B and table > tbody > tr > td x, td 12: eight
    # elements under <table>. The trees differ only in the last cell, whose rename costs the
    # character edit distance of "12" and "13" over their length, 1/2; TEDS = 1 - 0.5 / 8.
    gold_html, pred_html = latex_table_to_html(TABLE_12), latex_table_to_html(TABLE_13)
    assert table_teds(gold_html, pred_html) == 1 - 0.5 / 8
    assert table_teds(gold_html, gold_html) == 1.0


@needs_pandoc
def test_table_matching_divides_by_each_side() -> None:
    concatenated, mapped = table_metrics([TABLE_OTHER, TABLE_12], [TABLE_13])
    # Hungarian matching pairs the prediction with TABLE_12 (TEDS 15/16); p = 15/16 over one
    # predicted table, r = 15/32 over two gold tables, and READoc reports min(p, r).
    assert mapped["teds_p"] == 15 / 16 and mapped["teds_r"] == 15 / 32
    assert mapped["teds_min"] == 15 / 32 and mapped["teds_f1"] == pytest.approx(2 * (15 / 16) * (15 / 32) / (45 / 32))
    assert 0 < concatenated["edit_dist_sim"] < 1


@needs_pandoc
def test_tables_pandoc_cannot_convert() -> None:
    _, mapped = table_metrics([TABLE_12], [UNCONVERTIBLE])
    assert mapped == {"teds_p": 0.0, "teds_r": 0.0, "teds_min": 0.0, "teds_f1": 0.0}
    concatenated, mapped = table_metrics([UNCONVERTIBLE], [TABLE_12])
    assert mapped == {} and "edit_dist_sim" in concatenated
    _, mapped = table_metrics([TABLE_12], [])
    assert mapped["teds_p"] == 0.0 and mapped["teds_min"] == 0.0
    assert table_metrics([], [TABLE_12]) == ({}, {})


def test_table_teds_without_pandoc_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RuntimeError, match="install-pandoc"):
        table_metrics([TABLE_12], [TABLE_12])


@needs_pandoc
def test_pandoc_binary_writes_what_the_pandoc_package_writes() -> None:
    pandoc = pytest.importorskip("pandoc")
    latex = "\\begin{table}\\caption{C $x^2$}\\begin{tabular}{|l|c|}\\hline \\multicolumn{2}{c}{AB} \\\\ \\hline " \
            "\\textbf{1} & \\emph{2} é \\\\ \\multirow{2}{*}{m} & 3\\\\ & 4 \\\\ \\hline\\end{tabular}\\end{table}"
    for table in (latex, TABLE_12, TABLE_OTHER):
        official = pandoc.write(pandoc.read(table, format="latex"), format="html")
        assert latex_table_to_html(table) == "<html><body>" + official + "</body></html>"
    markdown = "| a | **b** c |\n|:--|--:|\n| $x$ | 2 |\n| 3 | [l](u) |"  # standardization's direction
    assert convert(markdown, "markdown", "html") == pandoc.write(pandoc.read(markdown, format="markdown"), format="html")


SEGMENTS = ["apples grow on trees", "bananas are yellow", "cherries are small", "dates are sweet"]


def test_segment_order_with_two_segments_swapped() -> None:
    scores = segment_order([SEGMENTS[0], SEGMENTS[2], SEGMENTS[1], SEGMENTS[3]], SEGMENTS)
    # One discordant pair of six: 1 - 1/6. Spearman: rank differences 0, 1, 1, 0, so
    # rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.
    assert scores["kendall_tau"] == pytest.approx(5 / 6)
    assert scores["spearmanr"] == pytest.approx(0.8)


def test_segments_match_within_half_their_length() -> None:
    # "bananas are yellow!" is one edit from its gold (close enough); "xyz" is not, so only
    # two segments match, in swapped order.
    scores = segment_order(["bananas are yellow!", "xyz", SEGMENTS[0]], SEGMENTS[:3])
    assert scores == {"kendall_tau": 0.0, "spearmanr": pytest.approx(-1.0)}


def _distinct(count: int, offset: int = 0) -> list[str]:
    """Strings that are all at normalized edit distance 1 from each other."""
    return [chr(0x400 + offset + i) * 6 for i in range(count)]


def test_segment_order_thresholds() -> None:
    assert segment_order(["a"], []) == {}
    assert segment_order([], SEGMENTS) == {"kendall_tau": 0.0, "spearmanr": 0.0}
    assert segment_order([SEGMENTS[0], "zzzzzzzzzz"], SEGMENTS[:2]) == {"kendall_tau": 0.0, "spearmanr": 0.0}
    gold = _distinct(20)
    two_matches = [gold[1], gold[0], *_distinct(18, offset=100)]
    # 2 matches are not more than 10% of min(20, 20) = 2.0: scored 0.
    assert segment_order(two_matches, gold) == {"kendall_tau": 0.0, "spearmanr": 0.0}
    three_matches = [gold[1], gold[0], gold[2], *_distinct(17, offset=100)]
    assert segment_order(three_matches, gold)["kendall_tau"] == pytest.approx(1 - 1 / 3)


def test_word_order_by_first_occurrence() -> None:
    swapped = word_order("a c b d", "a b c d")
    assert swapped["kendall_tau"] == pytest.approx(5 / 6) and swapped["spearmanr"] == pytest.approx(0.8)
    # Distinct gold words a, b, c (ids 0, 1, 2); the prediction first shows c, a, b: [2, 0, 1]
    # has two discordant pairs of three, and rank differences 2, 1, 1 give rho = 1 - 6 * 6 / 24.
    repeated = word_order("c a b", "a b a c")
    assert repeated["kendall_tau"] == pytest.approx(1 / 3) and repeated["spearmanr"] == pytest.approx(-0.5)


def test_word_order_thresholds() -> None:
    assert word_order("anything at all", "one") == {}
    gold = " ".join(f"g{i}" for i in range(20))
    two_shared = "g1 g0 " + " ".join(f"p{i}" for i in range(18))
    assert word_order(two_shared, gold) == {"kendall_tau": 0.0, "spearmanr": 0.0}
    assert word_order("g0 g1 g2", gold)["kendall_tau"] == 1.0  # 3 > 0.1 * min(20, 3)


def test_word_order_kendall_counts_every_discordant_pair() -> None:
    order = list(range(60))
    random.Random(7).shuffle(order)
    discordant = sum(order[i] > order[j] for i in range(60) for j in range(i + 1, 60))
    scores = word_order(" ".join(f"w{i}" for i in order), " ".join(f"w{i}" for i in range(60)))
    assert scores["kendall_tau"] == 1 - 2 * discordant / (60 * 59)


def test_identical_documents_score_one() -> None:
    text = "Results improve " + string.ascii_lowercase
    assert concatenated_metrics(text, text)["edit_dist_sim"] == 1.0
    assert concatenated_metrics(text, text)["f_measure"] == 1.0
    heads = ["# A", "## B", "### C", "## D"]
    assert heading_teds(heads, heads) == 1.0
    assert segment_order(SEGMENTS, SEGMENTS) == {"kendall_tau": 1.0, "spearmanr": pytest.approx(1.0)}
    assert word_order(text, text) == {"kendall_tau": 1.0, "spearmanr": pytest.approx(1.0)}


@needs_pandoc
def test_identical_tables_score_one() -> None:
    concatenated, mapped = table_metrics([TABLE_12, TABLE_OTHER], [TABLE_OTHER, TABLE_12])
    assert mapped == {"teds_p": 1.0, "teds_r": 1.0, "teds_min": 1.0, "teds_f1": 1.0}
    assert table_metrics([TABLE_12], [TABLE_12])[0]["edit_dist_sim"] == 1.0
