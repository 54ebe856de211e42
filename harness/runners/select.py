"""`--runner NAME[:ADDRESS][,key=value,...]`: which response source answers a run's requests.

NAME is a registry entry (`local`, the model in this process; `ray`, replicas on a Ray cluster
at ADDRESS or a local one; entry-point group `harness.runners` adds more), or a runner profile: a
YAML file in the shipped `runners/` folder (`ray-local`, `ray-cluster`, ...) or a path to one.
A profile is data, like a task: its `runner:` key names the registry entry and every other key
is an option for it, so a cluster's settings are written once and named on the command line.
Options given after the name override the profile's.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import yaml

from harness.assets import asset_dir
from harness.errors import UsageError
from harness.models.base import Model, ModelSpec, parse_key_values
from harness.registry import RUNNERS
from harness.runners.generation import ResponseSource

PROFILE_SUFFIXES = (".yaml", ".yml")


def open_source(runner: str, model: Model, model_spec: ModelSpec | None) -> ResponseSource:
    """The response source `runner` names, built for `model` (whose spec replicas load)."""
    head, _, option_text = runner.partition(",")
    name, _, address = head.partition(":")
    options = parse_key_values(option_text, f"--runner {runner!r} option")
    if name not in RUNNERS.names():
        profile = load_profile(name)
        name = profile.pop("runner")
        options = {**profile, **options}
    if address:
        options["address"] = address
    options.setdefault("address", None)
    factory = RUNNERS.get(name)
    try:
        inspect.signature(factory).bind(model, model_spec, **options)
    except TypeError as error:
        raise UsageError(f"--runner {runner!r}: bad options {sorted(options)} for runner {name!r} ({error})") from error
    return factory(model, model_spec, **options)


def load_profile(name: str) -> dict[str, Any]:
    """A profile's settings: `runners/NAME.yaml`, or the YAML file at path NAME."""
    path = Path(name) if name.endswith(PROFILE_SUFFIXES) else asset_dir("runners") / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown runner {name!r}: not a registered runner ({', '.join(RUNNERS.names())}), "
                         f"a profile ({', '.join(profile_names()) or 'none shipped'}) or a profile .yaml file")
    try:
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UsageError(f"runner profile {path} is not valid YAML: {error}") from error
    if not isinstance(profile, dict) or not isinstance(profile.get("runner"), str):
        raise UsageError(f"runner profile {path} needs a `runner:` key naming a runner "
                         f"({', '.join(RUNNERS.names())}), with its options as the other keys")
    if ":" in profile["runner"] or profile["runner"] not in RUNNERS.names():
        raise UsageError(f"runner profile {path}: runner {profile['runner']!r} is not a registered runner "
                         f"({', '.join(RUNNERS.names())}); put a cluster address under `address:`")
    return profile


def profile_names() -> list[str]:
    """The shipped profiles, by name."""
    return sorted(path.stem for path in asset_dir("runners").glob("*.yaml"))
