"""The `openai:` backend against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import pytest
from openai_server import OpenAIServer, Reply

from harness.errors import UsageError
from harness.models.base import load_model
from harness.models.openai import OpenAIModel, OpenAIRequestError, retry_delay
from harness.models.openai_logprobs import continuation_logprob
from harness.types import GenerationSettings, Message, Request, Response


class EchoModel:
    """Answers each request with its own prompt (or a fixed text), so mix-ups show."""

    name = "echo"
    chunk_size = 64
    cacheable = False

    def __init__(self, text: str | None = None, delay_s: float = 0.0) -> None:
        self.text = text
        self.delay_s = delay_s

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        time.sleep(self.delay_s)
        return [self._answer(r.prompt_text()) for r in requests]

    def _answer(self, prompt: str) -> Response:
        return Response(text=self.text or prompt, input_tokens=5, output_tokens=3, finish_reason="length")

    def fingerprint(self) -> str:
        return "echo"


def prompt_request(prompt: str, **settings: Any) -> Request:
    return Request(kind="generate", sample_id=prompt, prompt=prompt, settings=GenerationSettings(**settings))


@contextmanager
def served(
    model: EchoModel | None = None, faults: Sequence[Any] = (), **client_args: Any
) -> Iterator[tuple[OpenAIServer, OpenAIModel]]:
    """A server and a client for it; backoff 0 keeps retry tests fast."""
    server = OpenAIServer(model or EchoModel(), faults=faults)
    with server as base_url:
        client_args.setdefault("backoff", 0.0)
        yield server, OpenAIModel("echo", base_url=base_url, **client_args)


def test_completion_request_returns_served_text_and_usage() -> None:
    with served() as (server, model):
        [response] = model.generate([prompt_request("2 + 2 =", max_tokens=7, seed=3)])
    assert response.text == "2 + 2 ="
    assert (response.input_tokens, response.output_tokens, response.finish_reason) == (5, 3, "length")
    assert response.latency_s > 0
    path, body = server.received[0]
    assert path == "/v1/completions"
    assert (body["model"], body["max_tokens"], body["temperature"], body["seed"]) == ("echo", 7, 0.0, 3)


def test_chat_request_goes_to_chat_completions() -> None:
    request = Request(kind="generate", sample_id="c", messages=(Message("user", "hi"),))
    with served() as (server, model):
        [response] = model.generate([request])
    assert response.text == "<user>\nhi"
    assert server.received[0][0] == "/v1/chat/completions"
    assert server.received[0][1]["messages"] == [{"role": "user", "content": "hi"}]


def test_a_prefilled_assistant_turn_asks_the_server_to_continue_it() -> None:
    turns = (Message("user", "hi"), Message("assistant", "Step 1"))
    request = Request(kind="generate", sample_id="c", messages=turns)
    with served(top_k=5) as (server, model):
        model.generate([request, Request(kind="generate", sample_id="d", messages=turns[:1])])
    bodies = {body["messages"][-1]["role"]: body for _, body in server.received}
    assert (bodies["assistant"]["continue_final_message"], bodies["assistant"]["add_generation_prompt"]) == (True, False)
    assert bodies["assistant"]["top_k"] == 5
    assert "continue_final_message" not in bodies["user"]
    with served() as (server, model):  # without extra arguments of the user's
        model.generate([request])
    assert server.received[0][1]["continue_final_message"] is True


def test_endpoint_chat_sends_a_prompt_as_one_user_turn() -> None:
    with served(endpoint="chat") as (server, model):
        [response] = model.generate([prompt_request("hello")])
    assert response.text == "<user>\nhello"
    assert server.received[0][0] == "/v1/chat/completions"


def test_endpoint_completions_refuses_chat_requests() -> None:
    request = Request(kind="generate", sample_id="c", messages=(Message("user", "hi"),))
    with served(endpoint="completions") as (server, model), pytest.raises(UsageError, match="endpoint=chat"):
        model.generate([request])
    assert server.request_count == 0


def test_order_is_preserved_with_bounded_concurrency() -> None:
    prompts = [f"prompt {i}" for i in range(20)]
    with served(EchoModel(delay_s=0.02), concurrency=4) as (server, model):
        responses = model.generate([prompt_request(p) for p in prompts])
    assert [r.text for r in responses] == prompts
    assert 1 < server.max_in_flight <= 4
    assert model.chunk_size == 16


def test_rate_limit_is_retried_honouring_retry_after() -> None:
    # backoff=30 would make the test hang if the server's Retry-After: 0 were ignored
    with served(faults=["429", "429", None], backoff=30.0) as (server, model):
        started = time.monotonic()
        [response] = model.generate([prompt_request("x")])
    assert response.text == "x"
    assert server.request_count == 3
    assert time.monotonic() - started < 5


def test_server_error_is_retried() -> None:
    with served(faults=["500", "503", None]) as (server, model):
        [response] = model.generate([prompt_request("x")])
    assert response.text == "x"
    assert server.request_count == 3


def test_timeout_is_retried() -> None:
    with served(faults=["timeout", None], timeout=0.5) as (server, model):
        [response] = model.generate([prompt_request("x")])
    assert response.text == "x"
    assert server.request_count == 2


def test_auth_error_is_not_retried_and_names_the_key_variable() -> None:
    with served(faults=["401"], api_key_env="MY_SERVER_KEY") as (server, model):
        with pytest.raises(UsageError, match="MY_SERVER_KEY"):
            model.generate([prompt_request("x")])
    assert server.request_count == 1


def test_bad_request_is_not_retried() -> None:
    with served(faults=["400"]) as (server, model), pytest.raises(UsageError, match="rejected the request"):
        model.generate([prompt_request("x")])
    assert server.request_count == 1


def test_exhausted_retries_name_model_url_and_last_error() -> None:
    with served(faults=["500"] * 3, max_retries=2) as (server, model):
        with pytest.raises(OpenAIRequestError) as raised:
            model.generate([prompt_request("x")])
        message = str(raised.value)
        assert server.base_url in message
    assert "'echo'" in message and "injected HTTP 500" in message
    assert server.request_count == 3


def test_refused_connection_is_retried_then_names_the_url() -> None:
    with served() as (server, _):
        closed_url = server.base_url  # nothing listens here once the server has stopped
    model = OpenAIModel("echo", base_url=closed_url, max_retries=1, backoff=0.0)
    with pytest.raises(OpenAIRequestError, match=f"at {closed_url} failed after 2 attempts"):
        model.generate([prompt_request("x")])


def test_stop_strings_beyond_four_are_cut_client_side() -> None:
    stop = ("S1", "S2", "S3", "S4", "END5")
    with served(EchoModel(text="alpha END5 beta S1")) as (server, model):
        [response] = model.generate([prompt_request("x", stop=stop)])
    assert server.received[0][1]["stop"] == ["S1", "S2", "S3", "S4"]
    assert response.text == "alpha "
    assert response.finish_reason == "stop"


def echoed(tokens: list[str], token_logprobs: list, top_logprobs: list) -> Reply:
    offsets = [sum(len(token) for token in tokens[:i]) for i in range(len(tokens))]
    logprobs = {"tokens": tokens, "text_offset": offsets, "token_logprobs": token_logprobs, "top_logprobs": top_logprobs}
    choice = {"index": 0, "text": "".join(tokens), "logprobs": logprobs, "finish_reason": "length"}
    return Reply({"id": "x", "object": "text_completion", "created": 0, "model": "echo", "choices": [choice]})


def test_loglikelihood_sums_each_candidates_tokens_from_echoed_logprobs() -> None:
    """One call per candidate, the context filled in with `contexts` (sent one at a time here so
    the scripted replies meet their candidates in order)."""
    sat = echoed(["The", " cat", " sat", " down"], [None, -1.0, -0.5, -2.0],
                 [None, {" cat": -1.0}, {" on": -0.25, " sat": -0.5}, {" down": -2.0}])
    dog_ran = echoed(["The", " dog", " ran", " off"], [None, -3.0, -0.75, -1.0],
                     [None, {" dog": -3.0}, {" ran": -0.75}, {" off": -1.0}])
    request = Request(kind="loglikelihood", sample_id="l", prompt="The", candidates=(" sat", " ran"),
                      contexts=(" cat", " dog"))
    with served(faults=[sat, dog_ran], concurrency=1) as (server, model):
        [response] = model.generate([request])
    assert (response.scores, response.greedy) == ((-0.5, -0.75), (False, True))
    assert [(body["prompt"], body["echo"], body["logprobs"]) for _, body in server.received] == [
        ("The cat sat", True, 1), ("The dog ran", True, 1)]


def test_loglikelihood_without_server_support_is_a_usage_error() -> None:
    request = Request(kind="loglikelihood", sample_id="l", prompt="The cat", candidates=(" sat",))
    with served(faults=["400"]) as (_, model), pytest.raises(UsageError, match="prompt logprobs"):
        model.generate([request])
    with served() as (_, model), pytest.raises(UsageError, match="returned no prompt logprobs"):
        model.generate([request])


def test_echoed_logprobs_one_token_late_are_refused() -> None:
    """llama-cpp-python's server: each token carries the distribution of the position after it,
    and the generated token is left out (its real answer for "The capital of France is Paris")."""
    late = echoed(["The", " capital", " of", " France", " is", " Paris"],
                  [None, -9.6, -10.46, -11.23, -11.79, -8.45],
                  [None, {" of": -0.41, " capital": -9.6}, {" the": -1.99, " of": -10.46},
                   {" is": -0.43, " France": -11.23}, {" Paris": -0.26, " is": -11.79}, {".": -0.38, " Paris": -8.45}])
    request = Request(kind="loglikelihood", sample_id="l", prompt="The capital of France is", candidates=(" Paris",))
    with served(faults=[late]) as (_, model), pytest.raises(UsageError, match="leave out the token it generated"):
        model.generate([request])
    shifted = echoed(["The", " cat", " sat", " on"], [None, -1.0, -0.5, -2.0],
                     [None, {" sat": -0.2, " cat": -1.0}, {" on": -0.1, " sat": -0.5}, {" the": -0.3, " on": -2.0}])
    cat = Request(kind="loglikelihood", sample_id="l", prompt="The", candidates=(" cat sat",))
    with served(faults=[shifted]) as (_, model), pytest.raises(UsageError, match=r"\(' on'\) is not the most likely"):
        model.generate([cat])


def test_reward_requests_are_refused() -> None:
    with served() as (server, model), pytest.raises(UsageError, match="cannot answer 'reward'"):
        model.generate([Request(kind="reward", sample_id="r", prompt="x", candidates=("a", "b"))])
    assert server.request_count == 0


def test_a_token_straddling_the_context_boundary_counts_as_continuation() -> None:
    logprob, greedy = continuation_logprob(
        [0, 3, 7], [None, -1.5, -3.0], [None, {" cat": -1.5}, {"!": -3.0}], start=4, end=7
    )
    assert (logprob, greedy) == (-1.5, True)


def test_retry_delay_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    delays = [retry_delay(3, 1.0, None) for _ in range(50)]
    assert all(4.0 <= d <= 8.0 for d in delays) and len(set(delays)) > 1
    assert retry_delay(20, 1.0, None) <= 60.0
    assert retry_delay(0, 30.0, 0.0) == 0.0


def test_missing_api_key_for_a_remote_url_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        OpenAIModel("gpt-4o-mini", base_url="https://api.example.com/v1")
    OpenAIModel("local", base_url="http://localhost:8000/v1")


def test_base_url_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    assert OpenAIModel("m").base_url == "http://127.0.0.1:8000/v1"


def test_fingerprint_depends_on_url_model_and_server_args_only() -> None:
    def fingerprint(name: str = "m", **args: Any) -> str:
        return OpenAIModel(name, **{"base_url": "http://127.0.0.1:8000/v1", **args}).fingerprint()

    assert fingerprint() != fingerprint(base_url="http://127.0.0.1:9000/v1")
    assert fingerprint() != fingerprint("other")
    assert fingerprint() != fingerprint(top_k=20)
    assert fingerprint() == fingerprint(concurrency=2, max_retries=0, timeout=1.0)


def test_spec_string_builds_the_backend() -> None:
    model = load_model("openai:m,base_url=http://127.0.0.1:8000/v1,concurrency=2")
    assert isinstance(model, OpenAIModel) and model.chunk_size == 8


def test_misspelled_argument_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="did you mean concurrency"):
        OpenAIModel("m", base_url="http://127.0.0.1:8000/v1", concurency=2)


def test_served_hf_model_gives_the_same_greedy_text(tiny_model_dir: Any) -> None:
    from harness.models.hf import HFModel

    hf = HFModel(str(tiny_model_dir))
    requests = [
        prompt_request("The quick brown fox", max_tokens=8),
        Request(kind="generate", sample_id="chat", messages=(Message("user", "Natalia sold"),),
                settings=GenerationSettings(max_tokens=8)),
    ]
    direct = [hf.generate([request])[0].text for request in requests]
    server = OpenAIServer(hf)
    with server as base_url:
        responses = OpenAIModel("tiny", base_url=base_url).generate(requests)
    assert [r.text for r in responses] == direct
