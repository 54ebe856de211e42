"""`evaluate_suite()`: several tasks, one model object, one folder.

The model is loaded once and every task runs with it (a 7B model loaded six times for the Open
LLM Leaderboard's six tasks would cost more than some of the tasks). Each task writes an ordinary
run dir under the suite's folder, so `harness show`, `compare`, `gate`, `rescore` and leaderboards
read it like any run; the suite's folder adds:

- `suite.json`: what was run (the suite, its file's hash, the model, settings, each task's label,
  name, arguments and run dir) and its status. Not `manifest.json`, which would make the folder
  look like a run to the reports that walk run folders.
- `metrics.json`: each task's headline metric (value, interval and n, as in the task's
  metrics.json) and the suite's aggregate, the mean of the headlines; not computable (null, with
  the reason) when a headline is missing, never 0.
- `results.json`: every task's lm-eval-shaped results in one file, as lm-eval writes them.

Rerunning the same command resumes task by task: a task whose run dir finished with the same run
key is not run again, an unfinished one resumes from its journals.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness.api import (HARNESS_VERSION, PreparedTask, RunResult, _git_commit, _now, finished_run, open_model,
                         prepare_task, run_task, task_manifest)
from harness.errors import RunInterrupted, UsageError
from harness.lmeval import is_lmeval_task
from harness.models.base import Model, ModelSpec, check_model_spec
from harness.progress import Progress
from harness.report.lm_eval_results import RESULTS, merge_results
from harness.runners.generation import ResponseSource
from harness.runners.select import open_source
from harness.store.run_dir import METRICS, read_json, write_json_atomic
from harness.suite_spec import SUITE_MANIFEST, SuiteSpec, SuiteTask, resolve_tasks, run_folder_name
from harness.tasks.catalog import load_task


@dataclass(frozen=True)
class SuiteResult:
    suite_dir: Path
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    runs: dict[str, RunResult]  # label -> the task's run (skipped ones read back from their run dir)


def default_suite_dir(runs_root: Path, suite: str, model_label: str) -> Path:
    """runs/<suite>__<model>: no timestamp, so the same command finds the same folder and resumes."""
    safe_model = re.sub(r"[^A-Za-z0-9._-]+", "_", model_label).strip("_") or "model"
    return runs_root / f"{suite}__{safe_model}"


def _prepare_all(suite: SuiteSpec, task_args: Mapping[str, Any], options: Mapping[str, Any],
                 data_root: Path | None) -> dict[str, PreparedTask]:
    """Every task resolved, its data read and its headline checked, before the model loads."""
    prepared: dict[str, PreparedTask] = {}
    try:
        for entry in suite.tasks:
            try:
                data = _data_folder(data_root, entry.task, options["tasks_dirs"]) if data_root else None
                prepared[entry.label] = prepare_task(entry.task, task_args={**entry.args, **task_args}, data=data,
                                                     **options)
            except UsageError as error:
                raise entry.problem(f"task {entry.label!r}: {error}") from error
            labels = prepared[entry.label].spec.metric_labels()
            if entry.metric is not None and entry.metric not in labels:
                raise entry.problem(f"task {entry.label!r}: key 'metric': {entry.metric!r} is not a per-sample metric "
                                    f"of {entry.task}; known: {', '.join(labels)}")
    except BaseException:
        for task in prepared.values():
            task.close()
        raise
    return prepared


def _data_folder(root: Path, task: str, tasks_dirs: Sequence[Path | str]) -> Path | None:
    """The task's data folder under a suite's --data folder, named as under $HARNESS_DATA_DIR."""
    if is_lmeval_task(task):
        return None  # lm-eval's tasks name their own data
    spec = load_task(task, [Path(folder) for folder in tasks_dirs])
    names = [spec.name, spec.directory.name] + ([spec.dataset.hub, spec.dataset.hub.replace("/", "__")]
                                                 if spec.dataset.hub else [])
    for name in dict.fromkeys(names):
        if (root / name).is_dir():
            return root / name
    raise UsageError(f"--data {root} holds no folder for task {task!r} (looked for {', '.join(dict.fromkeys(names))}); "
                     "put its data there, or leave --data out to read each task's own source")


def _open_suite_dir(suite_dir: Path, manifest: dict[str, Any]) -> None:
    """Create the folder, or resume it when it holds this suite with this model; write suite.json (running)."""
    existing = suite_dir / SUITE_MANIFEST
    if existing.is_file():
        previous = read_json(existing)
        if (previous.get("suite"), previous.get("model", {}).get("fingerprint")) != (manifest["suite"], manifest["model"]["fingerprint"]):
            raise UsageError(f"{suite_dir} holds suite {previous.get('suite')!r} with model "
                             f"{previous.get('model', {}).get('spec')!r}; pass another --run-dir, or delete it to start over")
        manifest["started_at"] = previous.get("started_at", manifest["started_at"])
    suite_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(existing, {**manifest, "status": "running"})


def evaluate_suite(
    suite: SuiteSpec | str,
    model: str | Model,
    *,
    model_args: str | None = None,
    task_args: Mapping[str, Any] | None = None,
    sample_data: bool = False,
    data_root: Path | str | None = None,
    limit: int | None = None,
    run_dir: Path | str | None = None,
    runs_root: Path | str = "runs",
    tasks_dirs: Sequence[Path | str] = (),
    seed: int = 0,
    use_cache: bool = True,
    cache_dir: Path | str | None = None,
    progress: Callable[[str], Progress] | None = None,
    sandbox: str = "local",
    runner: str = "local",
) -> SuiteResult:
    """Run every task of `suite` with one model object; resumes task by task.

    `suite` is a SuiteSpec or what `--task` takes (`"openllm-v1"`, `"mmlu,gsm8k"`, a suite file's
    path). `progress` makes a progress display per task from its label. Data comes from each task's
    own source (hub, $HARNESS_DATA_DIR), from its folder under `data_root` (named as under
    $HARNESS_DATA_DIR: the task, its task folder or its hub id), or, with `sample_data`, its
    bundled sample."""
    if isinstance(suite, str):
        resolved = resolve_tasks(suite, [Path(folder) for folder in tasks_dirs])
        suite = resolved if isinstance(resolved, SuiteSpec) else \
            SuiteSpec(name=run_folder_name(resolved), tasks=(SuiteTask(label=resolved, task=resolved),))
    if isinstance(model, str):
        check_model_spec(model, model_args)
    options = {"sample_data": sample_data, "limit": limit, "tasks_dirs": tasks_dirs, "seed": seed,
               "sandbox": sandbox, "cache_dir": cache_dir}
    prepared = _prepare_all(suite, dict(task_args or {}), options, Path(data_root) if data_root else None)
    try:
        model_obj, model_spec, model_label = open_model(model, model_args, use_cache, cache_dir)
        suite_dir = Path(run_dir) if run_dir else default_suite_dir(Path(runs_root), suite.name, model_label)
        manifest = _suite_manifest(suite, model_label, model_obj.fingerprint(), options, dict(task_args or {}))
        _open_suite_dir(suite_dir, manifest)
        source = open_source(runner, model_obj, model_spec)
        try:
            runs, skipped = _run_tasks(suite, prepared, suite_dir, model_obj, model_spec, model_label, source,
                                       runner=runner, use_cache=use_cache, cache_dir=cache_dir, progress=progress)
        finally:
            source.close()
    finally:
        for task in prepared.values():
            task.close()
    return _finish(suite, suite_dir, {**manifest, "skipped_finished_tasks": skipped}, runs)


def _run_tasks(suite: SuiteSpec, prepared: Mapping[str, PreparedTask], suite_dir: Path, model_obj: Model,
               model_spec: ModelSpec | None, model_label: str, source: ResponseSource, *, runner: str,
               use_cache: bool, cache_dir: Path | str | None,
               progress: Callable[[str], Progress] | None) -> tuple[dict[str, RunResult], list[str]]:
    """Each task into its run dir, in the suite's order; a task finished with the same run key is
    read back, not run. Returns the runs by label and the labels that were already finished."""
    fingerprint = model_obj.fingerprint()
    runs: dict[str, RunResult] = {}
    skipped: list[str] = []
    for entry in suite.tasks:
        run_path = suite_dir / run_folder_name(entry.label)
        manifest = task_manifest(prepared[entry.label], model_label, fingerprint, runner,
                                 {"suite": {"name": suite.name, "label": entry.label, "dir": str(suite_dir)}})
        done = finished_run(run_path, manifest)
        if done is not None:
            skipped.append(entry.label)
        runs[entry.label] = done or _run_one(
            prepared[entry.label], model_obj, model_spec, run_path, manifest, source, suite_dir,
            use_cache=use_cache, cache_dir=cache_dir, progress=progress(entry.label) if progress else None)
    return runs, skipped


def _run_one(prepared: PreparedTask, model_obj: Model, model_spec: ModelSpec | None, run_path: Path,
             manifest: dict[str, Any], source: ResponseSource, suite_dir: Path, **options: Any) -> RunResult:
    try:
        return run_task(prepared, model_obj, model_spec, run_path, manifest, source, **options)
    except RunInterrupted as error:
        raise RunInterrupted(f"{error} (or rerun the same suite command, with --run-dir {suite_dir}: "
                             "finished tasks are not run again)") from error


def _suite_manifest(suite: SuiteSpec, model_label: str, fingerprint: str, options: Mapping[str, Any],
                    task_args: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "suite": suite.name, "description": suite.description,
        "source": str(suite.path) if suite.path else "command line", "content_hash": suite.content_hash(),
        "model": {"spec": model_label, "fingerprint": fingerprint},
        "harness_version": HARNESS_VERSION, "git_commit": _git_commit(),
        "settings": {"seed": options["seed"], "limit": options["limit"], "sample_data": options["sample_data"],
                     "sandbox": options["sandbox"], "task_args": dict(task_args)},
        "tasks": [{"label": entry.label, "task": entry.task, "args": dict(entry.args), "metric": entry.metric,
                   "aggregate": entry.aggregate, "run_dir": run_folder_name(entry.label)} for entry in suite.tasks],
        "aggregate": suite.aggregate, "started_at": _now(),
    }


def _finish(suite: SuiteSpec, suite_dir: Path, manifest: dict[str, Any], runs: Mapping[str, RunResult]) -> SuiteResult:
    metrics = suite_metrics(suite, runs)
    documents = {label: (run.manifest["task"]["name"], read_json(run.run_dir / RESULTS))
                 for label, run in runs.items() if (run.run_dir / RESULTS).is_file()}
    write_json_atomic(suite_dir / RESULTS, merge_results(documents, suite.name))
    write_json_atomic(suite_dir / METRICS, metrics)
    counts = {key: sum(getattr(run.stats, key) for run in runs.values())
              for key in ("model_requests", "cached_requests", "journaled_responses", "resumed_records", "errors")}
    manifest = {**manifest, "finished_at": _now(), "status": "complete", "counts": counts,
                "model_s": sum(run.stats.model_s for run in runs.values())}
    write_json_atomic(suite_dir / SUITE_MANIFEST, manifest)
    return SuiteResult(suite_dir, metrics, manifest, dict(runs))


def _headline(entry: SuiteTask, run: RunResult) -> dict[str, Any]:
    """The task's headline metric as its metrics.json reports it, with where it came from."""
    label = entry.metric or next(iter(run.metrics["metrics"]))
    if entry.aggregate == "subset_mean":
        reported = subset_mean([table.get(label) or {} for table in run.metrics.get("subsets", {}).values()])
    else:
        reported = run.metrics["metrics"].get(label) or {}
    return {"task": run.manifest["task"]["name"], "metric": label, "aggregate": entry.aggregate,
            "num_fewshot": run.manifest["task"].get("num_fewshot"),
            **{key: reported.get(key) for key in ("value", "ci_low", "ci_high", "n", "unscored", "complete")},
            "run_dir": run.run_dir.name}


def subset_mean(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The unweighted mean of subsets' values (null if one has none); its interval combines the
    subsets' as independent normal errors, sqrt(sum of squared half-widths) / K."""
    values = [entry.get("value") for entry in entries]
    if not entries or any(value is None for value in values):
        return {"value": None, "n": sum(entry.get("n") or 0 for entry in entries), "complete": False}
    mean = sum(values) / len(values)
    halves = [(entry["ci_high"] - entry["ci_low"]) / 2 for entry in entries
              if entry.get("ci_low") is not None and entry.get("ci_high") is not None]
    half = math.sqrt(sum(h * h for h in halves)) / len(entries) if len(halves) == len(entries) else None
    return {"value": mean, "ci_low": None if half is None else mean - half, "ci_high": None if half is None else mean + half,
            "n": sum(entry["n"] for entry in entries), "unscored": sum(entry.get("unscored") or 0 for entry in entries),
            "complete": all(entry.get("complete", True) for entry in entries)}


def suite_metrics(suite: SuiteSpec, runs: Mapping[str, RunResult]) -> dict[str, Any]:
    """The suite's metrics.json: per-task headlines and their mean (null with the reason when a
    headline is missing: a mean over fewer tasks would not be the suite's number)."""
    tasks = {entry.label: _headline(entry, runs[entry.label]) for entry in suite.tasks if entry.label in runs}
    missing = [entry.label for entry in suite.tasks if tasks.get(entry.label, {}).get("value") is None]
    over = [f"{label}: {row['metric']}" for label, row in tasks.items()]
    if missing:
        mean = {"value": None, "computable": False,
                "reason": f"no headline value for {', '.join(missing)}, so the mean over the suite's tasks is not computable"}
    else:
        mean = {"value": sum(row["value"] for row in tasks.values()) / len(tasks), "computable": True}
    return {"suite": suite.name, "tasks": tasks,
            "aggregate": {"method": suite.aggregate, **mean, "over": over,
                          "note": "unweighted mean of the tasks' headline metrics, each task counting once"}}
