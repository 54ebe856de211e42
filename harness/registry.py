"""Lazy registries of named plugins: built-ins and third-party packages register the same way.

A plugin is a "module:attribute" string, imported only when used, so `harness --help` stays fast
and an optional backend (vllm) costs nothing until asked for. A package adds plugins by declaring
entry points, with no edit of ours; in-process code (tests, notebooks) calls `REGISTRY.register`.
Every group's entry-point value is "module:attribute" (docs/plugins.md has examples):

- `harness.models`: a Model class or factory, called `factory(name, **args)` for the spec
  `NAME:name,key=value`. Adapters (models that wrap a model) use this group too: a model spec
  names backends and adapters through one namespace, so two groups could give one name two meanings.
- `harness.scorers`: a scorer, called `scorer(extracted_text, sample, **options)`, or a
  `BatchScorer` instance (harness.scoring.protocol) that scores whole batches.
- `harness.extraction_steps`: a step factory, called with the step's options from task.yaml,
  returning a function of the text.
- `harness.sandboxes`: a Sandbox class, called with keyword options (`cache=`, `mode=`).
- `harness.runners`: a ResponseSource factory, called `factory(model, model_spec, address=...)`.
- `harness.task_folders`: a folder (str or Path) holding task folders; its entry-point name only
  labels the source, the tasks are named by their task.yaml.

A built-in name wins over an entry point of the same name, so installing a package never changes
what an existing spec string means; `register` replaces anything.
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
        """Add or replace `name` in this process: an object, or a "module:attribute" string."""
        self._targets[name] = target

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._targets)

    def get(self, name: str) -> Any:
        self._load_entry_points()
        if name not in self._targets:
            known = ", ".join(sorted(self._targets))
            raise UsageError(f"unknown {self.kind} {name!r}; known: {known} "
                             f"(a package adds one with an entry point in group {self.group})")
        target = self._targets[name]
        if isinstance(target, str):
            target = self._import(name, target)
            self._targets[name] = target
        return target

    def _import(self, name: str, target: str) -> Any:
        """Import "module:attribute"; a plugin pointing nowhere is the plugin's error, named as such.

        An ImportError raised inside the module (a missing optional dependency) passes through:
        the backend's own message says which extra to install.
        """
        module_name, _, attribute = target.partition(":")
        where = f"{self.kind} {name!r} (group {self.group}) points at {target!r}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if module_name != missing and not module_name.startswith(missing + "."):
                raise
            raise UsageError(f"{where}, but module {missing!r} is not installed; "
                             "reinstall the package that declares it") from error
        if not attribute or not hasattr(module, attribute):
            raise UsageError(f"{where}, but {module_name} has no attribute {attribute!r}; "
                             "the value must be 'module:attribute'")
        return getattr(module, attribute)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for entry in entry_points(group=self.group):
            self._targets.setdefault(entry.name, f"{entry.module}:{entry.attr}")


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
        "acc": "harness.scoring.multiple_choice:acc",
        "acc_norm": "harness.scoring.multiple_choice:acc_norm",
        "acc_bytes": "harness.scoring.multiple_choice:acc_bytes",
        "mc2": "harness.scoring.multiple_choice:mc2",
    },
)

EXTRACTION_STEPS = Registry(
    "extraction step",
    "harness.extraction_steps",
    {
        "regex": "harness.tasks.extraction:regex_step",
        "take_first": "harness.tasks.extraction:take_first_step",
        "strip_thinking": "harness.tasks.extraction:strip_thinking_step",
        "last_boxed": "harness.tasks.extraction:last_boxed_step",
        "minerva_answer": "harness.tasks.extraction:minerva_answer_step",
    },
)

SANDBOXES = Registry(
    "sandbox backend",
    "harness.sandboxes",
    {
        "local": "harness.sandbox.local:LocalSandbox",
        "docker": "harness.sandbox.docker:DockerSandbox",
    },
)

RUNNERS = Registry(
    "runner",
    "harness.runners",
    {
        "local": "harness.runners.generation:ModelChunks",
        "ray": "harness.runners.ray:RaySource",
    },
)

TASK_FOLDERS = Registry("task folder source", "harness.task_folders", {})
