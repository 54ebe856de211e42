"""READoc's per-component metrics: edit distance, word F1, heading and table TEDS, reading order.

Our code, written to the rules of icip-cas/READoc (`src/evaluation/utils.py` and `scoring.py` at
ec2999f6) and reproducing its numbers: the same Levenshtein distance (`Levenshtein.distance`),
tree edit distance (`apted`), assignment (`scipy.optimize.linear_sum_assignment`) and Spearman
correlation (`scipy.stats.spearmanr`), computed in the same order of operations.

Where we differ, no number changes on inputs the official code can score:
- BLEU and METEOR are not computed: READoc reports neither, and METEOR needs nltk's wordnet data.
- nltk's set precision, recall and F-measure are three lines, written here with nltk's formulas
  (F = 1 / (0.5/p + 0.5/r)) rather than importing nltk; a test checks them against nltk.
- The Kendall tau distance counts inversions in O(n log n) rather than comparing all n² pairs:
  the count is the same integer, so the score is the same float, and the word-level lists of a
  long paper no longer need gigabytes.
- Inputs that crash the official code score instead: two empty segments compare at distance 0;
  a heading line without `#` hangs under the root rather than popping it; a heading like `#\\tA`
  (marker followed by whitespace but no space) takes its level from its `#` count. READoc's
  segmentation (headings match `^#{1,6} +`) produces none of these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import Levenshtein
import numpy as np
from apted import APTED, Config
from scipy import stats
from scipy.optimize import linear_sum_assignment

from .pandoc_convert import pandoc_available
from .teds import latex_table_to_html, table_teds

# Segments farther apart than this normalized edit distance are never matched for reading order.
SEGMENT_MATCH_MAX_DISTANCE = 0.5
# Reading order scores 0 unless the matches exceed this share of the shorter list.
ORDER_MIN_MATCH_SHARE = 0.1


def concatenated_metrics(pred: str, gold: str) -> dict[str, float]:
    """`compute_concated_metrics`: character edit distance and set-based word precision/recall/F1.

    A component's items are joined with "\\n" by the caller; both sides are stripped here, as
    every official caller does before the call. An empty gold gives `{}`, so the document does
    not enter that component's average. Where the prediction has no words, nltk returns None for
    precision and F-measure and READoc turns None into 0, as here.
    """
    pred, gold = pred.strip(), gold.strip()
    if not gold:
        return {}
    edit_dist = Levenshtein.distance(pred, gold) / max(len(pred), len(gold))
    gold_words, pred_words = set(gold.split()), set(pred.split())
    common = len(gold_words & pred_words)
    precision = common / len(pred_words) if pred_words else 0.0
    recall = common / len(gold_words)
    if not pred_words or precision == 0 or recall == 0:
        f_measure = 0.0
    else:
        f_measure = 1.0 / (0.5 / precision + 0.5 / recall)
    return {
        "edit_dist": edit_dist, "edit_dist_sim": 1 - edit_dist,
        "precision": precision, "recall": recall, "f_measure": f_measure,
    }


@dataclass
class _HeadingNode:
    content: str
    depth: int
    children: list[_HeadingNode] = field(default_factory=list)


class _HeadingCosts(Config):
    """Insert and delete cost 1; a rename costs the titles' normalized edit distance."""

    def rename(self, node1: _HeadingNode, node2: _HeadingNode) -> float:
        if node1.content or node2.content:
            return Levenshtein.distance(node1.content, node2.content) / max(len(node1.content), len(node2.content))
        return 0.0


def _heading_level_and_title(line: str) -> tuple[int, str]:
    """`## Title` is level 2; other lines count their `#` and drop them, as officially."""
    line = line.strip()
    if re.match(r"^#+\s", line) and " " in line:
        marker, title = line.split(" ", 1)
        return len(marker), title.strip()
    return line.count("#"), line.replace("#", "").strip()


def _heading_tree(lines: Sequence[str]) -> _HeadingNode:
    """Each heading hangs under the nearest earlier heading of a smaller level (or the root)."""
    root = _HeadingNode("Root", 0)
    open_path = [root]
    for line in lines:
        level, title = _heading_level_and_title(line)
        while len(open_path) > 1 and level <= open_path[-1].depth:
            open_path.pop()
        node = _HeadingNode(title, level)
        open_path[-1].children.append(node)
        open_path.append(node)
    return root


def heading_teds(pred_heads: list[str], gold_heads: list[str]) -> float:
    """`calc_head_teds`: 1 - tree edit distance of the heading trees / the larger heading count.

    Lines are raw headings (`## Title`). Officially it is only computed when gold has headings;
    without gold headings there is nothing to score, so we refuse rather than divide by zero.
    No predicted headings give 1 - (#gold) / #gold = 0.
    """
    if not gold_heads:
        raise ValueError("heading TEDS is undefined without gold headings; READoc skips such documents")
    distance = APTED(_heading_tree(pred_heads), _heading_tree(gold_heads), _HeadingCosts()).compute_edit_distance()
    return 1.0 - float(distance) / max(len(gold_heads), len(pred_heads))


def table_metrics(gold_tables: list[str], pred_tables: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """`TableEvaluate`: (concatenated metrics of the LaTeX tables, matched TEDS metrics).

    Gold and predicted tables are paired by the Hungarian algorithm on TEDS; `teds_p` and
    `teds_r` divide the matched sum by the predicted and gold counts (READoc reports `teds_min`).
    The TEDS dict is `{}` when gold has no tables or pandoc cannot convert a gold table; a
    predicted table pandoc cannot convert scores 0 against every gold table.
    """
    concatenated = concatenated_metrics("\n".join(pred_tables), "\n".join(gold_tables))
    if not gold_tables:
        return concatenated, {}
    if not pandoc_available():
        raise RuntimeError("READoc's table TEDS needs the pandoc binary on PATH; install it with scripts/install-pandoc")
    gold_html = [latex_table_to_html(table) for table in gold_tables]
    if any(document is None for document in gold_html):
        return concatenated, {}
    pred_html = [latex_table_to_html(table) or "" for table in pred_tables]
    similarity = np.zeros((len(gold_html), len(pred_html)))
    for i, gold_document in enumerate(gold_html):
        for j, pred_document in enumerate(pred_html):
            similarity[i][j] = table_teds(gold_document, pred_document)
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    matched = similarity[rows, cols].sum()
    teds_p = float(matched / len(pred_html)) if pred_html else 0.0
    teds_r = float(matched / len(gold_html))
    teds_f1 = 0.0 if teds_p + teds_r == 0 else 2 * teds_p * teds_r / (teds_p + teds_r)
    return concatenated, {"teds_p": teds_p, "teds_r": teds_r, "teds_min": min(teds_p, teds_r), "teds_f1": teds_f1}


def _inversions(permutation: Sequence[int]) -> int:
    """Pairs out of order in a permutation of 0..n-1, counted with a Fenwick tree."""
    n = len(permutation)
    seen_counts = [0] * (n + 1)
    inversions = 0
    for seen, value in enumerate(permutation):
        index, not_greater = int(value) + 1, 0
        while index > 0:
            not_greater += seen_counts[index]
            index -= index & -index
        inversions += seen - not_greater
        index = int(value) + 1
        while index <= n:
            seen_counts[index] += 1
            index += index & -index
    return inversions


def _order_scores(gold_order: list[int], pred_order: Sequence[int], n_gold: int, n_pred: int) -> dict[str, float]:
    """1 - normalized Kendall tau distance and Spearman's rho, or 0 for too few matches.

    Too few is fewer than 2, or no more than 10% of the shorter list (the official float test).
    """
    n = len(gold_order)
    if not (n > ORDER_MIN_MATCH_SHARE * min(n_gold, n_pred) and n >= 2):
        return {"kendall_tau": 0.0, "spearmanr": 0.0}
    # The official count compares both orders of every pair, hence twice the inversions.
    kendall_distance = 2 * _inversions(pred_order) / (n * (n - 1))
    return {"kendall_tau": 1 - kendall_distance, "spearmanr": float(stats.spearmanr(gold_order, pred_order)[0])}


def _normalized_distance(first: str, second: str) -> float:
    longer = max(len(first), len(second))
    return Levenshtein.distance(first, second) / longer if longer else 0.0


def segment_order(pred_segments: list[str], gold_segments: list[str]) -> dict[str, float]:
    """`compute_segment_order`: reading order over segments matched greedily by edit distance.

    Each gold segment in turn takes the closest unused predicted segment (the first on ties)
    within a normalized distance of 0.5. `{}` when gold has no segments.
    """
    if not gold_segments:
        return {}
    matched_pred: list[int] = []
    used: set[int] = set()
    for gold in gold_segments:
        best_index, best_distance = -1, 1.0
        for index, pred in enumerate(pred_segments):
            if index in used:
                continue
            distance = _normalized_distance(gold, pred)
            if distance <= SEGMENT_MATCH_MAX_DISTANCE and distance < best_distance:
                best_index, best_distance = index, distance
        if best_index != -1:
            matched_pred.append(best_index)
            used.add(best_index)
    # As officially, the predicted side is the argsort of the matched positions.
    pred_order = [int(i) for i in np.argsort(matched_pred)]
    return _order_scores(list(range(len(matched_pred))), pred_order, len(gold_segments), len(pred_segments))


def word_order(pred_text: str, gold_text: str) -> dict[str, float]:
    """`compute_word_order`: reading order of the distinct words both texts share.

    Words are whitespace tokens, each placed at its first occurrence. `{}` when gold has at
    most one word; the 10% threshold counts all tokens, repeats included.
    """
    gold_words, pred_words = gold_text.split(), pred_text.split()
    if len(gold_words) <= 1:
        return {}
    common = set(gold_words) & set(pred_words)
    gold_ids = {word: index for index, word in enumerate(dict.fromkeys(w for w in gold_words if w in common))}
    pred_order = [gold_ids[word] for word in dict.fromkeys(w for w in pred_words if w in common)]
    return _order_scores(list(range(len(gold_ids))), pred_order, len(gold_words), len(pred_words))
