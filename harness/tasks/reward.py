"""A reward task's row as a reward request: the conversation so far and the candidates to score.

RewardBench keeps a single-turn prompt as a string and a multi-turn one (its Prior Sets) as a
list of turns; its own code (`prepare_dialogue_from_tokenizer`) assigns roles by position, user
first, whatever the row says, and requires the last turn to be the user's. We do the same so a
chat template sees what it saw there.

A reward metric's function reads the candidates' scores rather than an extracted answer:
`RewardArguments` hands it `(scores, sample, candidate count)`, so it scores through the same
per-item wrapper as every other plain scorer (`harness.scoring.protocol.PerItem`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from harness.errors import UsageError
from harness.scoring.protocol import ScoreItem
from harness.tasks.spec import RewardSpec
from harness.types import Message


def conversation(spec: RewardSpec, row: Mapping[str, Any], sample_id: str) -> tuple[Message, ...]:
    """The turns before the candidates, with roles alternating user, assistant, ... by position."""
    value = _field(row, spec.conversation, sample_id)
    if isinstance(value, str):
        return (Message("user", value),)
    if not isinstance(value, list) or not value:
        raise UsageError(f"sample {sample_id!r}: field {spec.conversation!r} must be a prompt string or a "
                         f"non-empty list of turns, got {type(value).__name__}")
    turns = tuple(Message("user" if index % 2 == 0 else "assistant", _turn_text(turn, sample_id))
                  for index, turn in enumerate(value))
    if turns[-1].role != "user":
        raise UsageError(f"sample {sample_id!r}: the conversation in {spec.conversation!r} has an even number "
                         "of turns, so it ends with the assistant's; the candidates must answer a user turn")
    return turns


def candidates(spec: RewardSpec, row: Mapping[str, Any], sample_id: str) -> tuple[str, ...]:
    """The candidates in field order (the correct ones first); list fields contribute each item."""
    result: list[str] = []
    for name in spec.candidates:
        value = _field(row, name, sample_id)
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise UsageError(f"sample {sample_id!r}: field {name!r} must hold response text (a string or a list of strings)")
        result.extend(items)
    if len(result) < 2:
        raise UsageError(f"sample {sample_id!r}: a reward request needs at least two candidates, found {len(result)} "
                         f"in fields {', '.join(spec.candidates)}")
    return tuple(result)


@dataclass(frozen=True)
class RewardArguments:
    """A reward scorer's positional arguments: the candidates' scores (None: the judge gave no
    verdict), the sample, and how many candidates there were (what a missing verdict is worth).

    A picklable callable rather than a closure, so a scorer holding it can go to a process pool.
    """

    spec: RewardSpec

    def __call__(self, item: ScoreItem) -> tuple[Any, ...]:
        count = len(candidates(self.spec, item.sample.data, item.sample.id))
        return item.response.scores, item.sample, count


def _field(row: Mapping[str, Any], name: str, sample_id: str) -> Any:
    if name not in row:
        raise UsageError(f"sample {sample_id!r} has no field {name!r} (named in the task's reward: block); "
                         f"its fields: {', '.join(sorted(map(str, row)))}")
    return row[name]


def _turn_text(turn: Any, sample_id: str) -> str:
    if isinstance(turn, str):
        return turn
    if isinstance(turn, Mapping) and isinstance(turn.get("content"), str):
        return turn["content"]
    raise UsageError(f"sample {sample_id!r}: a turn must be a string or a {{role, content}} mapping, got {turn!r}")
