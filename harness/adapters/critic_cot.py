"""`critic-cot:` a solver Model checked by a step-wise critic Model (Critic-CoT, arXiv 2408.16326).

`--model "critic-cot:hf:./ckpt,critic=hf:./critic,n=16,mode=filter"` wraps the solver `hf:./ckpt`
and the critic `hf:./critic`. The wrapped models are ordinary specs, loaded with `load_model`,
so any backend serves either role; their own arguments go through `solver.KEY=VALUE` and
`critic.KEY=VALUE`. Every inner generation goes through the response cache, so an interrupted
run resumes without sampling or critiquing again.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any, Sequence

from harness.adapters.critic_cot_filter import run_filter
from harness.adapters.critic_cot_refine import run_refine
from harness.adapters.critic_cot_requests import Decoding, Problem, Roles
from harness.adapters.critic_cot_steps import extract_problem
from harness.errors import UsageError
from harness.models.base import Model, inner_spec, load_model
from harness.models.cached import CachedModel
from harness.store.cache import ResponseCache, default_cache_dir
from harness.types import Request, Response

# Bump when a change here changes outputs, so answers cached from the old code are not reused.
ADAPTER_REVISION = 3  # 2: inner seeds depend on the problem text; 3: unjudged candidates rejected=null
MODES = ("filter", "refine")
INNER_PREFIXES = ("solver.", "critic.")


class CriticCoTModel:
    """Critic-CoT inference over any solver and critic: `mode=filter` or `mode=refine`.

    filter (official `evaluate/eval_math_critic.py`): n solutions at `temperature` (0.7) and
    `max_tokens` (2048), each critiqued once at `critic_temperature` (0.5); the answer is the
    majority among solutions with no step judged incorrect, with the official fallbacks.
    refine (official `infer_instance_iterative_refine`): one solution (drawn like filter's first,
    as the official pipeline refines the first of its 512 samples), critiqued; while the
    critic faults a step, the critic rewrites from that step and critiques again, up to
    `max_refine_depth` rounds per chain and `max_refine_restart` chains. Critiques and
    corrections use `critic_temperature` (0.5) and `critic_max_tokens` (4096, the official
    default), and every stage uses `top_p` (0.95). The paper samples n=512; n defaults to 16 to
    fit an ordinary budget. The official runs also set repetition_penalty=1.1, which
    GenerationSettings has no field for, so it is not applied.

    The incoming request supplies the problem (in the official solve format) and its seed and
    attempt, from which every inner seed is derived; its other decoding settings are ignored,
    since the method fixes its own. `cache=false` skips the inner response cache; `cache_dir`
    names it (`harness run` fills both from --no-cache and --cache-dir).
    """

    def __init__(
        self,
        name: str,
        *,
        critic: str | None = None,
        n: int = 16,
        mode: str = "filter",
        temperature: float = 0.7,
        critic_temperature: float = 0.5,
        top_p: float = 0.95,
        max_tokens: int = 2048,
        critic_max_tokens: int = 4096,
        max_refine_depth: int = 8,
        max_refine_restart: int = 8,
        cache: bool = True,
        cache_dir: str | None = None,
        **inner_args: Any,
    ) -> None:
        solver_args, critic_args = split_inner_args(inner_args)
        _check_settings(name, n, mode, max_refine_depth, max_refine_restart)
        self.name = f"critic-cot:{name}"
        self.n, self.mode = n, mode
        self.max_refine_depth, self.max_refine_restart = max_refine_depth, max_refine_restart
        self.decoding = Decoding(
            temperature=float(temperature),
            critic_temperature=float(critic_temperature),
            top_p=float(top_p),
            max_tokens=int(max_tokens),
            critic_max_tokens=int(critic_max_tokens),
        )
        store = ResponseCache(Path(cache_dir) if cache_dir else default_cache_dir()) if cache else None
        solver_spec, critic_spec = inner_spec(name, solver_args), inner_spec(critic or name, critic_args)
        solver_model = _with_cache(load_model(solver_spec), store)
        # The default critic is the solver itself: the same loaded weights, never a second copy.
        critic_model = solver_model if critic_spec == solver_spec else _with_cache(load_model(critic_spec), store)
        self.roles = Roles(solver_model, critic_model, self.decoding)
        per_problem = self.n if mode == "filter" else 1
        self.chunk_size = max(1, solver_model.chunk_size // per_problem)
        # Outer caching keys on the request's content, so it is only sound if the inner models'
        # answers depend on nothing else (oracle and replay also read bookkeeping fields).
        self.cacheable = solver_model.cacheable and critic_model.cacheable

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        """Answer a batch; each stage is one call to the solver or critic for all problems."""
        problems = [Problem(request, _problem_text(request)) for request in requests]
        if self.mode == "filter":
            return run_filter(self.roles, problems, self.n)
        return run_refine(self.roles, problems, self.max_refine_depth, self.max_refine_restart)

    def fingerprint(self) -> str:
        """Both inner identities and every setting that changes outputs (not `cache`)."""
        identity = {
            "adapter": "critic-cot",
            "revision": ADAPTER_REVISION,
            "solver": self.roles.solver.fingerprint(),
            "critic": self.roles.critic.fingerprint(),
            "mode": self.mode,
            "n": self.n,
            "decoding": self.decoding.__dict__,
            "max_refine_depth": self.max_refine_depth,
            "max_refine_restart": self.max_refine_restart,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"critic-cot:{digest}"


def own_options() -> list[str]:
    """The adapter's own keyword options, read from its signature so the list cannot drift."""
    parameters = inspect.signature(CriticCoTModel.__init__).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def split_inner_args(inner_args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route `solver.KEY` and `critic.KEY` to the inner models; anything else is a typo.

    `check_model_spec` cannot catch these (a `**kwargs` signature binds any key), so they are
    checked here, before any weights load.
    """
    routed: dict[str, dict[str, Any]] = {prefix: {} for prefix in INNER_PREFIXES}
    for key, value in inner_args.items():
        prefix = next((p for p in INNER_PREFIXES if key.startswith(p) and len(key) > len(p)), None)
        if prefix is None:
            valid = ", ".join([*own_options(), "solver.<arg>", "critic.<arg>"])
            raise UsageError(f"unknown critic-cot argument {key!r}; valid: {valid}")
        routed[prefix][key[len(prefix):]] = value
    return routed["solver."], routed["critic."]


def _with_cache(model: Model, store: ResponseCache | None) -> Model:
    return CachedModel(model, store) if store is not None else model


def _check_settings(name: str, n: int, mode: str, depth: int, restarts: int) -> None:
    if not name:
        raise UsageError("critic-cot needs a solver model, e.g. critic-cot:hf:./ckpt,critic=hf:./critic")
    if mode not in MODES:
        raise UsageError(f"bad critic-cot mode={mode!r}; use one of {', '.join(MODES)}")
    for key, value in (("n", n), ("max_refine_depth", depth), ("max_refine_restart", restarts)):
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"bad critic-cot {key}={value!r}: use a positive integer")


def _problem_text(request: Request) -> str:
    if request.kind != "generate":
        raise UsageError(f"critic-cot answers generate requests only (sample {request.sample_id!r} "
                         f"asks {request.kind!r})")
    return extract_problem(request)
