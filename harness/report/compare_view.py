"""How comparisons and gate verdicts read: rich tables in the terminal, Markdown for a pull-request comment.

Values are in percent and deltas in points, as everywhere in the harness; a metric without scored
pairs shows n/a, never 0. Regressions come first, so a reviewer sees what failed without scrolling.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.report.compare import ChangedSample, MetricComparison, RunComparison
from harness.report.gate import GateResult

# Piped output (CI logs) gets 80 columns by default, too narrow for the comparison table.
STDOUT = Console() if Console().is_terminal else Console(width=160)
# Rows beyond this many go into a collapsed <details> block of the Markdown summary.
SUMMARY_ROWS = 40


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _delta(row: MetricComparison) -> str:
    return "n/a" if row.delta_points is None else f"{row.delta_points:+.2f}"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _score(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:g}"


def _ordered(rows: Sequence[MetricComparison], failures: Sequence[MetricComparison]) -> list[MetricComparison]:
    """Failed rows first, then by delta, largest drop first; rows without a delta last."""
    failed = {id(row) for row in failures}
    return sorted(rows, key=lambda row: (id(row) not in failed, row.delta_points is None, row.delta_points or 0.0))


def _natural(text: str) -> list[tuple[int, int | str]]:
    """Sort key that puts py/output/9 before py/output/10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text)]


def _changed_first(changed: Sequence[ChangedSample], limit: int) -> list[tuple[str, str, int, str]]:
    """(subset, id, attempt, what changed) per sample, regressions first, at most `limit` samples.

    One row per sample rather than per metric: a wrong answer usually flips every metric at once.
    """
    by_sample: dict[tuple[str, str, int], list[ChangedSample]] = {}
    for sample in changed:
        by_sample.setdefault((sample.subset, sample.id, sample.attempt), []).append(sample)
    order = sorted(by_sample, key=lambda key: (not any(s.regressed for s in by_sample[key]), key[0], _natural(key[1]), key[2]))
    return [(subset, sample_id, attempt, "; ".join(f"{s.label}: {_score(s.base)} -> {_score(s.new)}"
                                                   for s in by_sample[(subset, sample_id, attempt)]))
            for subset, sample_id, attempt in order[:limit]]


def _changed_count(changed: Sequence[ChangedSample]) -> int:
    return len({(sample.subset, sample.id, sample.attempt) for sample in changed})


def print_comparison(comparison: RunComparison, flips: int) -> None:
    """`harness compare`: problems and warnings, the delta table, then up to `flips` changed samples."""
    for problem in comparison.problems:
        STDOUT.print(Text(f"not compared: {problem}", style="bold red"))
    for warning in comparison.warnings:
        STDOUT.print(Text(f"warning: {warning}", style="yellow"))
    for subset in comparison.prompt_changed:
        STDOUT.print(Text(f"prompt changed: subset {subset} is not compared", style="yellow"))
    if comparison.problems:
        return
    title = f"{comparison.base.task_key}: {comparison.new.model} vs {comparison.base.model} ({comparison.shared} shared samples)"
    table = Table(title=Text(title))
    for column in ("metric", "subset", "base", "new", "delta", "n", "unscored", "p McNemar", "p bootstrap", "p adj", "sig"):
        table.add_column(column, justify="left" if column in ("metric", "subset") else "right")
    for row in comparison.rows:
        style = "red" if row.significant and (row.delta_points or 0) < 0 else "green" if row.significant else None
        table.add_row(Text(row.label), Text(row.subset), _percent(row.base), _percent(row.new), _delta(row), str(row.n),
                      str(row.unscored), _p(row.mcnemar.p_value if row.mcnemar else None),
                      _p(row.bootstrap.p_value if row.bootstrap else None), _p(row.p_adjusted),
                      "yes" if row.significant else "", style=style)
    STDOUT.print(table)
    shown = _changed_first(comparison.changed, flips)
    if shown:
        flipped = Table(title=f"changed samples ({len(shown)} of {_changed_count(comparison.changed)}, regressions first)")
        for column in ("subset", "id", "attempt", "scores (base -> new)"):
            flipped.add_column(column)
        for subset, sample_id, attempt, change in shown:
            flipped.add_row(Text(subset), Text(sample_id), str(attempt), Text(change))
        STDOUT.print(flipped)


def print_gate(result: GateResult) -> None:
    """`harness gate` on the terminal: the verdict, failed metrics and, with --fail-on-change, the first changes."""
    style = "bold green" if result.exit_code == 0 else "bold red"
    STDOUT.print(Text(result.verdict, style=style))
    for row in result.failures:
        STDOUT.print(Text(f"  {row.task} {row.label} {row.subset}: {_percent(row.base)} -> {_percent(row.new)} "
                          f"({_delta(row)} points, adjusted p {_p(row.p_adjusted)})", style="red"))
    for problem in result.problems[1:]:
        STDOUT.print(Text(f"  also: {problem}", style="red"))
    for note in _notes(result):
        STDOUT.print(Text(f"  note: {note}", style="yellow"))
    for change in result.changes[:20] if result.settings.fail_on_change else ():
        STDOUT.print(Text(f"  changed: {change}"))
    if result.settings.fail_on_change and len(result.changes) > 20:
        STDOUT.print(Text(f"  ... and {len(result.changes) - 20} more changes"))


def _notes(result: GateResult) -> list[str]:
    """Warnings that did not stop the gate: changed task files, prompt-changed subsets, unmatched samples."""
    notes = [warning for comparison in result.comparisons for warning in comparison.warnings]
    return notes + [f"{comparison.base.task_key}: prompt changed in subset {subset}; not compared"
                    for comparison in result.comparisons for subset in comparison.prompt_changed]


def _markdown_row(row: MetricComparison, failed: bool) -> str:
    mark = ":x:" if failed else ""
    return (f"| {mark} | {row.task} | `{row.label}` | {row.subset} | {_percent(row.base)} | {_percent(row.new)} | "
            f"{_delta(row)} | {row.n} | {_p(row.p_value)} | {_p(row.p_adjusted)} |")


def _markdown_table(rows: Sequence[MetricComparison], failures: Sequence[MetricComparison]) -> list[str]:
    failed = {id(row) for row in failures}
    header = ["| | task | metric | subset | base | new | delta (pts) | n | p | p adj |",
              "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    ordered = _ordered(rows, failures)
    lines = header + [_markdown_row(row, id(row) in failed) for row in ordered[:SUMMARY_ROWS]]
    if len(ordered) > SUMMARY_ROWS:
        lines += ["", f"<details><summary>{len(ordered) - SUMMARY_ROWS} more comparisons</summary>", "", *header,
                  *(_markdown_row(row, id(row) in failed) for row in ordered[SUMMARY_ROWS:]), "", "</details>"]
    return lines


def gate_summary(result: GateResult, flips: int = 20) -> str:
    """The Markdown for a pull-request comment: verdict, failed subsets, the table, notes and flipped samples."""
    icon = {0: ":white_check_mark:", 1: ":x:", 2: ":warning:"}[result.exit_code]
    lines = [f"## Regression gate: {icon} {result.verdict}", "",
             f"Allowed drop {result.settings.max_drop:g} points; significance alpha {result.settings.alpha:g} "
             f"({'Holm-Bonferroni adjusted' if result.settings.correction == 'holm' else 'no correction'} over "
             f"{sum(row.p_value is not None for row in result.rows)} comparisons; McNemar's exact test for 0/1 "
             "scores, paired bootstrap otherwise).", ""]
    if result.failures:
        lines += ["**Failed:** " + ", ".join(f"{row.task} `{row.label}` **{row.subset}** ({_delta(row)} pts)"
                                             for row in result.failures), ""]
    lines += [f"- :warning: {problem}" for problem in result.problems]
    notes = _notes(result)
    lines += [f"- {note}" for note in notes]
    if result.problems or notes:
        lines.append("")
    if result.rows:
        lines += _markdown_table(result.rows, result.failures) + [""]
    changed = [sample for comparison in result.comparisons for sample in comparison.changed]
    shown = _changed_first(changed, flips)
    if shown:
        lines += [f"### Changed samples ({len(shown)} of {_changed_count(changed)}, regressions first)", "",
                  "| subset | id | attempt | scores (base -> new) |", "|---|---|---:|---|"]
        lines += [f"| {subset} | `{sample_id}` | {attempt} | {change} |" for subset, sample_id, attempt, change in shown]
    return "\n".join(lines).rstrip() + "\n"
