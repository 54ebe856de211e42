"""`results.json` in lm-evaluation-harness 0.4's shape, beside every run's (and suite's) metrics.json.

People who used lm-eval have scripts, notebooks and leaderboard uploaders that read its results
file (`results[task]["acc,none"]`); writing that shape too lets them point those at our run dirs
unchanged. Our own metrics.json stays the source of truth: it has the intervals, the unscored
counts and the per-group tables that lm-eval's shape has no place for.

How names map (docs in README, "Coming from lm-eval"):
- a metric label `NAME[PIPELINE]` is lm-eval's `NAME,PIPELINE` (`exact_match[strict-match]` ->
  `exact_match,strict-match`); a label without a pipeline gets lm-eval's `none` filter
  (`acc` -> `acc,none`); a suffix after the brackets stays on the name
  (`exact_match[strict-match]:majority` -> `exact_match:majority,strict-match`).
- `NAME_stderr,FILTER` is the standard error of the mean, sample standard deviation / sqrt(n) over
  the scored samples, as lm-eval's `mean_stderr` computes it; "N/A" where a metric has no
  per-sample scores (pass@k for k > 1) or fewer than two. A metric with no scored sample is null,
  never 0.
- a task with several subsets (MMLU's subjects) also gets one entry per subset, `TASK_SUBSET`
  with alias ` - SUBSET`, listed in `group_subtasks`, and the task itself under `groups`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from harness.store.run_dir import write_json_atomic

if TYPE_CHECKING:
    from harness.models.base import ModelSpec
    from harness.types import SampleRecord

RESULTS = "results.json"
LABEL = re.compile(r"(?P<name>[^\[\]]+)\[(?P<filter>[^\[\]]+)\](?P<suffix>.*)")


def lm_eval_key(label: str) -> tuple[str, str]:
    """Our metric label as lm-eval's (metric name, filter name)."""
    match = LABEL.fullmatch(label)
    if match is None:
        return label, "none"
    return match["name"] + match["suffix"], match["filter"]


def standard_error(values: Iterable[float]) -> float | str:
    """lm-eval's `mean_stderr`: sample standard deviation / sqrt(n); "N/A" below two scored values."""
    scored = [value for value in values if not math.isnan(value)]
    if len(scored) < 2:
        return "N/A"
    mean = sum(scored) / len(scored)
    variance = sum((value - mean) ** 2 for value in scored) / (len(scored) - 1)
    return math.sqrt(variance) / math.sqrt(len(scored))


def _metric_entries(table: Mapping[str, Mapping[str, Any]], records: Sequence[SampleRecord]) -> dict[str, Any]:
    """One metrics.json table (overall or a subset's) as lm-eval's `metric,filter` keys."""
    entries: dict[str, Any] = {}
    for label, summary in table.items():
        name, filter_name = lm_eval_key(label)
        values = [record.scores[label] for record in records if label in record.scores]
        entries[f"{name},{filter_name}"] = summary.get("value")
        entries[f"{name}_stderr,{filter_name}"] = standard_error(values) if values else "N/A"
    return entries


def task_results(key: str, metrics: Mapping[str, Any], records: Sequence[SampleRecord]) -> dict[str, dict[str, Any]]:
    """`results` entries for one run: the task under `key`, and its subsets when it has several."""
    entries = {key: {"alias": key, **_metric_entries(metrics["metrics"], records), "sample_len": len(records)}}
    subsets = metrics.get("subsets", {})
    if len(subsets) > 1:
        for subset, table in subsets.items():
            rows = [record for record in records if record.subset == subset]
            entries[f"{key}_{subset}"] = {"alias": f" - {subset}", **_metric_entries(table, rows), "sample_len": len(rows)}
    return entries


def _model_config(manifest: Mapping[str, Any], model_spec: ModelSpec | None) -> dict[str, Any]:
    """lm-eval's `config`: the backend as `model`, and the spec's name as `pretrained=` in `model_args`."""
    settings = manifest["settings"]
    if model_spec is None:
        model, model_args = manifest["model"]["spec"], None
    else:
        pairs = ([f"pretrained={model_spec.name}"] if model_spec.name else []) + [f"{k}={v}" for k, v in model_spec.args.items()]
        model, model_args = model_spec.backend, ",".join(pairs) or None
    return {"model": model, "model_args": model_args, "limit": settings["limit"], "random_seed": settings["seed"],
            "fewshot_seed": manifest["seeds"].get("fewshot"), "gen_kwargs": settings["generation"],
            "harness_model_spec": manifest["model"]["spec"]}


def results_document(key: str, metrics: Mapping[str, Any], manifest: Mapping[str, Any],
                     records: Sequence[SampleRecord], model_spec: ModelSpec | None) -> dict[str, Any]:
    """The whole results.json of one run."""
    task = manifest["task"]
    results = task_results(key, metrics, records)
    subtasks = [name for name in results if name != key]
    limited = manifest["settings"]["limit"] is not None
    document: dict[str, Any] = {"results": results}
    if subtasks:
        document["groups"] = {key: results[key]}
    document.update({
        "group_subtasks": {key: subtasks},
        "configs": {key: {"task": task["name"], "variant": task.get("variant"), "num_fewshot": task.get("num_fewshot", 0),
                          "task_args": manifest["settings"]["task_args"], "generation_kwargs": manifest["settings"]["generation"],
                          "metadata": {"version": task.get("version")}}},
        "versions": {key: task.get("version")},
        "n-shot": {key: task.get("num_fewshot", 0)},
        "higher_is_better": {key: {lm_eval_key(label)[0]: True for label in metrics["metrics"]}},
        # Under --limit the data set's full size is not counted (the rest is never read): null.
        "n-samples": {key: {"original": None if limited else len(records), "effective": len(records)}},
        "config": _model_config(manifest, model_spec),
        "git_hash": manifest.get("git_commit"),
        "date": _timestamp(manifest.get("started_at")),
        "model_source": model_spec.backend if model_spec else None,
        "model_name": (model_spec.name if model_spec else None) or manifest["model"]["spec"],
    })
    return document


def _timestamp(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def write_lm_eval_results(run_path: Path, metrics: Mapping[str, Any], manifest: Mapping[str, Any],
                          records: Sequence[SampleRecord], model_spec: ModelSpec | None) -> None:
    """Write RUN_DIR/results.json, keyed by the task's name as lm-eval keys its tasks. A run of
    lm-eval's own tasks (`lm-eval:NAME`) already holds lm-eval's results dict in its summary:
    that is written, with our config, since it is lm-eval's number to the digit."""
    document = results_document(manifest["task"]["name"], metrics, manifest, records, model_spec)
    own = (metrics.get("summary") or {}).get("lm_eval")
    if own:
        document = {**own, **{key: document[key] for key in ("config", "git_hash", "date", "model_source", "model_name")}}
    write_json_atomic(run_path / RESULTS, document)


SECTIONS = ("configs", "versions", "n-shot", "higher_is_better", "n-samples")


def _renamed(name: str, key: str, label: str) -> str:
    """A task's entry name in a suite's file: the task (and its `TASK_SUBSET` entries) under the suite's label."""
    if name == key:
        return label
    return label + name[len(key):] if name.startswith(key + "_") else name


def merge_results(documents: Mapping[str, tuple[str, Mapping[str, Any]]], suite: str) -> dict[str, Any]:
    """One results.json for a suite from its tasks' documents (`label -> (task name, document)`),
    each task re-keyed by its label in the suite, as lm-eval writes one file for every task of a run."""
    merged: dict[str, Any] = {"results": {}, "groups": {}, "group_subtasks": {suite: list(documents)},
                              **{section: {} for section in SECTIONS}}
    for label, (key, document) in documents.items():
        for name, entry in document.get("results", {}).items():
            merged["results"][_renamed(name, key, label)] = {**entry, "alias": label} if name == key else entry
        for name, entry in document.get("groups", {}).items():
            merged["groups"][_renamed(name, key, label)] = {**entry, "alias": label} if name == key else entry
        for name, subtasks in document.get("group_subtasks", {}).items():
            if subtasks:
                merged["group_subtasks"][_renamed(name, key, label)] = [_renamed(task, key, label) for task in subtasks]
        for section in SECTIONS:
            for name, value in document.get(section, {}).items():
                merged[section][_renamed(name, key, label)] = value
    if not merged["groups"]:
        del merged["groups"]
    first = next(iter(documents.values()), ("", {}))[1]
    merged.update({key: first.get(key) for key in ("config", "git_hash", "date", "model_source", "model_name")})
    return merged
