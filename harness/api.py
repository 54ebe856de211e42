"""`evaluate()`: the public entry point; the CLI is a thin layer over it.

It resolves the task, data and model, opens (or resumes) the run directory, runs the plan and
writes samples.parquet, metrics.json and manifest.json. Everything that could change a number
goes into the manifest and into the run key that guards resumption.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness.errors import RunInterrupted, UsageError
from harness.lmeval import is_lmeval_task, prepare_lmeval_task
from harness.models.base import Model, ModelSpec, check_model_spec, load_model, parse_key_values
from harness.registry import MODELS, SANDBOXES
from harness.sandbox.types import Sandbox
from harness.progress import Progress
from harness.report.lm_eval_results import write_lm_eval_results
from harness.runners.generation import ResponseSource
from harness.runners.local import LocalRunner, RunStats
from harness.runners.select import open_source
from harness.scoring.aggregate import aggregate
from harness.store.cache import ResponseCache, default_cache_dir
from harness.store.run_dir import MANIFEST, METRICS, RunDir, read_json, write_response_files
from harness.tasks.catalog import load_task
from harness.tasks.spec import TaskSpec
from harness.tasks.task import Task, apply_task_args
from harness.types import Request, Sample

HARNESS_VERSION = "0.1.0"


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    stats: RunStats


def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _default_run_dir(root: Path, task: str, model: str) -> Path:
    safe_model = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return root / task / safe_model / stamp


def _resolve_data(data: Path | str | None, spec_directory: Path, sample_data: bool) -> Path | None:
    if sample_data:
        folder = spec_directory / "sample"
        if not folder.is_dir():
            raise UsageError(f"this task ships no sample data ({folder} is missing); use --data")
        return folder
    return Path(data).resolve() if data is not None else None


def _initial_manifest(spec: TaskSpec, settings: dict[str, Any], model_label: str, fingerprint: str) -> dict[str, Any]:
    """Everything that identifies the run; `run_key` hashes what must match to resume it.

    `limit` stays out of the key so a larger `--limit` extends an existing run directory. The
    runner and the task's folder stay out too: where the answers were computed, and where the
    task was found, change no number.
    """
    task_info = {"name": spec.name, "version": spec.version, "variant": spec.variant, "content_hash": spec.content_hash()}
    key_source = {k: v for k, v in settings.items() if k != "limit"}
    run_key = hashlib.sha256(json.dumps([task_info, fingerprint, key_source], sort_keys=True).encode()).hexdigest()
    return {
        "task": task_info, "model": {"spec": model_label, "fingerprint": fingerprint},
        "harness_version": HARNESS_VERSION, "git_commit": _git_commit(),
        "seeds": {"run": settings["seed"], "fewshot": spec.fewshot.seed if spec.fewshot else None},
        "settings": settings, "started_at": _now(), "run_key": run_key,
    }


def _run_accounting(stats: RunStats, wall: float) -> dict[str, Any]:
    """Where the time went and where the answers came from, for the manifest."""
    return {
        "timings": {"wall_s": wall, "model_s": stats.model_s, "harness_s": wall - stats.model_s,
                    "harness_share": (wall - stats.model_s) / wall if wall else 0.0},
        "counts": {"model_requests": stats.model_requests, "cached_requests": stats.cached_requests,
                   "journaled_responses": stats.journaled_responses, "resumed_records": stats.resumed_records,
                   "errors": stats.errors},
    }


def sandbox_factory(backend: str, cache_dir: Path | str | None) -> Callable[[], Sandbox]:
    """A deferred sandbox: tasks that execute nothing never import or start one.

    `backend` may carry options after a comma, as a model spec does: `local,warm=false,locale=POSIX`.
    """
    name, _, option_text = backend.partition(",")
    if name not in SANDBOXES.names():
        raise UsageError(f"--sandbox {name!r}: use one of {', '.join(SANDBOXES.names())}")
    options = parse_key_values(option_text, "sandbox option")
    if options:
        _check_sandbox_options(backend, name, inspect.signature(SANDBOXES.get(name)).parameters, options)

    def create() -> Sandbox:
        from harness.sandbox import open_sandbox
        from harness.sandbox.cache import ExecutionCache

        cache = ExecutionCache(Path(cache_dir) if cache_dir else default_cache_dir())
        return open_sandbox(name, cache=cache, **options)

    return create


def _check_sandbox_options(backend: str, name: str, parameters: Mapping[str, inspect.Parameter],
                           options: dict[str, Any]) -> None:
    """Refuse an option the backend does not take, or a value of the wrong kind (`workers=two`)."""
    allowed = {key: parameter.default for key, parameter in parameters.items()
               if key not in ("self", "cache", "sandboxes_dir")}
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UsageError(f"--sandbox {backend!r}: unknown option(s) {', '.join(unknown)}; "
                         f"{name} takes {', '.join(sorted(allowed))}")
    for key, value in options.items():
        expected = type(allowed[key]) if allowed[key] is not None else int  # workers=None means "all cores"
        if not (type(value) is expected or (expected is float and type(value) is int)):
            raise UsageError(f"--sandbox {backend!r}: {key}={value!r}: expected a value of type "
                             f"{expected.__name__} (the default is {allowed[key]!r})")


def _with_run_cache(spec: ModelSpec, use_cache: bool, cache_dir: Path | str | None) -> ModelSpec:
    """Adapters cache their inner models' answers themselves (`cache`, `cache_dir` arguments);
    they follow the run's --no-cache and --cache-dir unless the spec sets them."""
    parameters = inspect.signature(MODELS.get(spec.backend)).parameters
    args = dict(spec.args)
    if "cache" in parameters and not use_cache:
        args.setdefault("cache", False)
    if "cache_dir" in parameters and cache_dir is not None:
        args.setdefault("cache_dir", str(cache_dir))
    return ModelSpec(spec.backend, spec.name, args)


@dataclass(frozen=True)
class PreparedTask:
    """One task resolved and planned, before any model is involved: a suite prepares all its tasks
    first, so a bad task name, argument or data path fails before the model is loaded."""

    spec: TaskSpec
    task: Task
    plan: list[tuple[Sample, Request]]
    settings: dict[str, Any]

    def close(self) -> None:
        self.task.close()


def prepare_task(task: str, *, task_args: Mapping[str, Any] | str | None = None, data: Path | str | None = None,
                 sample_data: bool = False, limit: int | None = None, tasks_dirs: Sequence[Path | str] = (),
                 seed: int = 0, sandbox: str = "local", cache_dir: Path | str | None = None) -> PreparedTask:
    """Resolve `task` (with its variant or shot count) and its data, and plan every request."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: give a positive number of samples per subset")
    args = parse_key_values(task_args, "task argument") if isinstance(task_args, str) else dict(task_args or {})
    if is_lmeval_task(task):  # lm-eval's own task definitions (harness.lmeval)
        return prepare_lmeval_task(task, args, limit=limit, tasks_dirs=tasks_dirs, seed=seed, data=data,
                                   sample_data=sample_data)
    spec = load_task(task, [Path(d) for d in tasks_dirs], args.get("variant"))
    spec, own_args = apply_task_args(spec, args)
    data_path = _resolve_data(data, spec.directory, sample_data)
    task_obj = Task(spec, own_args, data_path, sandbox_factory=sandbox_factory(sandbox, cache_dir))
    try:
        samples = task_obj.samples(limit)
        plan = [(sample, request) for sample, examples in samples for request in task_obj.requests(sample, examples, seed)]
    except BaseException:
        task_obj.close()
        raise
    settings = {"limit": limit, "seed": seed, "sandbox": sandbox, "repeats": spec.repeats, "format": spec.format,
                "generation": asdict(spec.generation), "task_args": {**spec.preset_args, **args},
                "data": str(data_path) if data_path else None}
    return PreparedTask(spec, task_obj, plan, settings)


def task_manifest(prepared: PreparedTask, model_label: str, fingerprint: str, runner: str = "local",
                  manifest_extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest a run of `prepared` starts with; its `run_key` decides whether a run dir resumes."""
    spec = prepared.spec
    manifest = _initial_manifest(spec, prepared.settings, model_label, fingerprint)
    # Outside the key (computed above): the effective shot count, for reports that pin it.
    fewshot = getattr(spec, "fewshot", None)  # an lm-eval task's spec may have none
    manifest["task"] = {**manifest["task"], "num_fewshot": getattr(fewshot, "n", 0) if fewshot else 0}
    manifest.update(runner=runner, task_directory=str(spec.directory), **(manifest_extra or {}))
    return manifest


def finished_run(run_path: Path, manifest: Mapping[str, Any]) -> RunResult | None:
    """The run already in `run_path` when it finished with the same key and limit, else None:
    a suite rerun skips such a task instead of re-reading and re-aggregating it."""
    try:
        previous = read_json(run_path / MANIFEST)
        metrics = read_json(run_path / METRICS)
    except UsageError:
        return None
    same_limit = previous.get("settings", {}).get("limit") == manifest["settings"]["limit"]
    if previous.get("status") != "complete" or previous.get("run_key") != manifest["run_key"] or not same_limit:
        return None
    return RunResult(run_path, metrics, previous, RunStats(resumed_records=int(previous.get("n_records", 0))))


def run_task(prepared: PreparedTask, model_obj: Model, model_spec: ModelSpec | None, run_path: Path,
             manifest: dict[str, Any], source: ResponseSource, *, use_cache: bool = True,
             cache_dir: Path | str | None = None, progress: Progress | None = None) -> RunResult:
    """Run one prepared task with an already loaded model into `run_path` (resuming it).

    `source` answers the requests (the local model or Ray replicas); it is opened by the caller so
    a suite loads the model, and its replicas, once for all its tasks. `manifest` comes from
    `task_manifest`."""
    started = time.perf_counter()
    spec, task_obj, plan = prepared.spec, prepared.task, prepared.plan
    store = RunDir(run_path)
    done = store.open(manifest["run_key"], manifest)
    cache = ResponseCache(Path(cache_dir) if cache_dir else default_cache_dir()) if use_cache else None
    model_s_before = source.model_s
    plan_runner = LocalRunner(task_obj, model_obj, store, cache, source, progress)
    try:
        records = plan_runner.run(plan, done)
    except RunInterrupted as error:
        raise RunInterrupted(f"{error}. {len(done)} of {len(plan)} samples are saved in {run_path}: "
                             f"rerun with --run-dir {run_path} to resume") from error
    finally:
        if cache is not None:
            cache.close()
    plan_runner.stats.model_s -= model_s_before  # the source is shared by a suite's tasks
    metrics = aggregate(spec.name, spec.metric_labels(), records, seed=prepared.settings["seed"], repeats=spec.repeats)
    if task_obj.aggregate_hook is not None:
        metrics["summary"] = task_obj.aggregate_hook(records, metrics, prepared.settings["seed"])
    wall = time.perf_counter() - started
    manifest.update(started_at=store.started_at, finished_at=_now(), n_records=len(records),
                    **_run_accounting(plan_runner.stats, wall))
    write_lm_eval_results(run_path, metrics, manifest, records, model_spec)
    store.finish(records, metrics, manifest)
    if spec.save_responses:
        write_response_files(run_path, spec.save_responses, records)
    return RunResult(run_path, metrics, manifest, plan_runner.stats)


def open_model(model: str | Model, model_args: str | None = None, use_cache: bool = True,
               cache_dir: Path | str | None = None) -> tuple[Model, ModelSpec | None, str]:
    """The model object, its parsed spec (None for a Model passed in) and the label runs record."""
    if not isinstance(model, str):
        return model, None, model.name
    model_spec = check_model_spec(model, model_args)
    return load_model(_with_run_cache(model_spec, use_cache, cache_dir)), model_spec, str(model_spec)


def evaluate(
    task: str,
    model: str | Model,
    *,
    model_args: str | None = None,
    task_args: Mapping[str, Any] | str | None = None,
    data: Path | str | None = None,
    sample_data: bool = False,
    limit: int | None = None,
    run_dir: Path | str | None = None,
    runs_root: Path | str = "runs",
    tasks_dirs: Sequence[Path | str] = (),
    seed: int = 0,
    use_cache: bool = True,
    cache_dir: Path | str | None = None,
    progress: Progress | None = None,
    sandbox: str = "local",
    runner: str = "local",
    manifest_extra: Mapping[str, Any] | None = None,
) -> RunResult:
    """Evaluate `model` on `task`; resumes `run_dir` if it holds the same run.

    `runner` chooses where the model's answers are computed (`local`, `ray`, `ray:ADDRESS`);
    `manifest_extra` adds fields to the manifest that do not identify the run (a re-scored
    run's source, say). Several tasks with one model: `harness.suites.evaluate_suite`."""
    if isinstance(model, str):
        check_model_spec(model, model_args)  # a typo in --model fails before the data is read
    prepared = prepare_task(task, task_args=task_args, data=data, sample_data=sample_data, limit=limit,
                            tasks_dirs=tasks_dirs, seed=seed, sandbox=sandbox, cache_dir=cache_dir)
    try:
        model_obj, model_spec, model_label = open_model(model, model_args, use_cache, cache_dir)
        run_path = Path(run_dir) if run_dir else _default_run_dir(Path(runs_root), prepared.spec.name, model_label)
        manifest = task_manifest(prepared, model_label, model_obj.fingerprint(), runner, manifest_extra)
        source = open_source(runner, model_obj, model_spec)
        try:
            return run_task(prepared, model_obj, model_spec, run_path, manifest, source, use_cache=use_cache,
                            cache_dir=cache_dir, progress=progress)
        finally:
            source.close()
    finally:
        prepared.close()
