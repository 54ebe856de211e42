"""Rendering prompts: Jinja2 templates, few-shot examples, base or chat format.

Few-shot sampling follows lm-eval's: one `random.Random(seed)` drawn from in dataset order, so
sample i always gets the same examples whether or not `--limit` or a resume skips others, and
the prompts equal lm-eval's for the same seed.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
import yaml

from harness.errors import UsageError
from harness.tasks.choices import ChoiceReader
from harness.tasks.spec import FewshotSpec, TaskSpec
from harness.types import Message, Sample


class TemplateRenderer:
    """Compiles a task's templates once; undefined variables are errors, not empty strings."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )
        self._inline: dict[tuple[str, bool], jinja2.Template] = {}

    def __reduce__(self) -> tuple[type, tuple[Path]]:
        """Pickled as its folder (a jinja2 environment does not pickle), so a task can be sent to
        another process to score (`--runner ray`); the copy compiles its templates again."""
        return (TemplateRenderer, (self.directory,))

    def file(self, name: str, context: Mapping[str, Any]) -> str:
        return self._render(self.env.get_template(name), context, name)

    def inline(self, source: str, context: Mapping[str, Any], keep_trailing_newline: bool = False) -> str:
        """Render a template written in task.yaml; `keep_trailing_newline` for text whose final
        newlines are part of the prompt (a preamble ending in a blank line)."""
        template = self._inline.get((source, keep_trailing_newline))
        if template is None:
            env = self.env.overlay(keep_trailing_newline=True) if keep_trailing_newline else self.env
            template = self._inline[(source, keep_trailing_newline)] = env.from_string(source)
        return self._render(template, context, source)

    @staticmethod
    def _render(template: jinja2.Template, context: Mapping[str, Any], name: str) -> str:
        try:
            return template.render(**context)
        except jinja2.UndefinedError as error:
            raise UsageError(f"template {name!r}: {error.message}; check the data's field names") from error


class FewshotPicker:
    """Chooses each sample's examples: the first n, or a seeded random draw per sample.

    With `exclude_self` a row is never its own example: as lm-eval's sampler when it is handed the
    evaluated document, n + 1 are drawn, copies of the row dropped and the first n kept. lm-eval
    does so whenever a task's few-shot split equals its test split, including when neither is
    declared (HellaSwag, Winogrande), so the extra draw shifts every later sample's examples even
    where the pool is another split; equal prompts need the same draws.
    """

    def __init__(self, spec: FewshotSpec, n: int, seed: int, pool: Sequence[Mapping[str, Any]]) -> None:
        if n > len(pool):
            raise UsageError(f"{n}-shot asked but the few-shot pool has only {len(pool)} examples")
        self.spec = spec
        self.n = n
        self.seed = seed
        self.pool = list(pool)

    def picks(self, rows: Sequence[Mapping[str, Any]]) -> list[list[int]]:
        """Indices into the pool of every eval row's examples, in order (the draw sequence matters)."""
        if self.n == 0:
            return [[] for _ in rows]
        indices = range(len(self.pool))
        if self.spec.sampler == "first_n":
            return [list(itertools.islice((i for i in indices if not self._is(row, i)), self.n)) for row in rows]
        rng = random.Random(self.seed)  # sample(range) picks the positions sample(pool) would pick
        if not self.spec.exclude_self:
            return [rng.sample(indices, self.n) for _ in rows]
        picked = []
        for row in rows:
            drawn = [i for i in rng.sample(indices, self.n + 1) if not self._is(row, i)][: self.n]
            if len(drawn) < self.n:  # the row was in the pool more than once
                drawn = rng.sample([i for i in indices if not self._is(row, i)], self.n)
            picked.append(drawn)
        return picked

    def _is(self, row: Mapping[str, Any], index: int) -> bool:
        return self.spec.exclude_self and self.pool[index] == row


def load_examples_file(directory: Path, name: str) -> list[dict[str, Any]]:
    examples = yaml.safe_load((directory / name).read_text(encoding="utf-8"))
    if not isinstance(examples, list):
        raise UsageError(f"{directory / name}: few-shot examples must be a YAML list of rows")
    return examples


class PromptBuilder:
    """Turns a sample and its examples into a base prompt or chat messages."""

    def __init__(self, spec: TaskSpec, renderer: TemplateRenderer, task_args: Mapping[str, Any],
                 choices: ChoiceReader | None = None) -> None:
        self.spec = spec
        self.renderer = renderer
        self.task_args = task_args
        self.choices = choices
        # id(row) -> (row, its rendered example): the same few-shot rows recur in every prompt
        # (MMLU's five dev questions, 14,042 times), and rendering one costs several templates.
        # The row is kept so its id cannot be reused while the entry exists.
        self._examples: dict[int, tuple[Mapping[str, Any], str]] = {}

    def _context(self, row: Mapping[str, Any]) -> dict[str, Any]:
        context = dict(row)
        context["args"] = self.task_args
        if "target" not in context:
            context["target"] = self.renderer.inline(self.spec.target, context)
        return context

    def question(self, row: Mapping[str, Any], template: str | None = None) -> str:
        return self.renderer.file(template or self.spec.prompt, self._context(row))

    def answer(self, row: Mapping[str, Any]) -> str:
        """An example's answer: the fewshot `answer` template or, for a multiple-choice task
        without one, its gold option (its target when the options complete the question), as
        lm-eval writes an example whose target is an index."""
        assert self.spec.fewshot is not None
        if self.spec.fewshot.answer is not None:
            return self.renderer.inline(self.spec.fewshot.answer, self._context(row))
        assert self.choices is not None and self.spec.multiple_choice is not None
        if self.spec.multiple_choice.partial:
            return self._context(row)["target"]
        options, gold = self.choices.read(row, "a few-shot example")
        return options[gold[0]]

    def base_prompt(self, sample: Sample, examples: Sequence[Mapping[str, Any]]) -> str:
        fewshot = self.spec.fewshot
        if fewshot is not None and fewshot.inline:
            shots = [self._context(example) for example in examples]
            return self.renderer.file(self.spec.prompt, {**self._context(sample.data), "shots": shots})
        parts = self._example_parts(examples)
        parts.append(self.question(sample.data))
        separator = fewshot.separator if fewshot else "\n\n"
        return self._preamble(sample) + separator.join(parts)

    def partial_contexts(self, sample: Sample, examples: Sequence[Mapping[str, Any]],
                         options: Sequence[str]) -> tuple[str, tuple[str, ...]]:
        """The shared prompt (preamble and examples, each followed by the separator) and one
        context per option: the question rendered with that option as `choice` (lm-eval's
        multiple-input contexts; an example shows its gold option)."""
        separator = self.spec.fewshot.separator if self.spec.fewshot else "\n\n"
        prefix = "".join(part + separator for part in self._example_parts(examples))
        contexts = tuple(self.question({**sample.data, "choice": option}) for option in options)
        return self._preamble(sample) + prefix, contexts

    def _example_parts(self, examples: Sequence[Mapping[str, Any]]) -> list[str]:
        """The system text, then each example as question, target delimiter and answer."""
        fewshot = self.spec.fewshot
        parts = [self.spec.system] if self.spec.system else []
        for example in examples:
            assert fewshot is not None
            cached = self._examples.get(id(example))
            if cached is None or cached[0] is not example:
                text = self.question(self._with_gold_choice(example)) + fewshot.target_delimiter + self.answer(example)
                cached = self._examples[id(example)] = (example, text)
            parts.append(cached[1])
        return parts

    def _with_gold_choice(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """An example of a partial-evaluation task shows the question completed by its gold option."""
        if self.choices is None or self.spec.multiple_choice is None or not self.spec.multiple_choice.partial:
            return row
        options, gold = self.choices.read(row, "a few-shot example")
        return {**row, "choice": options[gold[0]]}

    def _preamble(self, sample: Sample) -> str:
        if not self.spec.preamble:
            return ""
        return self.renderer.inline(self.spec.preamble, self._context(sample.data), keep_trailing_newline=True)

    def chat_messages(self, sample: Sample, examples: Sequence[Mapping[str, Any]]) -> tuple[Message, ...]:
        """Few-shot examples as alternating user/assistant turns (lm-eval's fewshot_as_multiturn).

        A task's `chat:` block may give the user-turn template and system message of its chat form.
        The preamble (lm-eval's `description`) is the system message, after any system text, as
        lm-eval sends it with a chat template.
        """
        parts = (self.spec.chat_system or self.spec.system, self._preamble(sample))
        system = "\n\n".join(part for part in parts if part)
        template = self.spec.chat_prompt
        messages = [Message("system", system)] if system else []
        for example in examples:
            messages += [Message("user", self.question(example, template)), Message("assistant", self.answer(example))]
        messages.append(Message("user", self.question(sample.data, template)))
        return tuple(messages)
