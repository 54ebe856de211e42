"""Task specs: `tasks/<name>/task.yaml` parsed into frozen, validated dataclasses.

Tasks are data so that contributing one is cheap; validation is strict so a typo in a key is an
error at load time (with file and line), not a silently ignored setting that changes a score.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from harness.errors import UsageError
from harness.spec_checker import SpecChecker
from harness.types import GenerationSettings
from harness.yaml_lines import load_yaml_with_lines

TOP_LEVEL_KEYS = {
    "name", "version", "description", "dataset", "target", "id", "request", "format", "args",
    "variants", "default_variant", "prompt", "system", "fewshot", "generation", "oracle",
    "extraction", "metrics", "repeats", "subtasks", "aliases", "chat", "context", "aggregate", "groups", "reward",
    "document", "save_responses", "multiple_choice", "preamble",
}
DATASET_KEYS = {"hub", "config", "split", "fewshot_split", "files", "subsets", "id_field", "join", "columns", "readers"}
FEWSHOT_KEYS = {"n", "sampler", "seed", "answer", "examples", "separator", "target_delimiter", "inline", "exclude_self"}
CHAT_KEYS = {"prompt", "system"}
GENERATION_KEYS = {"max_tokens", "temperature", "top_p", "stop"}
METRIC_KEYS = {"name", "scorer", "extraction", "options"}
REWARD_KEYS = {"conversation", "candidates"}
CHOICE_KEYS = {"choices", "gold", "target_delimiter", "partial"}
REQUEST_KINDS = {"generate", "loglikelihood", "reward", "extract"}
PROMPT_FORMATS = {"base", "chat"}
SAMPLERS = {"random", "first_n"}


@dataclass(frozen=True)
class DatasetSpec:
    hub: str | None
    config: str | None
    split: str
    fewshot_split: str | None
    files: Mapping[str, tuple[str, ...]]  # split -> file names tried in order (the first found is read)
    subsets: tuple[str, ...]
    id_field: str | None
    join: Mapping[str, str] = field(default_factory=dict)  # split -> split whose fields override, matched on id_field
    columns: tuple[str, ...] = ()  # names of a headerless csv's columns (MMLU's files), as HF's column_names
    readers: Mapping[str, str] = field(default_factory=dict)  # file-name pattern -> function in scorer.py reading it


@dataclass(frozen=True)
class FewshotSpec:
    n: int
    sampler: str
    seed: int
    answer: str | None  # None: a multiple-choice task's gold choice (its target, when partial)
    examples: str | None
    separator: str
    target_delimiter: str
    inline: bool = False  # the prompt template renders the examples itself (from `shots`)
    exclude_self: bool = False  # lm-eval's draw that leaves out the evaluated row (harness.tasks.prompts.FewshotPicker)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    scorer: str
    extraction: tuple[str, ...]
    options: Mapping[str, Any]

    def labels(self) -> list[str]:
        """Reported names: the metric with the extraction it was computed on.

        A reward task's metric reads the model's candidate scores, not text: it has no
        extraction and keeps its bare name.
        """
        if not self.extraction:
            return [self.name]
        return [f"{self.name}[{pipeline}]" for pipeline in self.extraction]


@dataclass(frozen=True)
class RewardSpec:
    """Where a reward task's rows keep the conversation and the candidates to score.

    `conversation` names a field holding the user's prompt (a string) or the turns so far (a
    list of {role, content}); `candidates` names fields in order, the correct ones first; a field
    holding a list contributes each item (RewardBench 2 keeps several per field).
    """

    conversation: str
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class ChoiceSpec:
    """A multiple-choice task (lm-eval's `output_type: multiple_choice`), scored by loglikelihood.

    `choices` is a template yielding the list of options (`"{{ choices.text }}"`) or a list of
    templates, one per option; `gold` yields the index of the correct option, or a list of
    indices where several are correct (TruthfulQA's mc2). Each option is scored as the
    continuation `target_delimiter + option` after the prompt. With `partial` (lm-eval's multiple
    input, Winogrande's partial evaluation) the options complete the question instead: the prompt
    template is rendered once per option (as `choice`) and the task's `target` is scored after each.
    """

    choices: str | tuple[str, ...]
    gold: str
    target_delimiter: str = " "
    partial: bool = False


@dataclass(frozen=True)
class ArgSpec:
    default: Any
    choices: tuple[Any, ...] | None
    help: str


@dataclass(frozen=True)
class TaskSpec:
    """One task with its variant chosen; everything the engine needs to build and score it."""

    name: str
    version: str
    description: str
    directory: Path
    variant: str | None
    dataset: DatasetSpec
    target: str
    id_template: str | None
    request: str
    format: str
    prompt: str
    system: str | None
    fewshot: FewshotSpec | None
    generation: GenerationSettings
    oracle: str | None
    extraction: Mapping[str, tuple[Any, ...]]
    metrics: tuple[MetricSpec, ...]
    repeats: int
    args: Mapping[str, ArgSpec] = field(default_factory=dict)
    variants: tuple[str, ...] = ()
    subtasks: tuple[str, ...] = ()
    aliases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    preset_args: Mapping[str, Any] = field(default_factory=dict)
    chat_prompt: str | None = None
    chat_system: str | None = None
    context_hook: str | None = None
    aggregate_hook: str | None = None
    groups: Mapping[str, str] = field(default_factory=dict)  # group name -> template of the sample's value
    reward: RewardSpec | None = None
    document: str | None = None  # extract tasks: template of the document's path
    save_responses: str | None = None  # e.g. "markdown/{id}.md": each response also as a file in the run dir
    multiple_choice: ChoiceSpec | None = None
    preamble: str | None = None  # template prepended to a base prompt as it is (lm-eval's `description`)

    def metric_labels(self) -> list[str]:
        return [label for metric in self.metrics for label in metric.labels()]

    def content_hash(self) -> str:
        """Hash of every file in the task folder: a changed prompt or scorer changes the hash."""
        digest = hashlib.sha256()
        for path in sorted(p for p in self.directory.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(self.directory)).encode())
            digest.update(path.read_bytes())
        digest.update(f"variant={self.variant}".encode())
        return digest.hexdigest()


def load_task_spec(path: Path, variant: str | None = None, alias: str | None = None) -> TaskSpec:
    """Parse and validate `path` (a task.yaml), resolving the variant (default: the first).

    An alias may carry a `dataset` mapping that replaces dataset keys (MATH-500 is MATH's task
    on another file and hub id) and a `variant` it stands for (truthfulqa-mc1 is truthfulqa's mc1,
    as lm-eval names it); its other keys are preset task args.
    """
    raw = load_yaml_with_lines(path)
    check = SpecChecker(path)
    check.known_keys(raw, TOP_LEVEL_KEYS, "task.yaml")
    if alias is not None:
        raw = _apply_alias(raw, check, alias)
        variant = _alias_variant(raw, alias, variant)
    variants = check.typed(raw, "variants", dict) or {}
    chosen = _choose_variant(raw, variants, variant, path)
    merged = _merge(raw, variants[chosen]) if chosen else raw
    if chosen:
        check.known_keys(variants[chosen], TOP_LEVEL_KEYS - {"variants", "name", "version"}, f"variant {chosen!r}")
    return _build_spec(merged, check, path.parent, chosen, tuple(variants))


def _apply_alias(raw: Any, check: SpecChecker, alias: str) -> Any:
    """The spec with the alias's `dataset` keys over the task's own (line numbers kept)."""
    aliases = check.typed(raw, "aliases", dict) or {}
    dataset = (aliases.get(alias) or {}).get("dataset")
    if dataset is None:
        return raw
    check.known_keys(dataset, DATASET_KEYS, f"aliases.{alias}.dataset")
    base = check.require(raw, "dataset", dict, "task.yaml")
    combined = type(base)({**base, **dataset})
    combined.lines = {**getattr(base, "lines", {}), **getattr(dataset, "lines", {})}
    updated = copy.copy(raw)
    updated["dataset"] = combined
    return updated


def _alias_variant(raw: Any, alias: str, variant: str | None) -> str | None:
    """The variant an alias stands for, if it names one; asking that alias for another is an error."""
    aliased = ((raw.get("aliases") or {}).get(alias) or {}).get("variant")
    if aliased is not None and variant not in (None, aliased):
        raise UsageError(f"task {alias!r} is variant {aliased!r} of task {raw.get('name')!r}; "
                         f"drop variant={variant}, or run {raw.get('name')}:{variant}")
    return aliased or variant


def _choose_variant(raw: Any, variants: dict, variant: str | None, path: Path) -> str | None:
    if not variants:
        if variant:
            raise UsageError(f"task {raw.get('name')!r} has no variants; drop variant={variant}")
        return None
    chosen = variant or raw.get("default_variant") or next(iter(variants))
    if chosen not in variants:
        raise UsageError(f"unknown variant {chosen!r} of task {raw.get('name')!r}; known: {', '.join(variants)}")
    return chosen


def _merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Variant keys replace the base's; nested mappings merge one level deep."""
    merged = copy.copy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            combined = type(merged[key])({**merged[key], **value})
            combined.lines = {**getattr(merged[key], "lines", {}), **getattr(value, "lines", {})}
            merged[key] = combined
        else:
            merged[key] = value
    merged.pop("variants", None)
    return merged


def _build_spec(raw: Any, check: SpecChecker, directory: Path, variant: str | None, variants: tuple[str, ...]) -> TaskSpec:
    name = check.require(raw, "name", str, "task.yaml")
    request = check.choice(raw, "request", REQUEST_KINDS, "generate")
    reward = _build_reward(raw, check, request)
    choices = _build_choices(raw, check, request)
    prompt = check.typed(raw, "prompt", str, "") if reward else check.require(raw, "prompt", str, "task.yaml")
    if prompt and not (directory / prompt).is_file():
        check.fail(raw, "prompt", f"template file {prompt!r} not found in {directory}")
    dataset = _build_dataset(raw, check)
    fewshot = _build_fewshot(raw, check, directory, answer_required=choices is None, subsets=dataset.subsets)
    chat = check.typed(raw, "chat", dict) or {}
    check.known_keys(chat, CHAT_KEYS, "chat")
    if chat.get("prompt") and not (directory / chat["prompt"]).is_file():
        check.fail(chat, "prompt", f"template file {chat['prompt']!r} not found in {directory}")
    return TaskSpec(
        name=name,
        version=str(check.require(raw, "version", (str, int, float), "task.yaml")),
        description=check.typed(raw, "description", str, ""),
        directory=directory,
        variant=variant,
        dataset=dataset,
        target=check.require(raw, "target", str, "task.yaml"),
        id_template=check.typed(raw, "id", str),
        request=request,
        format=check.choice(raw, "format", PROMPT_FORMATS, "base"),
        prompt=prompt,
        system=check.typed(raw, "system", str),
        fewshot=fewshot,
        generation=_build_generation(raw, check),
        oracle=check.typed(raw, "oracle", str),
        extraction=_build_extraction(raw, check, required=reward is None and choices is None),
        metrics=_build_metrics(raw, check, reward is not None or choices is not None),
        repeats=check.typed(raw, "repeats", int, 1),
        args=_build_args(raw, check),
        variants=variants,
        subtasks=tuple(str(item) for item in check.typed(raw, "subtasks", list, []) or []),
        aliases={str(k): dict(v or {}) for k, v in (check.typed(raw, "aliases", dict, {}) or {}).items()},
        chat_prompt=check.typed(chat, "prompt", str),
        chat_system=check.typed(chat, "system", str),
        context_hook=_python_hook(raw, check, "context"),
        aggregate_hook=_python_hook(raw, check, "aggregate"),
        groups={str(k): str(v) for k, v in (check.typed(raw, "groups", dict, {}) or {}).items()},
        reward=reward,
        document=_build_document(raw, check, request),
        save_responses=_build_save_responses(raw, check),
        multiple_choice=choices,
        preamble=check.typed(raw, "preamble", str),
    )


def _build_document(raw: Any, check: SpecChecker, request: str) -> str | None:
    document = check.typed(raw, "document", str)
    if (document is None) != (request != "extract"):
        check.fail(raw, "document" if document is not None else "request",
                   "a `request: extract` task needs `document:` (a template of the PDF's path), and only it")
    return document


def _build_save_responses(raw: Any, check: SpecChecker) -> str | None:
    """A run-dir-relative file pattern with `{id}`; each response is written there when the run ends."""
    pattern = check.typed(raw, "save_responses", str)
    if pattern is not None and ("{id}" not in pattern or pattern.startswith("/") or ".." in pattern.split("/")):
        check.fail(raw, "save_responses", "use a relative path pattern holding {id}, e.g. markdown/{id}.md")
    return pattern


def _build_reward(raw: Any, check: SpecChecker, request: str) -> RewardSpec | None:
    data = check.typed(raw, "reward", dict)
    if (data is None) != (request != "reward"):
        check.fail(raw, "reward" if data is not None else "request",
                   "a `request: reward` task needs a `reward:` mapping (conversation, candidates), and only it")
    if data is None:
        return None
    check.known_keys(data, REWARD_KEYS, "reward")
    candidates = check.require(data, "candidates", list, "reward")
    if not candidates:
        check.fail(data, "candidates", "name the fields holding the candidates, the correct ones first")
    return RewardSpec(conversation=check.require(data, "conversation", str, "reward"),
                      candidates=tuple(str(item) for item in candidates))


def _build_choices(raw: Any, check: SpecChecker, request: str) -> ChoiceSpec | None:
    data = check.typed(raw, "multiple_choice", dict)
    if (data is None) != (request != "loglikelihood"):
        check.fail(raw, "multiple_choice" if data is not None else "request",
                   "a `request: loglikelihood` task needs a `multiple_choice:` mapping (choices, gold), and only it")
    if data is None:
        return None
    check.known_keys(data, CHOICE_KEYS, "multiple_choice")
    choices = check.require(data, "choices", (str, list), "multiple_choice")
    if isinstance(choices, list) and (not choices or not all(isinstance(item, str) for item in choices)):
        check.fail(data, "choices", "give a template yielding the list of options, or a list of one template per option")
    return ChoiceSpec(
        choices=tuple(choices) if isinstance(choices, list) else choices,
        gold=str(check.require(data, "gold", (str, int), "multiple_choice")),
        target_delimiter=check.typed(data, "target_delimiter", str, " "),
        partial=bool(check.typed(data, "partial", bool, False)),
    )


def _python_hook(raw: Any, check: SpecChecker, key: str) -> str | None:
    """`key: python:function` names a function in the task's scorer.py."""
    value = check.typed(raw, key, str)
    if value is not None and not value.startswith("python:"):
        check.fail(raw, key, "expected python:<function in scorer.py>")
    return value.removeprefix("python:") if value else None


def _build_dataset(raw: Any, check: SpecChecker) -> DatasetSpec:
    data = check.require(raw, "dataset", dict, "task.yaml")
    check.known_keys(data, DATASET_KEYS, "dataset")
    files = check.typed(data, "files", dict, {}) or {}
    for split, names in files.items():
        alternatives = [names] if isinstance(names, str) else names
        if not isinstance(alternatives, list) or not alternatives or not all(isinstance(n, str) for n in alternatives):
            check.fail(files, split, "give a file name, or a list of file names tried in order")
    readers = check.typed(data, "readers", dict, {}) or {}
    for pattern, hook in readers.items():
        if not isinstance(hook, str) or not hook.startswith("python:"):
            check.fail(readers, pattern, "expected python:<function in scorer.py> that reads such a file into rows")
    return DatasetSpec(
        hub=check.typed(data, "hub", str),
        config=check.typed(data, "config", str),
        split=check.typed(data, "split", str, "test"),
        fewshot_split=check.typed(data, "fewshot_split", str),
        files={str(k): (v,) if isinstance(v, str) else tuple(v) for k, v in files.items()},
        subsets=tuple(check.typed(data, "subsets", list, []) or []),
        id_field=check.typed(data, "id_field", str),
        join={str(k): str(v) for k, v in (check.typed(data, "join", dict, {}) or {}).items()},
        columns=tuple(str(name) for name in check.typed(data, "columns", list, []) or []),
        readers={str(pattern): hook.removeprefix("python:") for pattern, hook in readers.items()},
    )


def _build_fewshot(raw: Any, check: SpecChecker, directory: Path, answer_required: bool,
                   subsets: tuple[str, ...]) -> FewshotSpec | None:
    """A fewshot block; `examples` may name one file per subset (`fewshot/{subset}.yaml`), as BBH
    has its own exemplars for each of its tasks."""
    data = check.typed(raw, "fewshot", dict)
    if not data:
        return None
    check.known_keys(data, FEWSHOT_KEYS, "fewshot")
    examples = check.typed(data, "examples", str)
    for name in examples_files(examples, subsets) if examples else ():
        if not (directory / name).is_file():
            check.fail(data, "examples", f"file {name!r} not found in {directory}")
    return FewshotSpec(
        n=check.require(data, "n", int, "fewshot"),
        sampler=check.choice(data, "sampler", SAMPLERS, "random"),
        seed=check.typed(data, "seed", int, 1234),
        answer=check.require(data, "answer", str, "fewshot") if answer_required else check.typed(data, "answer", str),
        examples=examples,
        separator=check.typed(data, "separator", str, "\n\n"),
        target_delimiter=check.typed(data, "target_delimiter", str, " "),
        inline=bool(check.typed(data, "inline", bool, False)),
        exclude_self=bool(check.typed(data, "exclude_self", bool, False)),
    )


def examples_files(examples: str, subsets: tuple[str, ...]) -> list[str]:
    """The few-shot file of each subset (one file when the name holds no `{subset}`)."""
    if "{subset}" not in examples:
        return [examples]
    return [examples.replace("{subset}", subset) for subset in subsets]


def _build_generation(raw: Any, check: SpecChecker) -> GenerationSettings:
    data = check.typed(raw, "generation", dict) or {}
    check.known_keys(data, GENERATION_KEYS, "generation")
    return GenerationSettings(
        max_tokens=check.typed(data, "max_tokens", int, 256),
        temperature=float(check.typed(data, "temperature", (int, float), 0.0)),
        top_p=float(check.typed(data, "top_p", (int, float), 1.0)),
        stop=tuple(check.typed(data, "stop", list, []) or []),
    )


def _build_extraction(raw: Any, check: SpecChecker, required: bool) -> dict[str, tuple[Any, ...]]:
    data = check.require(raw, "extraction", dict, "task.yaml") if required else check.typed(raw, "extraction", dict) or {}
    pipelines = {}
    for name, steps in data.items():
        if not isinstance(steps, list):
            check.fail(data, name, "an extraction pipeline is a list of steps (use [] for the raw response)")
        pipelines[str(name)] = tuple(steps)
    return pipelines


def _build_metrics(raw: Any, check: SpecChecker, scores_candidates: bool) -> tuple[MetricSpec, ...]:
    """Metrics and the pipelines they read; a reward or multiple-choice task's metrics read the
    candidates' scores instead."""
    items = check.require(raw, "metrics", list, "task.yaml")
    pipelines = raw.get("extraction") or {}
    metrics = []
    for item in items:
        check.known_keys(item, METRIC_KEYS, "metrics entry")
        if scores_candidates and "extraction" in item:
            check.fail(item, "extraction", "a reward or multiple-choice task's metrics score the candidates' "
                                           "scores; drop extraction")
        extraction = [] if scores_candidates else check.require(item, "extraction", list, "metrics entry")
        for pipeline in extraction:
            if pipeline not in pipelines:
                check.fail(item, "extraction", f"no extraction pipeline named {pipeline!r}; defined: {', '.join(pipelines)}")
        metrics.append(MetricSpec(
            name=check.require(item, "name", str, "metrics entry"),
            scorer=check.require(item, "scorer", str, "metrics entry"),
            extraction=tuple(extraction),
            options=dict(check.typed(item, "options", dict, {}) or {}),
        ))
    return tuple(metrics)


def _build_args(raw: Any, check: SpecChecker) -> dict[str, ArgSpec]:
    data = check.typed(raw, "args", dict) or {}
    args = {}
    for name, item in data.items():
        check.known_keys(item, {"default", "choices", "help"}, f"args.{name}")
        choices = check.typed(item, "choices", list)
        args[str(name)] = ArgSpec(item.get("default"), tuple(choices) if choices else None, item.get("help", ""))
    return args
