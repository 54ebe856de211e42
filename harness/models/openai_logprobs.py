"""Loglikelihoods from an OpenAI-compatible server's echoed prompt logprobs (`/completions` with
`echo=True, logprobs=1, max_tokens=1`), as lm-eval's `local-completions` reads them, plus a check
that the numbers belong to the tokens they are reported for.
"""

from __future__ import annotations

from typing import Sequence

from harness.errors import UsageError

LOGLIKELIHOOD_HELP = (
    "loglikelihood needs a completions endpoint that returns prompt logprobs (echo=True with "
    "logprobs), as vLLM serve does; chat-only APIs cannot score a continuation"
)

MISALIGNED_HELP = (
    "llama-cpp-python's server (0.3) reports each echoed token's logprob from the next position's "
    "distribution; score the same GGUF file with hf:FILE.gguf, or serve the model with vLLM"
)


def continuation_logprob(
    offsets: Sequence[int],
    token_logprobs: Sequence[float | None],
    top_logprobs: Sequence[dict[str, float] | None],
    *,
    start: int,
    end: int,
) -> tuple[float, bool]:
    """Sum the logprobs of the tokens covering text[start:end]; greedy if each was the top choice.

    A token counts when its span reaches past `start` (a token straddling the boundary belongs
    to the continuation) and it begins before `end` (the generated token does not).
    """
    total, greedy, counted = 0.0, True, 0
    for i, offset in enumerate(offsets):
        token_end = offsets[i + 1] if i + 1 < len(offsets) else end + 1
        if token_end <= start or offset >= end:
            continue
        logprob = token_logprobs[i]
        if logprob is None:
            raise UsageError(f"no logprob for a continuation token (empty context?); {LOGLIKELIHOOD_HELP}")
        total += logprob
        counted += 1
        top = top_logprobs[i] if i < len(top_logprobs) else None
        greedy = greedy and bool(top) and logprob >= max(top.values()) - 1e-6
    if counted == 0:
        raise UsageError(f"the server's logprobs cover no continuation tokens; {LOGLIKELIHOOD_HELP}")
    return total, greedy


def misaligned_logprobs(
    offsets: Sequence[int], tokens: Sequence[str], top_logprobs: Sequence[dict[str, float] | None], *, end: int
) -> str | None:
    """Why echoed logprobs are not aligned with their tokens, or None if they pass the check.

    The request generates one token greedily after the echoed text, so the distribution reported
    at that token's position must rank it first. A server that reports each position's
    distribution one token late, or leaves the generated token out, fails; a sum of its numbers
    would be a wrong loglikelihood that looks right.
    """
    generated = next((i for i, offset in enumerate(offsets) if offset >= end), None)
    if generated is None or generated >= len(tokens):
        return "its logprobs leave out the token it generated after the echoed text, so their alignment cannot be checked"
    top = top_logprobs[generated] if generated < len(top_logprobs) else None
    if not top:
        return "it sends no top logprobs for the token it generated"
    token = tokens[generated]
    if top.get(token, float("-inf")) < max(top.values()) - 1e-6:
        best = max(top, key=lambda key: top[key])
        return (f"the token it generated greedily ({token!r}) is not the most likely one in the distribution it "
                f"reports for that position ({best!r})")
    return None
