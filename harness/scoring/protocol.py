"""The one scorer protocol: a scorer scores a batch of answers and returns one outcome per answer.

Every metric of a task goes through it, whatever it reads: the extracted answer (exact match,
the MATH checkers, READoc's suite), the candidates' scores of a reward request, or a program run
in a sandbox. So the task engine scores every metric the same way, and a scorer that gains from
seeing many answers at once (a sandbox de-duplicating programs and keeping compilers warm) says
so instead of being special-cased.

A batch scorer is an object with `score_batch(items, **options)`, called with the metric's
`options` from task.yaml, returning one `Outcome` per item in order. The easy way is to subclass
`BatchScorer`, which gives the declarations their defaults::

    class TableTeds(BatchScorer):
        batch_size = 256                          # answers it would like per call

        def score_batch(self, items, **options):
            return [Outcome(teds(item.answer, item.sample.target)) for item in items]

    table_teds = TableTeds()                      # register or name the instance, not the class

An item's `answer` is what the metric's extraction pipeline made of the response (a metric
without extraction gets the response text); `response` is the whole Response (a reward
metric reads its candidate `scores`); `args` are the task args. An outcome's value None means
the metric is not defined for that sample (READoc's table metrics on a document without tables):
it is left out of the record and counted as undefined, never as a failure. `status` and `reason`
(a sandbox's verdict and why) go to the record's `execution` map as `label` and `label.reason`.

Plain per-answer functions, `scorer(extracted, sample, **options)` (the built-in scorers, a
task's `python:` hooks, third-party `harness.scorers` entry points), keep working unchanged:
`as_scorer` wraps them in `PerItem`. A reward task's functions take the candidates' scores
instead (`harness.tasks.reward.RewardArguments`), through the same wrapper.

Declarations (class attributes; `BatchScorer` has the defaults):
- `aggregation`: "mean" (averaged over samples) or "pass@k" (per-attempt pass/fail verdicts:
  averaged as pass@1 and, with several attempts, reported as pass@k; the metric must be named
  pass@1, the name the aggregation reads, and a metric of that name needs such a scorer).
- `batch_size`: how many answers of one subset it would like per call; a task scores in batches
  of the largest its scorers declare.
- `runs_programs`: it executes the answer; an adapter's trace candidates (Critic-CoT, voting) are
  scored only by scorers that do not, so that scoring them never starts a sandbox.
- `concurrent_batches` (optional, 1 if absent): how many batches it may score at once, on
  threads. A sandbox scorer says 2, so that the next batch keeps the cores busy while the last
  programs of this one finish; a scorer that is not thread-safe, or times out with
  `signal.alarm` (the official MATH graders), keeps 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

from harness.errors import UsageError
from harness.types import Response, Sample

AGGREGATIONS = ("mean", "pass@k")
# Text metrics take milliseconds per answer: batches this small let records reach the journal
# and the progress bar steadily.
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class ScoreItem:
    """One answer to score, with everything a scorer may read about it."""

    answer: str
    sample: Sample
    response: Response
    args: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """A score (None: not defined for this sample), with a status and reason where one applies."""

    value: float | None
    status: str | None = None
    reason: str = ""


class Scorer(Protocol):
    aggregation: str
    batch_size: int
    runs_programs: bool

    def score_batch(self, items: Sequence[ScoreItem], **options: Any) -> Sequence[Outcome]: ...

    def close(self) -> None: ...


class BatchScorer:
    """Defaults for the declarations; subclasses define `score_batch` and override what differs."""

    aggregation = "mean"
    batch_size = DEFAULT_BATCH_SIZE
    runs_programs = False

    def close(self) -> None:
        """Release what the scorer holds (a sandbox); nothing by default."""


def text_arguments(item: ScoreItem) -> tuple[Any, ...]:
    """A plain scorer's positional arguments: the extracted answer and the sample."""
    return item.answer, item.sample


class PerItem(BatchScorer):
    """A per-answer function as a batch scorer: called once per item, a number or None back.

    `arguments` turns an item into the function's positional arguments; options follow as
    keywords, so `exact_match(extracted, sample, ignore_case=True)` is called as it always was.
    """

    def __init__(self, function: Callable[..., Any],
                 arguments: Callable[[ScoreItem], tuple[Any, ...]] = text_arguments) -> None:
        self.function = function
        self.arguments = arguments

    def score_batch(self, items: Sequence[ScoreItem], **options: Any) -> list[Outcome]:
        outcomes = []
        for item in items:
            value = self.function(*self.arguments(item), **options)
            outcomes.append(Outcome(None if value is None else float(value)))
        return outcomes


def as_scorer(target: Any, name: str,
              arguments: Callable[[ScoreItem], tuple[Any, ...]] = text_arguments) -> Scorer:
    """`target` (a registry entry or a task hook called `name`) as a Scorer.

    A batch scorer is used as it is, once its declarations check out; a function is wrapped
    in `PerItem` with `arguments`.
    """
    if isinstance(target, type):
        raise UsageError(f"scorer {name!r} is the class {target.__name__}; register or name an instance of it "
                         f"(e.g. `{name} = {target.__name__}()`)")
    if not hasattr(target, "score_batch"):
        if not callable(target):
            raise UsageError(f"scorer {name!r} is a {type(target).__name__}, neither a function nor an object "
                             "with score_batch (see harness.scoring.protocol)")
        return PerItem(target, arguments)
    missing = [attribute for attribute in ("aggregation", "batch_size", "runs_programs", "close")
               if not hasattr(target, attribute)]
    if missing:
        raise UsageError(f"scorer {name!r} has score_batch but no {', '.join(missing)}; subclass "
                         "harness.scoring.protocol.BatchScorer for the defaults")
    if target.aggregation not in AGGREGATIONS:
        raise UsageError(f"scorer {name!r} declares aggregation {target.aggregation!r}; use one of "
                         f"{', '.join(AGGREGATIONS)}")
    return target
