"""An lm-eval task (or group, or several) as a harness task: `--task lm-eval:NAME[,NAME...]`.

lm-eval builds everything a document needs (its few-shot prompt, its Instances) and judges every
answer (its filters, `process_results`, its aggregations and group formulas); the harness runs
the plan (backends, response cache, run directory, resume). Each document is one Sample (subset:
its lm-eval task) asking one Request; each answer is scored per document into a SampleRecord
whose scores are lm-eval's per-document metric values, labelled `METRIC[FILTER]`.
"""

from __future__ import annotations

import math
import numbers
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.errors import UsageError
from harness.lmeval.convert import (generation_reference, generation_settings, gold_indices, loglikelihood_results,
                                    scoring_request)
from harness.lmeval.loading import DEFAULT_FEWSHOT_SEED, LoadedTasks, content_hash
from harness.scoring.protocol import DEFAULT_BATCH_SIZE
from harness.tasks.task import ScoredResponse
from harness.types import GenerationSettings, Request, Response, Sample, SampleRecord

PREFIX = "lm-eval:"


@dataclass(frozen=True)
class LmEvalFewshot:
    n: int
    seed: int


@dataclass(frozen=True)
class LmEvalSpec:
    """What the runner and the manifest read off a task spec, for lm-eval tasks."""

    name: str
    version: str
    directory: Path
    labels: tuple[str, ...]
    fewshot: LmEvalFewshot
    config_hash: str
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    variant: str | None = None
    repeats: int = 1
    format: str = "base"
    preset_args: Mapping[str, Any] = field(default_factory=dict)
    save_responses: str | None = None

    def metric_labels(self) -> list[str]:
        return list(self.labels)

    def content_hash(self) -> str:
        return self.config_hash


@dataclass
class DocRequests:
    """One lm-eval document: its task, its Instances (in idx order) and what they ask."""

    task_name: str
    doc_id: int
    doc: Mapping[str, Any]
    instances: list[Any]

    @property
    def kind(self) -> str:
        return self.instances[0].request_type


class LmEvalTask:
    """Samples, requests and scores of lm-eval tasks, for the harness runner."""

    def __init__(self, loaded: LoadedTasks, label: str) -> None:
        self.loaded = loaded
        self.task_args = dict(loaded.args)
        self._docs: dict[str, DocRequests] = {}
        self.spec = _spec(loaded, label)
        self.aggregate_hook = self.lm_eval_summary

    def samples(self, limit: int | None = None) -> list[tuple[Sample, list[Mapping[str, Any]]]]:
        """Every document lm-eval would evaluate with this `limit` (per task), in its order."""
        result = []
        for name in self.loaded.names:
            task = self.loaded.tasks[name]
            task.build_all_requests(limit=limit, rank=0, world_size=1,
                                    system_instruction=self.task_args.get("system_instruction"))
            by_doc: dict[int, list[Any]] = defaultdict(list)
            for instance in task.instances:
                by_doc[instance.doc_id].append(instance)
            for doc_id in sorted(by_doc):
                instances = sorted(by_doc[doc_id], key=lambda instance: instance.idx)
                doc = DocRequests(name, doc_id, instances[0].doc, instances)
                _check_supported(doc)
                sample = Sample(id=f"{name}/{doc_id}", subset=name, index=doc_id, data=doc.doc,
                                target=_target_text(task, doc.doc))
                self._docs[sample.id] = doc
                result.append((sample, []))
        return result

    def requests(self, sample: Sample, examples: list[Mapping[str, Any]], seed: int) -> list[Request]:
        """The document's one request; a sampled generation gets the run's seed."""
        doc = self._docs[sample.id]
        task = self.loaded.tasks[doc.task_name]
        if doc.kind == "generate_until":
            context, gen_kwargs = doc.instances[0].args
            settings = generation_settings(gen_kwargs, f"lm-eval task {doc.task_name!r}", seed=seed)
            return [Request(kind="generate", sample_id=sample.id, prompt=context, settings=settings,
                            reference=generation_reference(task, doc.doc))]
        pairs = [instance.args for instance in doc.instances]
        return [scoring_request(sample.id, pairs, gold_indices(task, doc.doc, len(pairs)))]

    def score_batch_size(self) -> int:
        return DEFAULT_BATCH_SIZE

    def concurrent_batches(self) -> int:
        """One batch at a time, on the calling thread: lm-eval's metrics make no thread-safety promise."""
        return 1

    def score_many(self, pairs: Sequence[tuple[Sample, Response]]) -> list[ScoredResponse]:
        """lm-eval's filters and `process_results` on each answer; an errored answer scores NaN
        for every metric of its task (unscored, never wrong)."""
        results = [ScoredResponse({}, {}, {}) for _ in pairs]
        answered: dict[str, list[tuple[int, DocRequests]]] = defaultdict(list)
        for index, (sample, response) in enumerate(pairs):
            doc = self._docs[sample.id]
            if response.error:
                results[index].scores.update({label: math.nan for label in _labels(self.loaded.tasks[doc.task_name])})
                continue
            _set_responses(doc, _response_results(doc, response, sample.id))
            answered[doc.task_name].append((index, doc))
        for name, members in answered.items():
            per_doc = document_metrics(self.loaded.tasks[name], [doc for _, doc in members])
            for (index, doc), by_filter in zip(members, per_doc):
                for filter_name, values in by_filter.items():
                    results[index].scores.update({f"{metric}[{filter_name}]": float(value)
                                                  for metric, value in values.items() if _is_number(value)})
                    if doc.kind == "generate_until":
                        results[index].extracted[filter_name] = str(doc.instances[0].filtered_resps[filter_name])
        return results

    def lm_eval_summary(self, records: Sequence[SampleRecord], metrics: Mapping[str, Any], seed: int) -> dict[str, Any]:
        """lm-eval's own aggregation of the run (its task formulas, group weighting, stderr),
        recomputed from the records so a resumed run reports what one pass would."""
        from harness.lmeval.results import summarise

        raw: dict[str, dict[tuple[str, str], list[Any]]] = {name: defaultdict(list) for name in self.loaded.names}
        answered: dict[str, list[DocRequests]] = defaultdict(list)
        for record in records:
            doc = self._docs.get(record.id)
            if doc is None or record.error:
                continue
            _set_responses(doc, _record_results(doc, record))
            answered[doc.task_name].append(doc)
        for name, docs in answered.items():
            for by_filter in document_metrics(self.loaded.tasks[name], docs):
                for filter_name, values in by_filter.items():
                    for metric, value in values.items():
                        raw[name][(metric, filter_name)].append(value)
        return summarise(self.loaded, raw, int(self.task_args.get("bootstrap_iters", 100000)))

    def close(self) -> None:
        """Nothing to release: lm-eval's tasks hold data in memory only (the summary, computed
        after the runner closes the task, still reads them)."""


def document_metrics(task: Any, docs: Sequence[DocRequests]) -> list[dict[str, dict[str, Any]]]:
    """Per document, per filter, lm-eval's metric values: its filter ensembles run over the
    documents' instances together (as lm-eval runs them over a task's), then `process_results`."""
    instances = [instance for doc in docs for instance in doc.instances]
    for instance in instances:
        instance.filtered_resps = {}
    filters = getattr(task, "_filters", [])
    for ensemble in filters:
        ensemble.apply(instances)
    return [{ensemble.name: task.process_results(doc.doc, [instance.filtered_resps[ensemble.name]
                                                           for instance in doc.instances])
             for ensemble in filters}
            for doc in docs]


def _spec(loaded: LoadedTasks, label: str) -> LmEvalSpec:
    import lm_eval

    tasks = [loaded.tasks[name] for name in loaded.names]
    first = tasks[0]
    source = (first.get_config("metadata") or {}).get("config_source")
    directory = Path(source).parent if source else Path(lm_eval.__file__).parent / "tasks"
    labels = tuple(dict.fromkeys(label for task in tasks for label in _labels(task, mean_only=True)))
    generating = [task for task in tasks if task.get_config("output_type") == "generate_until"]
    generation = (generation_settings(generating[0].get_config("generation_kwargs") or {}, label)
                  if generating else GenerationSettings())
    fewshot = LmEvalFewshot(int(first.get_config("num_fewshot") or 0),
                            int(loaded.args.get("fewshot_seed", DEFAULT_FEWSHOT_SEED)))
    version = ",".join(f"{task.task_name}={task.VERSION}" for task in tasks)
    return LmEvalSpec(name=label, version=version, directory=directory, labels=labels, fewshot=fewshot,
                      config_hash=content_hash(loaded), generation=generation, preset_args=dict(loaded.args))


def _labels(task: Any, mean_only: bool = False) -> list[str]:
    """`METRIC[FILTER]` for every metric and filter of the task; with `mean_only`, only metrics
    lm-eval averages over documents (our per-sample mean equals them; the others, f1 or
    perplexity, are reported from lm-eval's aggregation only)."""
    aggregation = task.aggregation()
    return [f"{metric}[{ensemble.name}]" for ensemble in getattr(task, "_filters", [])
            for metric in task._metric_fn_list
            if not mean_only or getattr(aggregation.get(metric), "__name__", "mean") == "mean"]


def _check_supported(doc: DocRequests) -> None:
    """Refuse, naming the task, what a harness Request cannot carry."""
    kinds = {instance.request_type for instance in doc.instances}
    where = f"lm-eval task {doc.task_name!r}"
    if "loglikelihood_rolling" in kinds:
        raise UsageError(f"{where} asks loglikelihood_rolling (perplexity over token windows), which harness "
                         "backends do not answer; run it with lm-eval's own backend (lm_eval --model hf ...)")
    if len(kinds) > 1:
        raise UsageError(f"{where} asks {' and '.join(sorted(kinds))} of one document; a harness sample asks one "
                         "request kind: run it with lm-eval's own backend")
    if any(len(instance.args) > 2 for instance in doc.instances):  # a third argument: images or audio
        raise UsageError(f"{where} sends images or audio, which the harness's lm-eval bridge does not pass on; "
                         "run it with lm-eval's own multimodal backend")
    if (doc.instances[0].repeats or 1) > 1:
        raise UsageError(f"{where} repeats each request {doc.instances[0].repeats} times for a filter over all "
                         "answers (majority voting), which the bridge does not support; use a task without repeats")


def _target_text(task: Any, doc: Mapping[str, Any]) -> str:
    """The gold answer as text for the record: a choice index as its choice."""
    target = task.doc_to_target(doc)
    if task.get_config("output_type") == "multiple_choice" and isinstance(target, int):
        choices = task.doc_to_choice(doc)
        return str(choices[target]) if 0 <= target < len(choices) else str(target)
    return str(target)


def _response_results(doc: DocRequests, response: Response, sample_id: str) -> list[Any]:
    """One lm-eval result per Instance of the document."""
    if doc.kind == "generate_until":
        return [response.text]
    return loglikelihood_results(response, len(doc.instances), sample_id)


def _record_results(doc: DocRequests, record: SampleRecord) -> list[Any]:
    if doc.kind == "generate_until":
        return [record.response]
    return loglikelihood_results(Response(scores=record.choice_logprobs, greedy=record.choice_greedy),
                                 len(doc.instances), record.id)


def _set_responses(doc: DocRequests, results: list[Any]) -> None:
    for instance, result in zip(doc.instances, results):
        instance.resps = [result]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real)
