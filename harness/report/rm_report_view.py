"""`harness rm-report` on the terminal: one table per view, runs named #1, #2, ... in the order given.

A figure that cannot be computed shows as `n/a (k)`, with reason k printed under its table, so
the columns stay narrow and nothing uncomputable reads as a 0.
"""

from __future__ import annotations

from typing import Sequence

from rich.table import Table
from rich.text import Text

from harness.report.console import STDOUT
from harness.report.rm_report import Agreement, CombinedOverall, Figure, RmReport, RunSummary


class _Footnotes:
    """The reasons behind one table's n/a cells, numbered once each."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def cell(self, figure: Figure, percent: bool = True) -> Text:
        if figure.value is None:
            reason = figure.reason or "not computed"
            if reason not in self.reasons:
                self.reasons.append(reason)
            return Text(f"n/a ({self.reasons.index(reason) + 1})", style="dim")
        value = f"{100 * figure.value:.2f}" if percent else f"{figure.value:.3f}"
        interval = f" [{100 * figure.ci[0]:.2f}, {100 * figure.ci[1]:.2f}]" if figure.ci else ""
        return Text(value + interval)

    def print_below(self, table: Table) -> None:
        STDOUT.print(table)
        for number, reason in enumerate(self.reasons, 1):
            STDOUT.print(Text(f"  ({number}) {reason}", style="dim"))


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index < 2 else "right")
    return table


def _count(figure: Figure) -> str:
    return "" if figure.n is None else str(figure.n)


def print_rm_report(report: RmReport) -> None:
    """Runs, sections, margin buckets, agreement, combined overall; then the notes."""
    label = {run.path: f"#{index} {run.model}" for index, run in enumerate(report.runs, 1)}
    _print_runs(report.runs, label)
    _print_sections(report.runs, label)
    _print_buckets(report.runs, label)
    if report.agreements:
        _print_agreements(report.agreements, label)
    if report.combined:
        _print_combined(report.combined, label)
    for note in report.notes:
        STDOUT.print(Text(f"note: {note}"))


def _print_runs(runs: Sequence[RunSummary], label: dict[str, str]) -> None:
    notes = _Footnotes()
    table = _table("reward-model runs (%, accuracy with its 95% CI)",
                   ["run", "task", "accuracy", "n", "headline", "exact ties", "no scores"])
    for run in runs:
        table.add_row(Text(label[run.path]), run.task, notes.cell(run.accuracy), _count(run.accuracy),
                      Text(f"{run.headline_name} ").append_text(notes.cell(run.headline)), notes.cell(run.ties),
                      str(run.without_scores))
    notes.print_below(table)
    for run in runs:
        STDOUT.print(Text(f"  {label[run.path].split()[0]} = {run.path}"))


def _print_sections(runs: Sequence[RunSummary], label: dict[str, str]) -> None:
    notes = _Footnotes()
    table = _table("per section (%): the task's score, and accuracy pooled over the section's pairs",
                   ["run", "section", "task score", "pooled accuracy", "n"])
    for run in runs:
        for name, figures in run.sections.items():
            pooled = figures["pooled_accuracy"]
            table.add_row(Text(label[run.path]), Text(name), notes.cell(figures["task_score"]), notes.cell(pooled),
                          _count(pooled))
    notes.print_below(table)


def _print_buckets(runs: Sequence[RunSummary], label: dict[str, str]) -> None:
    notes = _Footnotes()
    table = _table("accuracy (%) by |margin| quartile, margin = worst correct − best incorrect score",
                   ["run", "quartile", "|margin|", "accuracy", "n"])
    for run in runs:
        if not run.buckets:
            table.add_row(Text(label[run.path]), "-", "", notes.cell(Figure(None, reason="no sample has candidate scores")), "0")
        for bucket in run.buckets:
            opening = "[" if bucket.name == "Q1" else "("
            table.add_row(Text(label[run.path]), bucket.name, f"{opening}{bucket.low:.4g}, {bucket.high:.4g}]",
                          notes.cell(bucket.accuracy), _count(bucket.accuracy))
    notes.print_below(table)


def _print_agreements(agreements: Sequence[Agreement], label: dict[str, str]) -> None:
    notes = _Footnotes()
    table = _table("agreement on the pairs both runs scored (right: correct strictly on top)",
                   ["runs", "pairs", "same top %", "kappa", "rho margins", "both right", "only 1st", "only 2nd", "both wrong"])
    for item in agreements:
        table.add_row(Text(f"{label[item.first]} / {label[item.second]}"), f"{item.compared}/{item.shared}",
                      notes.cell(item.same_top), notes.cell(item.kappa, percent=False),
                      notes.cell(item.spearman, percent=False), str(item.both_right), str(item.only_first_right),
                      str(item.only_second_right), str(item.both_wrong))
    notes.print_below(table)


def _print_combined(combined: Sequence[CombinedOverall], label: dict[str, str]) -> None:
    notes = _Footnotes()
    table = _table("RewardBench v1 overall with Prior Sets (%; Chat, Chat Hard, Safety, Reasoning 2 each, Prior Sets 1)",
                   ["runs", "model fingerprint", "overall"])
    for item in combined:
        table.add_row(Text(f"{label[item.v1_run]} + {label[item.prior_run]}"), Text(item.fingerprint),
                      notes.cell(item.overall))
    notes.print_below(table)
