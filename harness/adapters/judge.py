"""`judge:` any generative model as a reward model, judging as RewardBench's own scripts do.

`--model "judge:openai:gpt-4o-mini,base_url=..."` or `judge:hf:./ckpt,mode=ratings` wraps an
ordinary generative spec (loaded with `load_model`, so any backend serves; its own arguments go
through `judge.KEY=VALUE`) and answers reward requests with candidate scores:

- pairwise (2 candidates; `scripts/run_generative.py`): the MT-Bench prompt with the two answers
  shown in a drawn order; the winner scores 1 and the other 0.
- rankings (4 candidates; `scripts/run_generative_v2.py`): the 4-way prompt with the first
  (correct) candidate swapped into a drawn slot; the winner scores 1, the rest 0.
- ratings (`--score_w_ratings`, and always for RewardBench 2's Ties subset and for other
  candidate counts): each candidate rated 1-10 on its own; the scores are the ratings.

A verdict that cannot be parsed answers `scores=None`, which the task credits 1/n, as the official
scripts score "error" 0.5 (pairs) and 0.25 (four). Every inner call goes through the response
cache, so an interrupted run resumes without asking the judge again.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from harness.adapters.judge_prompts import (
    LETTERS,
    four_way_prompt,
    pairwise_prompt,
    parse_rating,
    parse_winner,
    rating_prompt,
)
from harness.errors import UsageError
from harness.models.base import inner_spec, load_model
from harness.models.cached import CachedModel
from harness.store.cache import ResponseCache, default_cache_dir
from harness.types import GenerationSettings, Message, Request, Response

# Bump when a change here changes outputs, so answers cached from the old code are not reused.
ADAPTER_REVISION = 1
MODES = ("auto", "pairwise", "rankings", "ratings")
PROMPTS = ("auto", "mt-bench", "gemini")
LONG_DIALOGUES = ("chance", "skip")
INNER_PREFIX = "judge."
# Both scripts load data with `max_turns=4`: a dialogue longer than 4 messages with its answer
# is never judged (the v1 script's own guard scores it 0.5; the loader drops it first).
MAX_MESSAGES = 4
# RewardBench 2's Ties rows, by the id convention tasks/rewardbench-2/scores.py's ties_score reads.
TIES_ID = re.compile(r"(ref|tied):\d+")
# run_generative.py picks a model's prompt by these substrings of its name, first match wins;
# only "gemini" selects an MT-Bench variant, the others are fine-tuned judges' own prompts.
NAMED_PROMPTS = ("prometheus", "Con-J", "OffsetBias", "Atla", "gemini", "RISE-Judge")


@dataclass(frozen=True)
class Plan:
    """How one reward request is judged: the inner prompts, and how their verdicts map back.

    `method` is pairwise, rankings or ratings, or `chance` (scored 1/n unasked, `reason` says
    why) or `skip` (left unscored, as the official loader drops the row). `order[k]` is the
    candidate shown in position k (A, B, ...).
    """

    method: str
    asks: tuple[tuple[Message, ...], ...] = ()
    order: tuple[int, ...] = ()
    ties: bool = False
    reason: str = ""


class JudgeModel:
    """A generative judge with RewardBench's prompts, answer order and parsing rules.

    `mode=auto` judges 2 candidates pairwise, 4 by rankings and anything else by ratings;
    `pairwise` and `rankings` insist on that count (a mismatch is an error, except where the
    official code always rates: Ties and other counts); `ratings` rates every candidate.
    `prompt=auto` uses the Gemini variant when the inner model's name says gemini, as
    run_generative.py does, and `mt-bench` or `gemini` choose one outright. Decoding is greedy
    with `max_tokens` 2048 for verdicts (the OpenAI and vLLM paths) and `rating_max_tokens` 1024
    for ratings. A dialogue longer than 4 messages is not judged: `long_dialogues=skip` (default)
    leaves it unscored, as the official loader's `max_turns=4` filter drops it from the official
    numbers; `chance` credits it 1/n, as the v1 script's own (unreached) guard would.
    `cache=false` skips the inner response cache; `cache_dir` names it.
    """

    def __init__(
        self,
        name: str,
        *,
        mode: str = "auto",
        prompt: str = "auto",
        max_tokens: int = 2048,
        rating_max_tokens: int = 1024,
        long_dialogues: str = "skip",
        cache: bool = True,
        cache_dir: str | None = None,
        **inner_args: Any,
    ) -> None:
        if not name:
            raise UsageError("judge needs a generative model, e.g. judge:openai:gpt-4o-mini or judge:hf:./ckpt")
        for key, value, choices in (("mode", mode, MODES), ("prompt", prompt, PROMPTS),
                                    ("long_dialogues", long_dialogues, LONG_DIALOGUES)):
            if value not in choices:
                raise UsageError(f"bad judge {key}={value!r}; use one of {', '.join(choices)}")
        for option, count in (("max_tokens", max_tokens), ("rating_max_tokens", rating_max_tokens)):
            if not isinstance(count, int) or count < 1:
                raise UsageError(f"bad judge {option}={count!r}: use a positive integer")
        spec = inner_spec(name, split_inner_args(inner_args))
        self.mode, self.long_dialogues = mode, long_dialogues
        self.gemini = uses_gemini_prompt(spec.name, prompt, mode)
        self.verdict_settings = GenerationSettings(max_tokens=max_tokens, temperature=0.0, top_p=1.0)
        self.rating_settings = GenerationSettings(max_tokens=rating_max_tokens, temperature=0.0, top_p=1.0)
        inner = load_model(spec)
        store = ResponseCache(Path(cache_dir) if cache_dir else default_cache_dir()) if cache else None
        self.inner = CachedModel(inner, store) if store is not None else inner
        self.name = f"judge:{name}"
        self.chunk_size = inner.chunk_size
        # Sound for outer caching: every answer is a function of the request's content (its order too).
        self.cacheable = inner.cacheable

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Judge a batch: every prompt of every request goes to the inner model in one call."""
        plans = [self.plan(request) for request in requests]
        asks = [Request(kind="generate", sample_id=f"{request.sample_id}/judge", attempt=request.attempt,
                        messages=ask, settings=self.rating_settings if plan.method == "ratings" else self.verdict_settings)
                for request, plan in zip(requests, plans) for ask in plan.asks]
        answers = iter(self.inner.generate(asks) if asks else [])
        return [verdict(plan, [next(answers) for _ in plan.asks]) for plan in plans]

    def plan(self, request: Request) -> Plan:
        """The method, prompts and shown order for one request (see the class docstring)."""
        if request.kind != "reward" or request.candidates is None or not request.messages:
            raise UsageError(f"judge answers reward requests only (sample {request.sample_id!r} asks {request.kind!r}); "
                             "use it with a reward task such as rewardbench")
        conversation, candidates = request.messages, request.candidates
        ties = TIES_ID.fullmatch(request.sample_id) is not None
        method = self._method(request.sample_id, len(candidates), ties)
        if len(conversation) + 1 > MAX_MESSAGES:
            reason = (f"the dialogue has {len(conversation) + 1} messages with its answer; RewardBench's generative "
                      f"scripts judge at most {MAX_MESSAGES} (load_eval_dataset max_turns=4)")
            return Plan("skip" if self.long_dialogues == "skip" else "chance", reason=reason)
        if method == "ratings":
            # Single-turn: the question; multi-turn: the last user turn, as the official (unreachable) branch reads it.
            query = conversation[-1].content
            return Plan("ratings", tuple(rating_prompt(query, text, ties) for text in candidates), ties=ties)
        order = shown_order(request, len(candidates))
        shown = [candidates[index] for index in order]
        if method == "pairwise":
            return Plan(method, (pairwise_prompt(conversation, shown[0], shown[1], self.gemini),), order)
        if len(conversation) > 1:
            return Plan("chance", reason="the official 4-way prompt has no multi-turn form (it would show the "
                                         "dialogue's first reply as all four answers)")
        return Plan(method, (four_way_prompt(conversation[0].content, shown, self.gemini),), order)

    def fingerprint(self) -> str:
        """The inner model's identity and every setting that changes outputs (not `cache`)."""
        identity = {
            "adapter": "judge",
            "revision": ADAPTER_REVISION,
            "inner": self.inner.fingerprint(),
            "mode": self.mode,
            "gemini": self.gemini,
            "verdict_settings": self.verdict_settings.__dict__,
            "rating_settings": self.rating_settings.__dict__,
            "long_dialogues": self.long_dialogues,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"judge:{digest}"

    def _method(self, sample_id: str, count: int, ties: bool) -> str:
        if self.mode == "ratings" or ties or count not in (2, 4):
            return "ratings"
        method = "pairwise" if count == 2 else "rankings"
        if self.mode not in ("auto", method):
            raise UsageError(f"judge mode={self.mode} cannot judge sample {sample_id!r}: it has {count} candidates; "
                             "use mode=auto (pairwise for 2, rankings for 4) or mode=ratings")
        return method


def own_options() -> list[str]:
    """The adapter's own keyword options, read from its signature so the list cannot drift."""
    parameters = inspect.signature(JudgeModel.__init__).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def split_inner_args(inner_args: dict[str, Any]) -> dict[str, Any]:
    """`judge.KEY` goes to the inner model; anything else is a typo, caught before weights load."""
    routed: dict[str, Any] = {}
    for key, value in inner_args.items():
        if not key.startswith(INNER_PREFIX) or len(key) == len(INNER_PREFIX):
            raise UsageError(f"unknown judge argument {key!r}; valid: {', '.join([*own_options(), 'judge.<arg>'])}")
        routed[key[len(INNER_PREFIX):]] = value
    return routed


def uses_gemini_prompt(model_name: str, prompt: str, mode: str) -> bool:
    """Whether the Gemini variant (no system prompt) applies; refuses the judges with prompts of their own.

    run_generative.py gives prometheus, Con-J, OffsetBias, Atla and RISE-Judge models their own
    pairwise prompts, which this adapter does not implement; judging them with MT-Bench's
    silently would not reproduce their published numbers. The v2 4-way and ratings prompts
    ignore those names, as generative_v2.py does.
    """
    if prompt != "auto":
        return prompt == "gemini"
    named = next((key for key in NAMED_PROMPTS if key in model_name), None)
    if named not in (None, "gemini") and mode in ("auto", "pairwise"):
        raise UsageError(f"RewardBench judges {model_name!r} pairwise with the {named} prompt, which judge: does not "
                         "implement; pass prompt=mt-bench to use the MT-Bench prompt, or mode=rankings or ratings")
    return named == "gemini"


def shown_order(request: Request, count: int) -> tuple[int, ...]:
    """The candidate shown in each position: the first (correct) one swapped into a drawn slot.

    The official scripts draw the slot with numpy per row (`rand() > 0.5`, `randint(0, 4)`); we
    draw it from the request's content hash, which holds the run seed (plus attempt), so a rerun
    shows the same order and a cached verdict matches the order it was given in.
    """
    slot = int(request.content_hash()[:16], 16) % count
    order = list(range(count))
    order[0], order[slot] = order[slot], order[0]
    return tuple(order)


def verdict(plan: Plan, answers: Sequence[Response]) -> Response:
    """The candidate scores from the judge's answers to one plan's prompts."""
    failed = next((answer for answer in answers if answer.error), None)
    if failed is not None:
        return Response(error=f"the judge model gave no answer: {failed.error}")
    if plan.method == "skip":
        return Response(error=f"not judged: {plan.reason}; pass long_dialogues=chance to credit it 1/n instead")
    if plan.method == "chance":
        return Response(scores=None, trace={"judge": "chance", "reason": plan.reason})
    usage = {
        "input_tokens": _total([answer.input_tokens for answer in answers]),
        "output_tokens": _total([answer.output_tokens for answer in answers]),
        "latency_s": sum(answer.latency_s for answer in answers),
    }
    if plan.method == "ratings":
        return _from_ratings(plan, [answer.text for answer in answers], usage)
    return _from_winner(plan, answers[0], usage)


def _from_winner(plan: Plan, answer: Response, usage: dict[str, Any]) -> Response:
    """Winner 1, the rest 0, in candidate order; no `[[X]]` verdict is the official "error"."""
    letter = parse_winner(answer.text, LETTERS[:len(plan.order)])
    trace: dict[str, Any] = {"judge": plan.method, "order": list(plan.order), "verdicts": [answer.text], "winner": letter}
    if letter is None:
        trace["reason"] = "no [[X]] verdict: chance credit"
        return Response(text=answer.text, scores=None, trace=trace, finish_reason=answer.finish_reason, **usage)
    best = plan.order[LETTERS.index(letter)]
    scores = tuple(float(index == best) for index in range(len(plan.order)))
    return Response(text=answer.text, scores=scores, trace=trace, finish_reason=answer.finish_reason, **usage)


def _from_ratings(plan: Plan, texts: list[str], usage: dict[str, Any]) -> Response:
    """The ratings as scores, an unparseable one as the official -1.

    As officially: Ties keeps every rating, -1 included (`run_judge_ratings_multi` returns them
    for the Ties formula); a pair with a failed or tied rating is "error" (`run_judge_ratings`);
    other counts are "error" only when no rating parsed.
    """
    ratings = [parse_rating(text) for text in texts]
    values = tuple(-1.0 if rating is None else float(rating) for rating in ratings)
    trace: dict[str, Any] = {"judge": "ratings", "ties_prompt": plan.ties, "verdicts": texts, "ratings": ratings}
    if plan.ties:
        unscored = False
    elif len(ratings) == 2:
        unscored = None in ratings or ratings[0] == ratings[1]
    else:
        unscored = all(rating is None for rating in ratings)
    if unscored:
        trace["reason"] = "no usable ratings: chance credit"
    text = "\n\n".join(f"[Rating of candidate {index + 1}]\n{verdict_text}" for index, verdict_text in enumerate(texts))
    return Response(text=text, scores=None if unscored else values, trace=trace, **usage)


def _total(counts: list[int | None]) -> int | None:
    return None if any(count is None for count in counts) else sum(counts)  # type: ignore[arg-type]
