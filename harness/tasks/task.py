"""A Task: samples, the requests they make, and how responses are scored.

A task never talks to a model: it turns data into Requests and (Sample, Response) pairs into
scores. Its behaviour is the task.yaml plus optional Python hooks in `scorer.py` beside it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping

from harness.errors import UsageError
from harness.registry import SCORERS
from harness.tasks.datasets import DataLocator
from harness.tasks.extraction import Extractor
from harness.tasks.prompts import FewshotPicker, PromptBuilder, TemplateRenderer, load_examples_file
from harness.tasks.spec import TaskSpec
from harness.types import GenerationSettings, Request, Response, Sample

BUILTIN_ARGS = {
    "variant": "prompt variant defined by the task (see `harness tasks`)",
    "num_fewshot": "number of few-shot examples (0 for zero-shot)",
    "fewshot_seed": "seed of the random few-shot draw",
    "format": "base (one prompt string) or chat (messages through the chat template)",
    "max_tokens": "generation length limit",
    "temperature": "sampling temperature (0 = greedy)",
    "top_p": "nucleus sampling",
    "repeats": "attempts per sample (for pass@k or majority voting)",
}


def _load_hooks(directory: Path) -> dict[str, Callable[..., Any]]:
    """Public functions of the task's optional scorer.py, for `python:` steps and scorers."""
    path = directory / "scorer.py"
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"harness_task_{directory.name}_scorer", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: value for name, value in vars(module).items() if callable(value) and not name.startswith("_")}


def apply_task_args(spec: TaskSpec, args: Mapping[str, Any]) -> tuple[TaskSpec, dict[str, Any]]:
    """Apply built-in overrides; return the spec and the task's own args (with defaults)."""
    unknown = set(args) - set(BUILTIN_ARGS) - set(spec.args)
    if unknown:
        known = ", ".join(sorted(set(BUILTIN_ARGS) | set(spec.args)))
        raise UsageError(f"unknown task arg(s) {', '.join(sorted(unknown))} for task {spec.name!r}; known: {known}")
    generation = spec.generation
    for key in ("max_tokens", "temperature", "top_p"):
        if key in args:
            generation = dataclasses.replace(generation, **{key: type(getattr(generation, key))(args[key])})
    fewshot = spec.fewshot
    for key, field in (("num_fewshot", "n"), ("fewshot_seed", "seed")):
        if key in args:
            if fewshot is None:
                raise UsageError(f"task {spec.name!r} has no few-shot examples; drop {key}")
            fewshot = dataclasses.replace(fewshot, **{field: int(args[key])})
    if args.get("format", spec.format) not in ("base", "chat"):
        raise UsageError(f"task arg format={args['format']!r}: use base or chat")
    spec = dataclasses.replace(
        spec, generation=generation, fewshot=fewshot,
        format=args.get("format", spec.format), repeats=int(args.get("repeats", spec.repeats)),
    )
    own = {name: arg.default for name, arg in spec.args.items()}
    for name in spec.args:
        if name in args:
            choices = spec.args[name].choices
            if choices and args[name] not in choices:
                raise UsageError(f"task arg {name}={args[name]!r}: choose one of {', '.join(map(str, choices))}")
            own[name] = args[name]
    return spec, own


class Task:
    """Builds samples and requests and scores responses for one resolved TaskSpec."""

    def __init__(self, spec: TaskSpec, task_args: Mapping[str, Any], data: Path | None = None) -> None:
        self.spec = spec
        self.task_args = dict(task_args)
        self.locator = DataLocator(spec.dataset, spec.name, data)
        self.renderer = TemplateRenderer(spec.directory)
        self.prompts = PromptBuilder(spec, self.renderer, self.task_args)
        hooks = _load_hooks(spec.directory)
        self.extractor = Extractor(spec.extraction, hooks)
        self.scorers = {metric.scorer: self._resolve_scorer(metric.scorer, hooks) for metric in spec.metrics}

    @staticmethod
    def _resolve_scorer(name: str, hooks: Mapping[str, Callable[..., Any]]) -> Callable[..., float]:
        if name.startswith("python:"):
            hook = name.removeprefix("python:")
            if hook not in hooks:
                raise UsageError(f"scorer {name!r}: no function {hook!r} in the task's scorer.py")
            return hooks[hook]
        return SCORERS.get(name)

    def subsets(self) -> list[str | None]:
        return list(self.spec.dataset.subsets) or [None]

    def samples(self, limit: int | None = None) -> list[tuple[Sample, list[Mapping[str, Any]]]]:
        """Every sample with its few-shot examples, `limit` per subset, in dataset order."""
        result = []
        for subset in self.subsets():
            rows = self.locator.load(self.spec.dataset.split, subset)
            examples = self._fewshot_examples(rows, subset)
            for index, row in enumerate(rows[:limit] if limit is not None else rows):
                result.append((self._sample(row, index, subset), examples[index]))
        return result

    def _fewshot_examples(self, rows: list[dict[str, Any]], subset: str | None) -> list[list[Mapping[str, Any]]]:
        fewshot = self.spec.fewshot
        if fewshot is None:
            return [[] for _ in rows]
        if fewshot.examples:
            pool = load_examples_file(self.spec.directory, fewshot.examples)
        elif self.spec.dataset.fewshot_split:
            pool = self.locator.load(self.spec.dataset.fewshot_split, subset)
        else:
            raise UsageError(f"task {self.spec.name!r}: fewshot needs `examples` or dataset.fewshot_split")
        return FewshotPicker(fewshot, fewshot.n, fewshot.seed, pool).examples_for(rows)

    def _sample(self, row: dict[str, Any], index: int, subset: str | None) -> Sample:
        context = {**row, "index": index, "subset": subset, "args": self.task_args}
        if self.spec.id_template:
            sample_id = self.renderer.inline(self.spec.id_template, context)
        elif self.spec.dataset.id_field:
            sample_id = str(row[self.spec.dataset.id_field])
        else:
            sample_id = f"{subset}/{index}" if subset else str(index)
        target = self.renderer.inline(self.spec.target, context)
        return Sample(id=sample_id, subset=subset or self.spec.dataset.config or "default", index=index, data=row, target=target)

    def requests(self, sample: Sample, examples: list[Mapping[str, Any]], seed: int) -> list[Request]:
        """One request per attempt; sampled attempts get distinct seeds so they differ."""
        reference = None
        if self.spec.oracle is not None:
            reference = self.renderer.inline(self.spec.oracle, {**sample.data, "target": sample.target, "args": self.task_args})
        if self.spec.format == "chat":
            content: dict[str, Any] = {"messages": self.prompts.chat_messages(sample, examples)}
        else:
            content = {"prompt": self.prompts.base_prompt(sample, examples)}
        requests = []
        for attempt in range(self.spec.repeats):
            settings: GenerationSettings = self.spec.generation
            if not settings.greedy:
                settings = dataclasses.replace(settings, seed=seed + attempt)
            requests.append(Request(kind=self.spec.request, sample_id=sample.id, attempt=attempt,
                                    settings=settings, reference=reference, **content))  # type: ignore[arg-type]
        return requests

    def score(self, sample: Sample, response: Response) -> tuple[dict[str, str], dict[str, float]]:
        """Extract with every pipeline and score every metric; an errored response scores NaN."""
        extracted = self.extractor.extract(response.text)
        scores: dict[str, float] = {}
        for metric in self.spec.metrics:
            scorer = self.scorers[metric.scorer]
            for pipeline, label in zip(metric.extraction, metric.labels()):
                scores[label] = math.nan if response.error else float(scorer(extracted[pipeline], sample, **metric.options))
        return extracted, scores
