"""Lazy registries of named plugins: built-ins and third-party packages register the same way.

A plugin is a "module:attribute" string, imported only when used, so `harness --help` stays fast
and an optional backend (vllm) costs nothing until asked for. Third-party packages add entries
through the entry-point groups `harness.models` and `harness.scorers`; in-process code can call
`register` (tests, notebooks).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from harness.errors import UsageError


class Registry:
    """Maps a name to a lazily imported object, falling back to an entry-point group."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._targets: dict[str, str | Any] = dict(builtins)
        self._entry_points_loaded = False

    def register(self, name: str, target: str | Any) -> None:
        self._targets[name] = target

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._targets)

    def get(self, name: str) -> Any:
        self._load_entry_points()
        if name not in self._targets:
            known = ", ".join(sorted(self._targets))
            raise UsageError(f"unknown {self.kind} {name!r}; known: {known}")
        target = self._targets[name]
        if isinstance(target, str):
            module_name, _, attribute = target.partition(":")
            target = getattr(importlib.import_module(module_name), attribute)
            self._targets[name] = target
        return target

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for entry in entry_points(group=self.group):
            self._targets.setdefault(entry.name, entry.value)


MODELS = Registry(
    "model backend",
    "harness.models",
    {
        "hf": "harness.models.hf:HFModel",
        "vllm": "harness.models.vllm:VLLMModel",
        "openai": "harness.models.openai:OpenAIModel",
        "oracle": "harness.models.oracle:OracleModel",
        "replay": "harness.models.replay:ReplayModel",
        "critic-cot": "harness.adapters.critic_cot:CriticCoTModel",
        "rm": "harness.models.reward_classifier:RewardClassifierModel",
        "dpo": "harness.models.dpo:ImplicitRewardModel",
        "judge": "harness.adapters.judge:JudgeModel",
        "dse": "harness.models.document_extraction:DocumentExtractionModel",
        "vlm": "harness.adapters.vlm_pages:VLMPagesModel",
    },
)

SCORERS = Registry(
    "scorer",
    "harness.scorers",
    {
        "exact_match": "harness.scoring.exact_match:exact_match",
        "math_verify": "harness.scoring.math_equivalence:math_verify_match",
        "hendrycks": "harness.scoring.math_hendrycks:hendrycks_match",
        "minerva": "harness.scoring.math_minerva:minerva_match",
        "prm800k": "harness.scoring.math_prm800k:prm800k_match",
        "reward_accuracy": "harness.scoring.reward:reward_accuracy",
    },
)
