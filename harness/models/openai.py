"""`openai:` talks to any OpenAI-compatible server: vLLM serve, SGLang, TGI, llama.cpp, OpenAI.

Prompt requests go to `/completions` and chat requests to `/chat/completions` (`endpoint=` forces
one). Retries are ours, not the SDK's, so the policy is explicit and pinned by tests: 429, 5xx,
connection errors and timeouts are retried with exponential backoff and jitter (a Retry-After
header wins); any other 4xx fails at once, since repeating it cannot help. A request that still
fails raises, and the engine has already saved the finished chunks, so a rerun resumes.

OpenAI accepts at most 4 stop strings: the first 4 go to the server and the text is cut here at
the first occurrence of any of them, so a task with more stops scores the same on every backend.
"""

from __future__ import annotations

import difflib
import email.utils
import hashlib
import inspect
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Sequence, TypeVar
from urllib.parse import urlparse

import openai

from harness.errors import RunInterrupted, UsageError
from harness.models.openai_logprobs import (
    LOGLIKELIHOOD_HELP,
    MISALIGNED_HELP,
    continuation_logprob,
    misaligned_logprobs,
)
from harness.types import Request, Response

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
ENDPOINTS = ("auto", "chat", "completions")
MAX_STOP_STRINGS = 4
MAX_RETRY_DELAY_S = 60.0
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
PLACEHOLDER_KEY = "EMPTY"
class OpenAIRequestError(RunInterrupted):
    """A request that failed after every retry (server down, overloaded or too slow)."""


class OpenAIModel:
    """A model served behind an OpenAI-compatible HTTP API.

    Extra keyword arguments (`top_k=20`, `repetition_penalty=1.1`) are sent in every request
    body, for servers that accept sampling fields beyond OpenAI's; they are part of the
    fingerprint because they change the answers.
    """

    cacheable = True

    def __init__(
        self,
        name: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 120.0,
        backoff: float = 1.0,
        endpoint: str = "auto",
        **request_args: Any,
    ) -> None:
        if not name:
            raise UsageError("openai needs a model name: --model openai:MODEL,base_url=URL")
        if endpoint not in ENDPOINTS:
            choices = ", ".join(ENDPOINTS)
            raise UsageError(f"bad endpoint {endpoint!r} for openai:{name}; use one of {choices}")
        if concurrency < 1 or max_retries < 0:
            raise UsageError(f"openai:{name} needs concurrency >= 1 and max_retries >= 0")
        reject_misspelled_arguments(request_args)
        self.name = name
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.chunk_size = concurrency * 4
        self.max_retries = max_retries
        self.backoff = backoff
        self.endpoint = endpoint
        self.request_args = dict(request_args)
        # The official SDK is the well-kept client (auth, URL joining, typed responses); its own
        # retries are off so that ours below are the only ones and are explicit.
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=resolve_api_key(self.base_url, api_key_env),
            timeout=timeout,
            max_retries=0,
        )

    def fingerprint(self) -> str:
        """Only what changes answers: not concurrency, retries or timeouts."""
        identity = {
            "base_url": self.base_url,
            "model": self.name,
            "endpoint": self.endpoint,
            "request_args": self.request_args,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"openai:{digest}"

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Answer `generate` and `loglikelihood` requests, at most `concurrency` calls in flight
        (a loglikelihood request makes one call per candidate).

        On a failure the queued calls are dropped rather than sent to a failing server.
        """
        calls = [self._calls(request) for request in requests]  # a request it cannot answer: nothing is sent
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [[pool.submit(call) for call in group] for group in calls]
            try:
                return [joined(request, [future.result() for future in group])
                        for request, group in zip(requests, futures)]
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    def _calls(self, request: Request) -> list[Callable[[], Response]]:
        if request.kind == "generate":
            return [partial(self._generate_one, request)]
        if request.kind == "loglikelihood":
            return [partial(self._score_candidate, request, index) for index in range(len(request.candidates or ()))]
        raise UsageError(
            f"the openai backend cannot answer {request.kind!r} requests (sample "
            f"{request.sample_id}); it answers generate and loglikelihood"
        )

    def _generate_one(self, request: Request) -> Response:
        args = self._sampling_args(request)
        if self._uses_chat(request):
            if request.continues_assistant:  # vLLM serve's extension; other servers may refuse it
                args["extra_body"] = {**(args.get("extra_body") or {}), "continue_final_message": True,
                                      "add_generation_prompt": False}
            call = partial(self._client.chat.completions.create, messages=chat_messages(request), **args)
            completion, latency = self._with_retries(call)
            choice = completion.choices[0]
            text = choice.message.content or ""
        else:
            call = partial(self._client.completions.create, prompt=request.prompt, **args)
            completion, latency = self._with_retries(call)
            choice = completion.choices[0]
            text = choice.text
        cut = cut_at_stop(text, request.settings.stop)
        input_tokens, output_tokens = token_counts(completion)
        return Response(
            text=cut,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_s=latency,
            finish_reason="stop" if cut != text else choice.finish_reason,
        )

    def _uses_chat(self, request: Request) -> bool:
        if self.endpoint == "completions" and request.messages is not None:
            raise UsageError(
                f"openai:{self.name} has endpoint=completions but the task sends chat messages; "
                "use endpoint=chat or endpoint=auto"
            )
        return self.endpoint == "chat" or request.messages is not None

    def _sampling_args(self, request: Request) -> dict[str, Any]:
        settings = request.settings
        args: dict[str, Any] = {
            "model": self.name,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "extra_body": self.request_args or None,
        }
        if settings.stop:
            args["stop"] = list(settings.stop[:MAX_STOP_STRINGS])
        if settings.seed is not None:
            args["seed"] = settings.seed
        return args

    def _score_candidate(self, request: Request, index: int) -> Response:
        """Echo context + candidate `index` with logprobs and sum the candidate's tokens.

        max_tokens is 1, not 0, because vLLM rejects 0; the one generated token lies past the
        text and is left out by its offset, as lm-eval does.
        """
        if self.endpoint == "chat" or request.prompt is None:
            raise UsageError(
                f"openai:{self.name} cannot score request {request.sample_id!r} (needs a plain prompt and "
                f"endpoint=completions or auto): {LOGLIKELIHOOD_HELP}"
            )
        context = request.prompt + (request.contexts[index] if request.contexts else "")
        text = context + (request.candidates or ())[index]
        call = partial(
            self._client.completions.create,
            model=self.name,
            prompt=text,
            max_tokens=1,
            temperature=0.0,
            echo=True,
            logprobs=1,
            extra_body=self.request_args or None,
        )
        try:
            completion, latency = self._with_retries(call)
        except UsageError as error:
            raise UsageError(f"{error}; {LOGLIKELIHOOD_HELP}") from error
        logprobs = completion.choices[0].logprobs
        if logprobs is None or not logprobs.text_offset or not logprobs.token_logprobs:
            raise UsageError(f"{self._where()} returned no prompt logprobs; {LOGLIKELIHOOD_HELP}")
        problem = misaligned_logprobs(logprobs.text_offset, logprobs.tokens or [], logprobs.top_logprobs or [],
                                      end=len(text))
        if problem is not None:
            raise UsageError(f"{self._where()} returns prompt logprobs that cannot be trusted: {problem}. "
                             f"{MISALIGNED_HELP}")
        logprob, is_greedy = continuation_logprob(
            logprobs.text_offset, logprobs.token_logprobs, logprobs.top_logprobs or [],
            start=len(context), end=len(text),
        )
        return Response(scores=(logprob,), greedy=(is_greedy,), input_tokens=token_counts(completion)[0],
                        latency_s=latency)

    def _with_retries(self, call: Callable[[], T]) -> tuple[T, float]:
        """Run `call`, retrying transient failures; returns its result and the last attempt's time."""
        last_error: openai.APIError | None = None
        for attempt in range(self.max_retries + 1):
            if last_error is not None:
                time.sleep(retry_delay(attempt - 1, self.backoff, retry_after_s(last_error)))
            started = time.perf_counter()
            try:
                return call(), time.perf_counter() - started
            except openai.APIError as error:
                if not is_retryable(error):
                    raise self._rejected(error) from error
                last_error = error
        attempts = f"{self.max_retries + 1} attempt{'s' if self.max_retries else ''}"
        raise OpenAIRequestError(
            f"{self._where()} failed after {attempts} (last error: {describe(last_error)}); check that "
            "the server is up and base_url= is right, or raise max_retries= or timeout="
        ) from last_error

    def _rejected(self, error: openai.APIError) -> Exception:
        """A failure that retrying cannot fix: the user's key, model name or arguments."""
        if not isinstance(error, openai.APIStatusError):
            return OpenAIRequestError(f"{self._where()} failed: {describe(error)}")
        if error.status_code in (401, 403):
            return UsageError(
                f"{self._where()} refused the API key ({error.status_code}: {describe(error)}); "
                f"set a valid key in the environment variable {self.api_key_env}"
            )
        return UsageError(f"{self._where()} rejected the request ({error.status_code}): {describe(error)}")

    def _where(self) -> str:
        return f"model {self.name!r} at {self.base_url}"


def resolve_api_key(base_url: str, api_key_env: str) -> str:
    """A local server rarely checks keys, so it gets a placeholder rather than an error."""
    key = os.environ.get(api_key_env)
    if key:
        return key
    if urlparse(base_url).hostname in LOCAL_HOSTS:
        return PLACEHOLDER_KEY
    raise UsageError(
        f"no API key for {base_url}: set the environment variable {api_key_env} "
        "(any value, e.g. EMPTY, for a server without auth), or name another with api_key_env=VAR"
    )


def reject_misspelled_arguments(request_args: dict[str, Any]) -> None:
    """Extra arguments go to the server unchecked, so catch a typo of one of ours here."""
    ours = [p for p in inspect.signature(OpenAIModel.__init__).parameters if p not in ("self", "name")]
    for key in request_args:
        close = difflib.get_close_matches(key, ours, n=1, cutoff=0.75)
        if close:
            raise UsageError(f"unknown openai argument {key!r}: did you mean {close[0]}?")


def joined(request: Request, answers: list[Response]) -> Response:
    """A request's answer from its calls' answers: a loglikelihood request's one per candidate."""
    if request.kind != "loglikelihood":
        return answers[0]
    tokens = [answer.input_tokens for answer in answers]
    return Response(
        scores=tuple(score for answer in answers for score in answer.scores or ()),
        greedy=tuple(greedy for answer in answers for greedy in answer.greedy or ()),
        input_tokens=sum(count for count in tokens if count is not None) if None not in tokens else None,
        latency_s=sum(answer.latency_s for answer in answers),
    )


def chat_messages(request: Request) -> list[dict[str, Any]]:
    """A prompt forced onto the chat endpoint becomes one user turn; images go as image parts."""
    if request.messages is None:
        return [{"role": "user", "content": request.prompt or ""}]
    return [m.as_openai() for m in request.messages]


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut before the earliest stop string; covers the stops the server was not sent."""
    positions = [index for s in stop if s and (index := text.find(s)) >= 0]
    return text[: min(positions)] if positions else text


def is_retryable(error: openai.APIError) -> bool:
    """Transient: rate limits, server errors, request timeouts, broken connections."""
    if isinstance(error, openai.APIConnectionError):
        return True
    status = getattr(error, "status_code", None)
    return status is not None and (status in (408, 429) or status >= 500)


def retry_after_s(error: openai.APIError) -> float | None:
    """The server's Retry-After (seconds or an HTTP date), if it sent one."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def retry_delay(attempt: int, backoff: float, retry_after: float | None) -> float:
    """Exponential backoff with equal jitter, so many clients do not retry in lockstep."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_DELAY_S)
    base = min(backoff * 2**attempt, MAX_RETRY_DELAY_S)
    return base / 2 + random.uniform(0, base / 2)


def token_counts(completion: Any) -> tuple[int | None, int | None]:
    """Prompt and completion tokens; some servers send no usage."""
    usage = completion.usage
    return (usage.prompt_tokens, usage.completion_tokens) if usage else (None, None)


def describe(error: BaseException | None) -> str:
    """The server's own message when it sent one; for a request that never reached a server, the
    network's reason (refused, unknown host), which the SDK hides behind "Connection error."."""
    body = getattr(error, "body", None)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    if isinstance(error, openai.APITimeoutError):
        return "timed out waiting for an answer"
    if isinstance(error, openai.APIConnectionError):
        return f"connection failed: {network_reason(error)}"
    return f"{type(error).__name__}: {error}"


def network_reason(error: BaseException) -> str:
    """The innermost cause's message: `[Errno 111] Connection refused`, not the wrappers' text."""
    while (cause := error.__cause__ or error.__context__) is not None:
        error = cause
    return str(error).strip() or type(error).__name__
