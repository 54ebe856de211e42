"""Terminal output: the progress bar while a run works, metric tables when it is done."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from harness.tasks.spec import TaskSpec

STDERR = Console(stderr=True)
STDOUT = Console()


class ThroughputColumn(ProgressColumn):
    """Samples per second since the bar started (rich ships only a bytes-per-second column)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} samples/s" if speed else "-- samples/s", style="progress.data.speed")


class RichProgress:
    """The runner's Progress, drawn on stderr so stdout stays clean for tables and JSON."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._progress: Progress | None = None
        self._task_id: Any = None

    def start(self, total: int, completed: int) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), ThroughputColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=STDERR,
        )
        self._progress.start()
        self._task_id = self._progress.add_task(self.description, total=total, completed=completed)

    def advance(self, count: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task_id, count)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _value_cells(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """Value and CI in percent, and n; an uncomputable metric says so instead of showing 0."""
    unscored = f" (+{entry['unscored']} unscored)" if entry.get("unscored") else ""
    unscored += f" ({entry['undefined']} n/a)" if entry.get("undefined") else ""
    if entry.get("value") is None:
        return "n/a", "", f"0{unscored}"
    interval = f"[{100 * entry['ci_low']:.2f}, {100 * entry['ci_high']:.2f}]"
    return f"{100 * entry['value']:.2f}", interval, f"{entry['n']}{unscored}"


def print_metrics(metrics: Mapping[str, Any], title: str) -> None:
    """One row per metric (and per subset when there are several, and per group value such as
    `level=Level 5`), values in % with 95% CIs; then a filtering adapter's critic quality."""
    table = Table(title=Text(title))
    for column, justify in (("metric", "left"), ("subset", "left"), ("value", "right"), ("95% CI", "right"), ("n", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    subsets = dict(metrics.get("subsets", {})) if len(metrics.get("subsets", {})) > 1 else {}
    for group, values in metrics.get("groups", {}).items():
        subsets.update({f"{group}={value}": entry for value, entry in values.items()})
    for label, entry in metrics["metrics"].items():
        table.add_row(Text(label), "all", *_value_cells(entry))
        for subset, values in subsets.items():
            if label in values:
                table.add_row("", Text(subset), *_value_cells(values[label]))
    STDOUT.print(table)
    if metrics.get("filter"):
        print_filter_quality(metrics["filter"])
    headline = (metrics.get("summary") or {}).get("headline")
    if headline:
        print_headline(headline, (metrics.get("summary") or {}).get("note"))


def print_suite(metrics: Mapping[str, Any], title: str) -> None:
    """A suite's metrics.json: one row per task (its headline metric, value, CI, n), then the mean,
    or why the mean is not computable."""
    table = Table(title=Text(title))
    for column, justify in (("task", "left"), ("metric", "left"), ("shots", "right"), ("value", "right"),
                            ("95% CI", "right"), ("n", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for label, row in metrics["tasks"].items():
        shots = "" if row.get("num_fewshot") is None else str(row["num_fewshot"])
        metric = row["metric"] + (" (mean over subsets)" if row.get("aggregate") == "subset_mean" else "")
        table.add_row(Text(label), Text(metric), shots, *_value_cells(row))
    aggregate = metrics["aggregate"]
    value = "n/a" if aggregate["value"] is None else f"{100 * aggregate['value']:.2f}"
    table.add_row(Text(f"{aggregate['method']} over {len(metrics['tasks'])} tasks", style="bold"), "", "", value, "", "")
    console = STDOUT if STDOUT.is_terminal else Console(width=120)  # piped output: wide enough for a row per task
    console.print(table)
    if aggregate["value"] is None:
        console.print(Text(aggregate["reason"], style="yellow"))


def print_headline(headline: Mapping[str, float | None], note: str | None) -> None:
    """A task's own scores as the benchmark's authors compute them (a summary's `headline`):
    RewardBench's weighted sections and overall, say, which no per-sample mean above equals."""
    table = Table(title="benchmark scores (official formulas)")
    table.add_column("score", justify="left")
    table.add_column("value", justify="right")
    for name, value in headline.items():
        table.add_row(Text(name), "n/a (not measured)" if value is None else f"{100 * value:.2f}")
    STDOUT.print(table)
    if note:
        STDOUT.print(Text(note, style="dim"))


def print_filter_quality(quality: Mapping[str, Mapping[str, Any]]) -> None:
    """How well an adapter's filter (Critic-CoT's critic) separated wrong candidates from right ones."""
    table = Table(title="critic as a detector of incorrect candidates (pooled over candidates)")
    for column in ("metric", "precision", "recall", "F1", "accuracy", "judged", "rejected", "incorrect"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    percent = lambda value: "n/a" if value is None else f"{100 * value:.2f}"  # noqa: E731
    for label, entry in quality.items():
        table.add_row(Text(label), percent(entry["precision"]), percent(entry["recall"]), percent(entry["f1"]),
                      percent(entry["accuracy"]), str(entry["candidates"]), str(entry["rejected"]), str(entry["incorrect"]))
    STDOUT.print(table)


def print_tasks(specs: Sequence[TaskSpec]) -> None:
    table = Table(title="tasks")
    for column in ("task", "version", "variants", "description"):
        table.add_column(column)
    for spec in specs:
        table.add_row(spec.name, spec.version, ", ".join(spec.variants) or "-", spec.description)
    STDOUT.print(table)


def print_suites(suites: Sequence[Any]) -> None:
    """The built-in suites (`SuiteSpec`s): run one with `harness run --task NAME`."""
    table = Table(title="suites (harness run --task NAME)")
    for column in ("suite", "tasks", "description"):
        table.add_column(column)
    for suite in suites:
        table.add_row(suite.name, ", ".join(entry.label for entry in suite.tasks), suite.description)
    STDOUT.print(table)


def print_sandbox_checks(checks: Sequence[Any]) -> None:
    """The `harness sandbox check` table: one row per language."""
    table = Table(title="sandbox languages")
    for column in ("language", "name", "suite", "version", "self-test"):
        table.add_column(column)
    for check in checks:
        mark = "[green]ok[/green]" if check.available else f"[red]{check.detail}[/red]"
        table.add_row(check.key, check.name, check.suite, check.version, mark)
    Console().print(table)


def print_readoc_scores(result: Any) -> None:
    """READoc suite averages (a `SuiteResult`), each with how many documents define it."""
    table = Table(title=f"READoc {result.subset} ({len(result.per_document)} documents)")
    for column, justify in (("metric", "left"), ("value", "right"), ("documents", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for key, value in result.official_json().items():
        table.add_row(key, f"{100 * value:.2f}", str(result.documents_defining[key]))
    STDOUT.print(table)
    if result.missing_predictions:
        STDOUT.print(Text(f"{len(result.missing_predictions)} documents had no prediction and scored as empty: "
                          f"{', '.join(result.missing_predictions[:10])}", style="yellow"))
