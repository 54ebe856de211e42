"""A multiple-choice task's options and gold answer, read from a row, and its loglikelihood request.

The `choices` and `gold` templates are rendered with Jinja2's native types, so `"{{ choices.text }}"`
yields the list itself and `"{{ answer }}"` an int, as lm-eval's `doc_to_choice` and
`doc_to_target` do (lm-eval renders to text and parses it back; a native render gives the same
values without a round trip through `str`). A list of templates gives one option each.

The reader is checked on every row it reads, because a template that yields four options for a
question whose gold index reaches five is a broken task, not a wrong answer: it is an error with
the sample's id, never a score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping, Sequence

import jinja2
from jinja2.nativetypes import NativeEnvironment

from harness.errors import UsageError
from harness.scoring.protocol import ScoreItem
from harness.tasks.spec import ChoiceSpec


@dataclass(frozen=True)
class ChoiceReader:
    """Reads `(options, gold indices)` from a row; picklable (its templates compile lazily), so a
    scorer holding it can go to another process."""

    spec: ChoiceSpec
    task: str

    @cached_property
    def _templates(self) -> tuple[jinja2.Template | tuple[jinja2.Template, ...], jinja2.Template]:
        env = NativeEnvironment(undefined=jinja2.StrictUndefined)
        choices = self.spec.choices
        compiled = tuple(env.from_string(item) for item in choices) if isinstance(choices, tuple) else env.from_string(choices)
        return compiled, env.from_string(self.spec.gold)

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "task": self.task}

    def options(self, row: Mapping[str, Any], sample_id: str) -> list[str]:
        choices, _ = self._templates
        if isinstance(choices, tuple):
            values: Any = [self._render(template, row, sample_id, "choices") for template in choices]
        else:
            values = self._render(choices, row, sample_id, "choices")
        if not isinstance(values, (list, tuple)) or not values:
            raise UsageError(f"task {self.task!r} sample {sample_id!r}: multiple_choice.choices yielded "
                             f"{values!r}, not a list of options; make the template yield a list (e.g. "
                             "\"{{ choices.text }}\") or give a list of one template per option")
        return [str(value) for value in values]

    def gold(self, row: Mapping[str, Any], sample_id: str, count: int) -> list[int]:
        """The indices of the correct options (one, or several where several are right)."""
        _, template = self._templates
        value = self._render(template, row, sample_id, "gold")
        indices = value if isinstance(value, (list, tuple)) else [value]
        try:
            gold = [int(index) for index in indices]
        except (TypeError, ValueError):
            raise UsageError(f"task {self.task!r} sample {sample_id!r}: multiple_choice.gold yielded {value!r}, "
                             "not an option index (or a list of indices); make it yield an int") from None
        out_of_range = [index for index in gold if not 0 <= index < count]
        if out_of_range or not gold:
            raise UsageError(f"task {self.task!r} sample {sample_id!r}: gold index {value!r} is out of range for its "
                             f"{count} options; the choices template and the gold template disagree (check "
                             "multiple_choice in task.yaml against the data)")
        return gold

    def read(self, row: Mapping[str, Any], sample_id: str) -> tuple[list[str], list[int]]:
        options = self.options(row, sample_id)
        return options, self.gold(row, sample_id, len(options))

    def _render(self, template: jinja2.Template, row: Mapping[str, Any], sample_id: str, key: str) -> Any:
        try:
            return template.render(**row)
        except jinja2.UndefinedError as error:
            raise UsageError(f"task {self.task!r} sample {sample_id!r}: multiple_choice.{key}: {error.message}; "
                             "check the data's field names") from error


def oracle_reference(gold: Sequence[int]) -> str:
    """What the oracle backend reads: the gold indices, as JSON."""
    return json.dumps(list(gold))


@dataclass(frozen=True)
class ChoiceArguments:
    """A multiple-choice scorer's positional arguments: each option's log-probability, the gold
    indices and the options (whose lengths acc_norm divides by)."""

    reader: ChoiceReader

    def __call__(self, item: ScoreItem) -> tuple[Any, ...]:
        options, gold = self.reader.read(item.sample.data, item.sample.id)
        return item.response.scores, gold, options
