"""Rendering prompts: Jinja2 templates, few-shot examples, base or chat format.

Few-shot sampling follows lm-eval's: one `random.Random(seed)` drawn from in dataset order, so
sample i always gets the same examples whether or not `--limit` or a resume skips others, and
the prompts equal lm-eval's for the same seed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
import yaml

from harness.errors import UsageError
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
        self._inline: dict[str, jinja2.Template] = {}

    def __reduce__(self) -> tuple[type, tuple[Path]]:
        """Pickled as its folder (a jinja2 environment does not pickle), so a task can be sent to
        another process to score (`--runner ray`); the copy compiles its templates again."""
        return (TemplateRenderer, (self.directory,))

    def file(self, name: str, context: Mapping[str, Any]) -> str:
        return self._render(self.env.get_template(name), context, name)

    def inline(self, source: str, context: Mapping[str, Any]) -> str:
        template = self._inline.get(source)
        if template is None:
            template = self._inline[source] = self.env.from_string(source)
        return self._render(template, context, source)

    @staticmethod
    def _render(template: jinja2.Template, context: Mapping[str, Any], name: str) -> str:
        try:
            return template.render(**context)
        except jinja2.UndefinedError as error:
            raise UsageError(f"template {name!r}: {error.message}; check the data's field names") from error


class FewshotPicker:
    """Chooses each sample's examples: the first n, or a seeded random draw per sample."""

    def __init__(self, spec: FewshotSpec, n: int, seed: int, pool: Sequence[Mapping[str, Any]]) -> None:
        if n > len(pool):
            raise UsageError(f"{n}-shot asked but the few-shot pool has only {len(pool)} examples")
        self.spec = spec
        self.n = n
        self.seed = seed
        self.pool = list(pool)

    def examples_for(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
        """Examples for every row of the eval split, in order (the draw sequence matters)."""
        if self.n == 0:
            return [[] for _ in rows]
        if self.spec.sampler == "first_n":
            return [self.pool[: self.n] for _ in rows]
        rng = random.Random(self.seed)
        return [rng.sample(self.pool, self.n) for _ in rows]


def load_examples_file(directory: Path, name: str) -> list[dict[str, Any]]:
    examples = yaml.safe_load((directory / name).read_text(encoding="utf-8"))
    if not isinstance(examples, list):
        raise UsageError(f"{directory / name}: few-shot examples must be a YAML list of rows")
    return examples


class PromptBuilder:
    """Turns a sample and its examples into a base prompt or chat messages."""

    def __init__(self, spec: TaskSpec, renderer: TemplateRenderer, task_args: Mapping[str, Any]) -> None:
        self.spec = spec
        self.renderer = renderer
        self.task_args = task_args

    def _context(self, row: Mapping[str, Any]) -> dict[str, Any]:
        context = dict(row)
        context["args"] = self.task_args
        if "target" not in context:
            context["target"] = self.renderer.inline(self.spec.target, context)
        return context

    def question(self, row: Mapping[str, Any], template: str | None = None) -> str:
        return self.renderer.file(template or self.spec.prompt, self._context(row))

    def answer(self, row: Mapping[str, Any]) -> str:
        assert self.spec.fewshot is not None
        return self.renderer.inline(self.spec.fewshot.answer, self._context(row))

    def base_prompt(self, sample: Sample, examples: Sequence[Mapping[str, Any]]) -> str:
        fewshot = self.spec.fewshot
        if fewshot is not None and fewshot.inline:
            shots = [self._context(example) for example in examples]
            return self.renderer.file(self.spec.prompt, {**self._context(sample.data), "shots": shots})
        parts = [self.spec.system] if self.spec.system else []
        for example in examples:
            assert fewshot is not None
            parts.append(self.question(example) + fewshot.target_delimiter + self.answer(example))
        parts.append(self.question(sample.data))
        separator = fewshot.separator if fewshot else "\n\n"
        return separator.join(parts)

    def chat_messages(self, sample: Sample, examples: Sequence[Mapping[str, Any]]) -> tuple[Message, ...]:
        """Few-shot examples as alternating user/assistant turns (lm-eval's fewshot_as_multiturn).

        A task's `chat:` block may give the user-turn template and system message of its chat form.
        """
        system = self.spec.chat_system or self.spec.system
        template = self.spec.chat_prompt
        messages = [Message("system", system)] if system else []
        for example in examples:
            messages += [Message("user", self.question(example, template)), Message("assistant", self.answer(example))]
        messages.append(Message("user", self.question(sample.data, template)))
        return tuple(messages)
