"""lm-eval's Instances as harness Requests, and harness Responses as lm-eval results.

Both directions of the bridge speak through these few functions, so a `generate_until`
Instance becomes the same Request (and its answer the same string) whether lm-eval's task runs
on a harness backend or lm-eval calls a harness model. lm-eval's `(context, continuation)` pairs
of one document travel as ONE loglikelihood Request holding every continuation, as the harness
contract asks (a backend scores their shared context once).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

from harness.errors import UsageError
from harness.types import GenerationSettings, Request, Response

# lm-eval's HFLM default: what a generate_until task without max_gen_toks gets.
DEFAULT_MAX_GEN_TOKS = 256
# The generation kwargs GenerationSettings can express; others (top_k, ...) would be dropped.
GENERATION_KEYS = {"until", "max_gen_toks", "do_sample", "temperature", "top_p"}


def generation_settings(gen_kwargs: Mapping[str, Any], where: str,
                        default_max_tokens: int = DEFAULT_MAX_GEN_TOKS, seed: int | None = None) -> GenerationSettings:
    """lm-eval's generation kwargs, normalised as its own backends normalise them (aliases of
    max_gen_toks, do_sample against temperature), as our decoding settings.

    A key GenerationSettings has no field for is refused: dropping it would change answers
    without a word."""
    from lm_eval.models.utils import normalize_gen_kwargs

    kwargs = dict(normalize_gen_kwargs(dict(gen_kwargs), default_max_tokens))
    unknown = sorted(set(kwargs) - GENERATION_KEYS)
    if unknown:
        raise UsageError(f"{where}: generation kwargs {', '.join(unknown)} have no harness equivalent "
                         f"(it decodes with {', '.join(sorted(GENERATION_KEYS))}); drop them from the task's "
                         "generation_kwargs or run the task with lm-eval's own backend")
    sampled = bool(kwargs.get("do_sample"))
    return GenerationSettings(
        max_tokens=int(kwargs["max_gen_toks"]),
        temperature=float(kwargs.get("temperature", 0.0)) if sampled else 0.0,
        top_p=float(kwargs.get("top_p", 1.0)) if sampled else 1.0,
        stop=tuple(str(stop) for stop in kwargs["until"]),
        seed=seed if sampled else None,
    )


def scoring_request(sample_id: str, pairs: Sequence[tuple[str, str]], reference: str | None = None) -> Request:
    """`(context, continuation)` pairs as one loglikelihood Request.

    Pairs sharing one context (a multiple-choice question) carry it as the prompt; pairs with
    different contexts (Winogrande's sentence filled with each option, or acc_mutual_info's
    extra unconditional pairs) carry their common start as the prompt and the rest of each
    context in `contexts`, so candidate i is still scored after exactly its own context."""
    contexts = [context for context, _ in pairs]
    candidates = tuple(continuation for _, continuation in pairs)
    if len(set(contexts)) == 1:
        return Request(kind="loglikelihood", sample_id=sample_id, prompt=contexts[0], candidates=candidates,
                       reference=reference)
    shared = os.path.commonprefix(contexts)
    return Request(kind="loglikelihood", sample_id=sample_id, prompt=shared, candidates=candidates,
                   contexts=tuple(context[len(shared):] for context in contexts), reference=reference)


def loglikelihood_results(response: Response, count: int, sample_id: str) -> list[tuple[float, bool]]:
    """A loglikelihood Response as lm-eval's `(logprob, is_greedy)` pairs, one per continuation.

    A backend that does not say whether greedy decoding reproduces a continuation gives False:
    only metrics read off greediness (lambada's acc, a choice's exact_match) depend on it."""
    scores = response.scores or ()
    if len(scores) != count:
        raise RuntimeError(f"the model answered {len(scores)} log-probabilities for the {count} continuations "
                           f"of {sample_id}; a loglikelihood response holds one per candidate")
    greedy = response.greedy or (False,) * count
    return [(float(score), bool(flag)) for score, flag in zip(scores, greedy)]


def gold_indices(task: Any, doc: Mapping[str, Any], count: int) -> str | None:
    """The gold continuations' indices (JSON), the oracle backend's reference for a choice
    question; read as lm-eval's `process_results` reads the gold answer."""
    if task.OUTPUT_TYPE == "loglikelihood":
        return json.dumps([0])
    gold = task.doc_to_text(doc) if getattr(task, "multiple_input", False) else task.doc_to_target(doc)
    golds = gold if isinstance(gold, list) else [gold]
    choices = task.doc_to_choice(doc)
    indices = [choices.index(item) if isinstance(item, str) and item in choices else item for item in golds]
    valid = [index for index in indices if isinstance(index, int) and 0 <= index < count]
    return json.dumps(valid) if valid else None


def generation_reference(task: Any, doc: Mapping[str, Any]) -> str:
    """The gold answer as text, the oracle backend's answer to a generate_until document."""
    gold = task.doc_to_target(doc)
    if task.config.doc_to_choice is not None and isinstance(gold, int):
        return str(task.doc_to_choice(doc)[gold])
    return str(gold[0] if isinstance(gold, list) and gold else gold)
