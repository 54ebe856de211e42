"""The Model contract and the `backend:name,key=value` spec strings that pick one.

A model is anything with a batched `generate` and a `fingerprint`; the engine never asks more.
Backends declare how many requests they like per call (`chunk_size`): the engine hands them
chunks of that size so progress is saved after each chunk and a crash loses at most one.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

from harness.errors import UsageError
from harness.registry import MODELS
from harness.types import Request, Response


@runtime_checkable
class Model(Protocol):
    """What every backend and adapter implements."""

    name: str
    chunk_size: int
    cacheable: bool

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Answer every request, in order. Batching is the backend's business."""
        ...

    def fingerprint(self) -> str:
        """Identifies weights and every setting that changes outputs; part of the cache key."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """A parsed `backend:name,key=value,...` string."""

    backend: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        extra = "".join(f",{k}={v}" for k, v in self.args.items())
        return f"{self.backend}:{self.name}{extra}" if self.name else f"{self.backend}{extra}"


def parse_value(text: str) -> Any:
    """Read `8`, `0.7`, `true`, `none` as Python values; anything else stays a string."""
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"none", "null"}:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, (int, float)) else text


def parse_key_values(text: str, what: str) -> dict[str, Any]:
    """Parse `a=1,b=x` (the lm-eval `--model_args` syntax)."""
    result: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"bad {what} {item!r}: expected key=value, e.g. batch_size=8")
        result[key.strip()] = parse_value(value.strip())
    return result


def parse_model_spec(spec: str, model_args: str | None = None) -> ModelSpec:
    """Split `backend:name,k=v` into parts; `--model-args` merge over the spec's own."""
    head = spec.split(",", 1)[0]
    backend, sep, rest = spec.partition(":") if ":" in head else (head, ":", spec[len(head):])
    if not backend:
        raise UsageError(f"bad model spec {spec!r}: expected backend:name, e.g. hf:Qwen/Qwen2.5-7B")
    name, _, arg_text = rest.partition(",") if "=" not in rest.split(",")[0] else ("", "", rest)
    args = parse_key_values(arg_text, "model argument")
    args.update(parse_key_values(model_args or "", "model argument"))
    parsed = ModelSpec(backend=backend, name=name, args=args)
    _refuse_lm_eval_spelling(parsed, spec, model_args)
    return parsed


# lm-eval's backends for OpenAI-compatible servers; all of them are our `openai:`.
LM_EVAL_OPENAI_BACKENDS = ("local-completions", "local-chat-completions", "openai-completions", "openai-chat-completions")


def _refuse_lm_eval_spelling(parsed: ModelSpec, spec: str, model_args: str | None) -> None:
    """lm-eval names the checkpoint in --model_args (`--model hf --model_args pretrained=X`); we name
    it in the spec (`hf:X`). Left alone, `pretrained` would fail as an unknown argument of the
    backend, which does not tell an lm-eval user what to write instead: this says it exactly."""
    openai_like = parsed.backend in LM_EVAL_OPENAI_BACKENDS
    name_key = "model" if openai_like else "pretrained"
    if name_key not in parsed.args:
        return
    rest = {key: value for key, value in parsed.args.items() if key != name_key}
    backend = "openai" if openai_like else parsed.backend
    given = f"--model {spec}" + (f" --model-args {model_args}" if model_args else "")
    if parsed.name:
        raise UsageError(f"{given}: the spec already names the model ({parsed.name}); drop {name_key}=, which is "
                         f"lm-eval's spelling: --model {ModelSpec(backend, parsed.name, rest)}")
    harness_spec = ModelSpec(backend, str(parsed.args[name_key]), rest)
    raise UsageError(f"{given}: {name_key}= is lm-eval's spelling; harness names the model in the spec: "
                     f"--model {harness_spec}")


def require_kind(requests: Sequence[Request], kind: str, model: str, what: str, tasks: str) -> None:
    """Refuse a request of another kind, naming what the model does and which tasks it serves."""
    for request in requests:
        if request.kind != kind:
            raise UsageError(f"{model} {what}: it answers {kind} requests (tasks such as {tasks}), "
                             f"not {request.kind!r} (sample {request.sample_id})")


def inner_spec(spec: str, extra_args: dict[str, Any]) -> ModelSpec:
    """An adapter's inner model spec with its forwarded arguments (`solver.KEY`, `judge.KEY`)
    merged over the spec's own."""
    parsed = parse_model_spec(spec)
    return ModelSpec(parsed.backend, parsed.name, {**parsed.args, **extra_args})


def check_model_spec(spec: str | ModelSpec, model_args: str | None = None) -> ModelSpec:
    """Parse a spec and check its backend and argument names without building the model.

    Called before data loading so a typo in `--model` fails in milliseconds, not after the
    data set and weights are loaded.
    """
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec, model_args)
    factory = MODELS.get(parsed.backend)
    try:
        inspect.signature(factory).bind(parsed.name, **parsed.args)
    except TypeError as error:
        raise UsageError(f"bad arguments for model {parsed}: {error}") from error
    return parsed


def load_model(spec: str | ModelSpec, model_args: str | None = None) -> Model:
    """Build a model from its spec; unknown backends and bad arguments are UsageErrors."""
    parsed = check_model_spec(spec, model_args)
    return MODELS.get(parsed.backend)(parsed.name, **parsed.args)
