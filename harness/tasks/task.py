"""A Task: samples, the requests they make, and how responses are scored.

A task never talks to a model: it turns data into Requests and (Sample, Response) pairs into
scores. Its behaviour is the task.yaml plus optional Python hooks in `scorer.py` beside it (which
may import the folder's other modules: `harness.tasks.packages`). Every metric scores through the
one scorer protocol (`harness.scoring.protocol`), so nothing here depends on what a scorer reads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness.errors import UsageError
from harness.registry import SCORERS
from harness.sandbox.types import Sandbox
from harness.scoring.candidates import score_candidates
from harness.scoring.protocol import DEFAULT_BATCH_SIZE, Outcome, ScoreItem, Scorer, as_scorer, text_arguments
from harness.tasks.datasets import DataLocator
from harness.tasks.execution import ExecutionScorer
from harness.tasks.extraction import Extractor
from harness.tasks import reward
from harness.tasks.choices import ChoiceArguments, ChoiceReader, oracle_reference
from harness.tasks.packages import task_hooks
from harness.tasks.prompts import FewshotPicker, PromptBuilder, TemplateRenderer, load_examples_file
from harness.tasks.spec import MetricSpec, TaskSpec
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
    "subsets": "subsets to run, joined by + (e.g. languages: cpp+java; the CLI's --languages takes commas)",
    "subtasks": "subtasks to run, joined by + (tasks that define subtasks); default all",
}


def apply_task_args(spec: TaskSpec, args: Mapping[str, Any]) -> tuple[TaskSpec, dict[str, Any]]:
    """Apply built-in overrides; return the spec and the task's own args (with defaults)."""
    args = {**spec.preset_args, **args}
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
        dataset=dataclasses.replace(spec.dataset, subsets=_select(args, "subsets", spec.dataset.subsets, spec.name)),
        subtasks=_select(args, "subtasks", spec.subtasks, spec.name),
    )
    own = {name: arg.default for name, arg in spec.args.items()}
    for name in spec.args:
        if name in args:
            choices = spec.args[name].choices
            if choices and args[name] not in choices:
                raise UsageError(f"task arg {name}={args[name]!r}: choose one of {', '.join(map(str, choices))}")
            own[name] = args[name]
    return spec, own


def _select(args: Mapping[str, Any], key: str, available: tuple[str, ...], task: str) -> tuple[str, ...]:
    """The `key` task arg (comma-separated, or a list) as a validated subset of `available`."""
    if key not in args:
        return available
    value = args[key]
    chosen = tuple(re.split(r"[,+\s]+", value.strip())) if isinstance(value, str) else tuple(map(str, value))
    unknown = [item for item in chosen if item not in available]
    if unknown or not chosen:
        raise UsageError(f"task arg {key}={value!r} for task {task!r}: unknown {', '.join(unknown) or 'empty list'}; "
                         f"available: {', '.join(available) or 'none (the task has no ' + key + ')'}")
    return chosen


class Task:
    """Builds samples and requests and scores responses for one resolved TaskSpec."""

    def __init__(self, spec: TaskSpec, task_args: Mapping[str, Any], data: Path | None = None,
                 sandbox_factory: Callable[[], Sandbox] | None = None) -> None:
        self.spec = spec
        self.task_args = dict(task_args)
        self.hooks = task_hooks(spec.directory)
        readers = {pattern: self._hook(name, "reader") for pattern, name in spec.dataset.readers.items()}
        self.locator = DataLocator(spec.dataset, spec.name, data, readers, folder=spec.directory.name)
        self.renderer = TemplateRenderer(spec.directory)
        self.choices = ChoiceReader(spec.multiple_choice, spec.name) if spec.multiple_choice else None
        self.prompts = PromptBuilder(spec, self.renderer, self.task_args, self.choices)
        self.extractor = Extractor(spec.extraction, self.hooks)
        self.context_hook = self._hook(spec.context_hook, "context") if spec.context_hook else None
        self.aggregate_hook = self._hook(spec.aggregate_hook, "aggregate") if spec.aggregate_hook else None
        # Parallel to spec.metrics.
        self.scorers = [self._scorer(metric, sandbox_factory or _default_sandbox) for metric in spec.metrics]

    def _hook(self, name: str, key: str) -> Callable[..., Any]:
        if name not in self.hooks:
            raise UsageError(f"task {self.spec.name!r}: {key} hook {name!r} is not a function in its scorer.py")
        return self.hooks[name]

    def _scorer(self, metric: MetricSpec, sandbox_factory: Callable[[], Sandbox]) -> Scorer:
        """The metric's scorer under the one protocol. `execution` runs the task's `program` hook's
        programs in a sandbox; a reward task's plain scorers read the candidates' scores, a
        multiple-choice task's the options' log-probabilities."""
        if metric.scorer == "execution":
            program = self._hook(str(metric.options.get("program", "")).removeprefix("python:"), "program")
            scorer: Scorer = ExecutionScorer(program, sandbox_factory)
        else:
            arguments: Callable[[ScoreItem], tuple[Any, ...]] = text_arguments
            if self.spec.reward:
                arguments = reward.RewardArguments(self.spec.reward)
            elif self.choices:
                arguments = ChoiceArguments(self.choices)
            scorer = as_scorer(self._resolve_scorer(metric.scorer), metric.scorer, arguments)
        # The aggregation reads pass@k off the name (metrics.json is read back by name alone), so
        # the name and the declared aggregation must agree both ways.
        if scorer.aggregation == "pass@k" and metric.name != "pass@1":
            raise UsageError(f"task {self.spec.name!r}, metric {metric.name!r}: scorer {metric.scorer!r} gives "
                             "pass/fail verdicts aggregated as pass@k, which is reported for a metric named "
                             "pass@1; name the metric pass@1")
        if metric.name == "pass@1" and scorer.aggregation != "pass@k":
            raise UsageError(f"task {self.spec.name!r}, metric 'pass@1': scorer {metric.scorer!r} declares "
                             f"aggregation {scorer.aggregation!r}, but a metric named pass@1 is aggregated as pass@k "
                             "(pass/fail verdicts per attempt); give the metric another name")
        return scorer

    def _resolve_scorer(self, name: str) -> Any:
        if name.startswith("python:"):
            hook = name.removeprefix("python:")
            if hook not in self.hooks:
                raise UsageError(f"scorer {name!r}: no function {hook!r} in the task's scorer.py")
            return self.hooks[hook]
        return SCORERS.get(name)

    def subsets(self) -> list[str | None]:
        return list(self.spec.dataset.subsets) or [None]

    def samples(self, limit: int | None = None) -> list[tuple[Sample, list[Mapping[str, Any]]]]:
        """Every sample with its few-shot examples, `limit` per subset (and subtask), in dataset order."""
        result = []
        for subset in self.subsets():
            rows = self._rows(self.spec.dataset.split, subset)
            pool = self._fewshot_pool(subset)
            for subtask in self.spec.subtasks or (None,):
                evaluated = rows[:limit] if limit else rows
                shown = [self._with_context(r, subset, subtask, True) for r in pool]
                picks = self._fewshot_picks(evaluated, pool)
                for index, row in enumerate(evaluated):
                    sample = self._sample(self._with_context(row, subset, subtask, False), index, subset, subtask)
                    result.append((sample, [shown[i] for i in picks[index]]))
        return result

    def _rows(self, split: str, subset: str | None) -> list[dict[str, Any]]:
        """The split's rows; with `dataset.join`, fields of the joined split's row with the same id override."""
        rows = self.locator.load(split, subset)
        other = self.spec.dataset.join.get(split)
        if other is None:
            return rows
        key = self.spec.dataset.id_field or "id"
        by_id = {row[key]: row for row in self.locator.load(other, subset)}
        missing = [row[key] for row in rows if row[key] not in by_id]
        if missing:
            raise UsageError(f"task {self.spec.name!r}: split {other!r} lacks {len(missing)} ids of split {split!r} "
                             f"(subset {subset!r}, e.g. {missing[:3]}); the two files do not belong together")
        return [{**row, **by_id[row[key]]} for row in rows]

    def _with_context(self, row: Mapping[str, Any], subset: str | None, subtask: str | None,
                      fewshot: bool) -> dict[str, Any]:
        """The row plus `subset`, `subtask`, `fewshot` (is it an example?) and what the context hook derives."""
        data = {**row, "subtask": subtask, "fewshot": fewshot}
        if subset is not None or "subset" not in data:  # a row's own `subset` field (RewardBench's) is kept
            data["subset"] = subset
        if self.context_hook is not None:
            data.update(self.context_hook(data, self.task_args))
        return data

    def _fewshot_pool(self, subset: str | None) -> list[dict[str, Any]]:
        """The examples to draw from; none at 0-shot, so a zero-shot run needs no train split."""
        fewshot = self.spec.fewshot
        if fewshot is None or fewshot.n == 0:
            return []
        if fewshot.examples:
            return load_examples_file(self.spec.directory, fewshot.examples.replace("{subset}", subset or ""))
        if self.spec.dataset.fewshot_split:
            return self._rows(self.spec.dataset.fewshot_split, subset)
        raise UsageError(f"task {self.spec.name!r}: fewshot needs `examples` or dataset.fewshot_split")

    def _fewshot_picks(self, rows: list[dict[str, Any]], pool: list[dict[str, Any]]) -> list[list[int]]:
        """Each row's examples as indices into the pool (rows and pool as read, before any context)."""
        fewshot = self.spec.fewshot
        if fewshot is None:
            return [[] for _ in rows]
        return FewshotPicker(fewshot, fewshot.n, fewshot.seed, pool).picks(rows)

    def _sample(self, row: dict[str, Any], index: int, subset: str | None, subtask: str | None) -> Sample:
        context = {**row, "index": index, "args": self.task_args}
        if self.spec.id_template:
            sample_id = self.renderer.inline(self.spec.id_template, context)
        elif self.spec.dataset.id_field:
            sample_id = str(row[self.spec.dataset.id_field])
        else:
            sample_id = "/".join(str(part) for part in (subset, subtask, index) if part is not None)
        target = self.renderer.inline(self.spec.target, context)
        label = ".".join(part for part in (subset or self.spec.dataset.config or "default", subtask) if part)
        groups = {name: self.renderer.inline(template, context) for name, template in self.spec.groups.items()}
        return Sample(id=sample_id, subset=label, index=index, data=row, target=target, groups=groups)

    def requests(self, sample: Sample, examples: list[Mapping[str, Any]], seed: int) -> list[Request]:
        """One request per attempt; sampled attempts get distinct seeds so they differ."""
        reference = None
        if self.spec.oracle is not None:
            reference = self.renderer.inline(self.spec.oracle, {**sample.data, "target": sample.target, "args": self.task_args})
        if self.spec.reward is not None:
            return [Request(kind="reward", sample_id=sample.id, attempt=attempt, reference=reference,
                            messages=reward.conversation(self.spec.reward, sample.data, sample.id),
                            candidates=reward.candidates(self.spec.reward, sample.data, sample.id),
                            settings=dataclasses.replace(self.spec.generation, seed=seed + attempt))
                    for attempt in range(self.spec.repeats)]
        if self.spec.document is not None:
            document = self.renderer.inline(self.spec.document, {**sample.data, "args": self.task_args})
            return [Request(kind="extract", sample_id=sample.id, attempt=attempt, reference=reference,
                            prompt=self.prompts.question(sample.data), document=document,
                            settings=dataclasses.replace(self.spec.generation, seed=seed + attempt))
                    for attempt in range(self.spec.repeats)]
        if self.choices is not None:
            return self._choice_requests(sample, examples)
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

    def _choice_requests(self, sample: Sample, examples: list[Mapping[str, Any]]) -> list[Request]:
        """One loglikelihood request holding every option (a scored answer does not vary, so
        repeats would only repeat it); the oracle is told the gold indices."""
        if self.spec.format == "chat" or self.spec.repeats != 1:
            raise UsageError(f"task {self.spec.name!r} is multiple choice, scored once on a plain prompt as lm-eval "
                             "scores it; drop format=chat and repeats")
        assert self.choices is not None and self.spec.multiple_choice is not None
        options, gold = self.choices.read(sample.data, sample.id)
        delimiter = self.spec.multiple_choice.target_delimiter
        if self.spec.multiple_choice.partial:
            prompt, contexts = self.prompts.partial_contexts(sample, examples, options)
            candidates = tuple(delimiter + sample.target for _ in options)
        else:
            prompt, contexts = self.prompts.base_prompt(sample, examples), None
            candidates = tuple(delimiter + option for option in options)
        return [Request(kind="loglikelihood", sample_id=sample.id, prompt=prompt, candidates=candidates,
                        contexts=contexts, reference=oracle_reference(gold))]

    def score_batch_size(self) -> int:
        """How many answers of one subset to score at once: the most any of the task's scorers
        asks for (hundreds for a sandbox, which de-duplicates, reuses cached verdicts and keeps
        compilers warm over a batch; fewer for text metrics, so records reach the journal and the
        progress bar steadily)."""
        return max((scorer.batch_size for scorer in self.scorers), default=DEFAULT_BATCH_SIZE)

    def concurrent_batches(self) -> int:
        """How many batches may be scored at once: the fewest any of the task's scorers allows."""
        return min((getattr(scorer, "concurrent_batches", 1) for scorer in self.scorers), default=1)

    def score_many(self, pairs: Sequence[tuple[Sample, Response]]) -> list[ScoredResponse]:
        """Extract with every pipeline and score every metric, one scorer call per metric and
        pipeline; an errored response scores NaN unasked, and an outcome of None (the metric is
        not defined for that sample: READoc's table metrics on a document without tables) is
        left out of the record. Adapter traces get every candidate scored too.
        """
        results = [ScoredResponse(self.extractor.extract(response.text), {}, {}) for _, response in pairs]
        answered = [index for index, (_, response) in enumerate(pairs) if not response.error]
        for metric, scorer in zip(self.spec.metrics, self.scorers):
            for pipeline, label in zip(metric.extraction or ("",), metric.labels()):
                for index, (_, response) in enumerate(pairs):
                    if response.error:
                        results[index].scores[label] = math.nan
                items = [self._item(results[index].extracted, pipeline, *pairs[index]) for index in answered]
                for index, outcome in zip(answered, self._outcomes(scorer, metric, items)):
                    _record(results[index], label, outcome)
        traced = [index for index in answered if pairs[index][1].trace is not None]
        for index, candidate_scores in zip(traced, self._score_candidates([pairs[index] for index in traced])):
            trace, derived = score_candidates(pairs[index][1].trace or {}, candidate_scores)
            results[index].trace = json.dumps(trace)
            results[index].scores.update(derived)
        return results

    def _item(self, extracted: Mapping[str, str], pipeline: str, sample: Sample, response: Response) -> ScoreItem:
        """What a scorer reads; a metric without extraction (a reward metric) gets the raw text."""
        return ScoreItem(extracted[pipeline] if pipeline else response.text, sample, response, self.task_args)

    @staticmethod
    def _outcomes(scorer: Scorer, metric: MetricSpec, items: Sequence[ScoreItem]) -> Sequence[Outcome]:
        if not items:
            return []
        outcomes = scorer.score_batch(items, **metric.options)
        if len(outcomes) != len(items):
            raise RuntimeError(f"scorer {metric.scorer!r} (metric {metric.name!r}) returned {len(outcomes)} "
                               f"outcomes for {len(items)} answers; score_batch must return one per item")
        return outcomes

    def _score_candidates(self, pairs: Sequence[tuple[Sample, Response]]) -> list[list[dict[str, float]]]:
        """Scores of every candidate in each response's trace (Critic-CoT, voting), by the text
        metrics whose scorers run no program, so scoring candidates never starts a sandbox."""
        owners, items = [], []
        for number, (sample, response) in enumerate(pairs):
            for candidate in (response.trace or {}).get("candidates", ()):
                text = str(candidate.get("text", ""))
                owners.append(number)
                items.append((self.extractor.extract(text), sample, Response(text=text)))
        flat: list[dict[str, float]] = [{} for _ in items]
        for metric, scorer in zip(self.spec.metrics, self.scorers):
            if scorer.runs_programs:
                continue
            for pipeline, label in zip(metric.extraction, metric.labels()):
                batch = [self._item(extracted, pipeline, sample, response) for extracted, sample, response in items]
                for candidate_scores, outcome in zip(flat, self._outcomes(scorer, metric, batch)):
                    if outcome.value is not None:
                        candidate_scores[label] = float(outcome.value)
        grouped: list[list[dict[str, float]]] = [[] for _ in pairs]
        for number, candidate_scores in zip(owners, flat):
            grouped[number].append(candidate_scores)
        return grouped

    def close(self) -> None:
        for scorer in self.scorers:
            scorer.close()


@dataclass
class ScoredResponse:
    """What scoring adds to a response: extracted answers, scores, execution statuses by label."""

    extracted: dict[str, str]
    scores: dict[str, float]
    execution: dict[str, str]
    trace: str | None = None  # JSON of the response's trace with every candidate's scores


def _record(result: ScoredResponse, label: str, outcome: Outcome) -> None:
    """An outcome into the record: its value (None: left out, the metric is undefined here) and,
    where the scorer gave one, its status and reason in the execution map."""
    if outcome.value is not None:
        result.scores[label] = float(outcome.value)
    if outcome.status is not None:
        result.execution[label] = outcome.status
    if outcome.reason:
        result.execution[f"{label}.reason"] = outcome.reason


def _default_sandbox() -> Sandbox:
    from harness.sandbox import open_sandbox

    return open_sandbox("local")
