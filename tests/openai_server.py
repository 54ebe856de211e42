"""A small OpenAI-compatible HTTP server over any harness Model, for tests.

The `openai:` backend is tested against real HTTP on 127.0.0.1 rather than a mocked SDK, so the
tests pin what a vLLM or OpenAI server would see. Faults are scripted one per incoming request:

    server = OpenAIServer(model, faults=["429", "500", "timeout", None])
    with server as base_url:
        ...
    assert server.request_count == 4

A fault is None (answer from the model), an HTTP status as a string ("429" comes with
`Retry-After: 0`), "timeout" (hold the answer for `hang_s`, longer than the client waits), or a
`Reply` sent verbatim (for responses a harness Model cannot produce, such as prompt logprobs).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping, Sequence

from harness.models.base import Model
from harness.types import GenerationSettings, Message, Request, Response


@dataclass(frozen=True)
class Reply:
    """A scripted HTTP answer."""

    body: Mapping[str, Any]
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


Fault = str | Reply | None


class OpenAIServer:
    """Serves `/v1/completions`, `/v1/chat/completions` and `/v1/models` from a harness Model."""

    def __init__(self, model: Model, faults: Sequence[Fault] = (), hang_s: float = 2.0, port: int = 0) -> None:
        self.model = model
        self.hang_s = hang_s
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.max_in_flight = 0
        self._faults = list(faults)
        self._in_flight = 0
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._closed = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)  # port 0: any free one
        self._httpd.app = self  # type: ignore[attr-defined]
        # a short poll interval: shutdown waits for one, and tests start many servers
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def request_count(self) -> int:
        """Completion calls received, faults included (model listings are not counted)."""
        return len(self.received)

    def __enter__(self) -> str:
        self._thread.start()
        return self.base_url

    def __exit__(self, *exc_info: object) -> None:
        self._closed.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def answer(self, path: str, body: dict[str, Any]) -> Reply | None:
        """The reply to one completion call; None when the client should be left hanging."""
        with self._lock:
            self.received.append((path, body))
            number = len(self.received)
            fault = self._faults.pop(0) if self._faults else None
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if fault == "timeout" and self._closed.wait(self.hang_s):
                return None
            if isinstance(fault, Reply):
                return fault
            if fault not in (None, "timeout"):
                return error_reply(int(fault))
            return self._serve(path, body, number)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _serve(self, path: str, body: dict[str, Any], number: int) -> Reply:
        chat = path.endswith("/chat/completions")
        request = to_request(body, chat, sample_id=f"http-{number}")
        with self._model_lock:  # a harness Model need not be thread-safe
            response = self.model.generate([request])[0]
        if response.error:
            return error_reply(500, response.error)
        return Reply(completion_body(self.model.name, response, chat))


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        app: OpenAIServer = self.server.app  # type: ignore[attr-defined]
        if self.path.rstrip("/") != "/v1/models":
            self._send(error_reply(404, f"no route {self.path}"))
            return
        model = {"id": app.model.name, "object": "model", "created": 0, "owned_by": "harness-tests"}
        self._send(Reply({"object": "list", "data": [model]}))

    def do_POST(self) -> None:
        app: OpenAIServer = self.server.app  # type: ignore[attr-defined]
        path = self.path.rstrip("/")
        if path not in ("/v1/completions", "/v1/chat/completions"):
            self._send(error_reply(404, f"no route {self.path}"))
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        reply = app.answer(path, body)
        if reply is not None:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        payload = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest output should show test failures, not access logs."""


def to_request(body: dict[str, Any], chat: bool, sample_id: str) -> Request:
    """The harness Request an OpenAI request body describes."""
    stop = body.get("stop") or ()
    settings = GenerationSettings(
        max_tokens=body.get("max_tokens", 16),
        temperature=body.get("temperature", 1.0),
        top_p=body.get("top_p", 1.0),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        seed=body.get("seed"),
    )
    if chat:
        messages = tuple(Message(m["role"], m["content"]) for m in body["messages"])
        return Request(kind="generate", sample_id=sample_id, messages=messages, settings=settings)
    prompt = body["prompt"]
    prompt = prompt[0] if isinstance(prompt, list) else prompt
    return Request(kind="generate", sample_id=sample_id, prompt=prompt, settings=settings)


def completion_body(model: str, response: Response, chat: bool) -> dict[str, Any]:
    """OpenAI's JSON for one choice, with usage."""
    finish_reason = response.finish_reason or "stop"
    if chat:
        message = {"role": "assistant", "content": response.text}
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish_reason}
    else:
        choice = {"index": 0, "text": response.text, "logprobs": None, "finish_reason": finish_reason}
    prompt_tokens, completion_tokens = response.input_tokens or 0, response.output_tokens or 0
    return {
        "id": f"cmpl-{time.monotonic_ns()}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_reply(status: int, message: str | None = None) -> Reply:
    """OpenAI's error JSON; a 429 says to retry at once so tests stay fast."""
    error = {"message": message or f"injected HTTP {status}", "type": "test_fault", "code": str(status)}
    headers = {"Retry-After": "0"} if status == 429 else {}
    return Reply({"error": error}, status=status, headers=headers)
