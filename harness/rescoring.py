"""`rescore()`: score a finished (or interrupted) run's stored answers again, without a model.

A scorer fixed after the run, the anti-copy guard switched off, a judge added: each needs only
the answers, which the run's responses journal holds with every field the model gave. The new
run is a run like any other (its own directory, manifest, samples.parquet, metrics.json), made by
`evaluate` with the source run's task, data, limit and seed and a `replay:` of its answers, so
scoring has one implementation; its manifest names the source run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.api import RunResult, evaluate
from harness.errors import UsageError
from harness.models.base import parse_key_values
from harness.models.replay import ReplayModel
from harness.progress import Progress
from harness.store.run_dir import MANIFEST, read_json


def rescore(
    source: Path | str,
    *,
    task_args: Mapping[str, Any] | str | None = None,
    out: Path | str | None = None,
    tasks_dirs: Sequence[Path | str] = (),
    cache_dir: Path | str | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Score the answers stored in `source` with the current scorers and `task_args` merged over
    the run's own; the result goes to `out` (default: a `rescored-N` folder beside the source)."""
    source = Path(source)
    if not (source / MANIFEST).is_file():
        raise UsageError(f"{source} has no {MANIFEST}: pass a run directory written by `harness run`")
    manifest = read_json(source / MANIFEST)
    settings = manifest.get("settings", {})
    changes = parse_key_values(task_args, "task argument") if isinstance(task_args, str) else dict(task_args or {})
    args = {**settings.get("task_args", {}), **changes}
    if manifest["task"].get("variant") and "variant" not in args:
        args["variant"] = manifest["task"]["variant"]
    folders = [*tasks_dirs, *_task_folder_parent(manifest)]
    destination = Path(out) if out is not None else _next_free(source)
    return evaluate(
        manifest["task"]["name"], ReplayModel(str(source)), task_args=args,
        data=settings.get("data"), limit=settings.get("limit"), run_dir=destination, tasks_dirs=folders,
        seed=settings.get("seed", 0), use_cache=False, cache_dir=cache_dir, progress=progress,
        sandbox=settings.get("sandbox", "local"),
        manifest_extra={"source_run": {"path": str(source.resolve()), "model": manifest.get("model"),
                                       "run_key": manifest.get("run_key"), "task_args_changed": changes}},
    )


def _task_folder_parent(manifest: Mapping[str, Any]) -> list[Path]:
    """The folder the source run found its task in, so a task from `--tasks-dir` is found again."""
    directory = manifest.get("task_directory")
    return [Path(directory).parent] if directory and Path(directory).is_dir() else []


def _next_free(source: Path) -> Path:
    for number in range(1, 10_000):
        candidate = source.parent / f"{source.name}.rescored-{number}"
        if not candidate.exists():
            return candidate
    raise UsageError(f"too many rescored copies beside {source}; pass --out")
