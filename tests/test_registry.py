"""Registries: entry points add names without an edit of ours, `register` adds them in process,
and every extension point (sandboxes, extraction steps, task folders) resolves through one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import harness.sandbox
import harness.task_folders
import harness.tasks.extraction
from harness.assets import asset_dir
from harness.errors import UsageError
from harness.registry import Registry
from harness.sandbox import open_sandbox
from harness.task_folders import task_folders
from harness.tasks.extraction import Extractor

GROUP = "harness_tests.widgets"


def declare_entry_points(site: Path, monkeypatch: pytest.MonkeyPatch, **entries: str) -> None:
    """What pip leaves behind for a package declaring `entries` in GROUP, found on sys.path."""
    dist_info = site / "widget_plugin-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: widget-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[{GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
    monkeypatch.syspath_prepend(str(site))


def test_an_entry_point_adds_a_name_and_a_builtin_name_keeps_its_meaning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    declare_entry_points(tmp_path, monkeypatch, loads="json:loads", dumps="os:getcwd")
    registry = Registry("widget", GROUP, {"dumps": "json:dumps"})
    assert registry.names() == ["dumps", "loads"]
    assert registry.get("loads") is json.loads
    assert registry.get("dumps") is json.dumps


def test_an_entry_point_naming_a_missing_module_is_a_usage_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    declare_entry_points(tmp_path, monkeypatch, broken="no_such_plugin_module.widgets:make", typo="json:laods")
    registry = Registry("widget", GROUP, {})
    with pytest.raises(UsageError, match=f"widget 'broken' \\(group {GROUP}\\).*'no_such_plugin_module' is not installed"):
        registry.get("broken")
    with pytest.raises(UsageError, match="json has no attribute 'laods'"):
        registry.get("typo")


def test_an_unknown_name_lists_the_known_ones_and_the_group() -> None:
    registry = Registry("widget", GROUP, {"dumps": "json:dumps"})
    with pytest.raises(UsageError, match=f"unknown widget 'dump'; known: dumps .*group {GROUP}"):
        registry.get("dump")


def test_register_adds_an_object_in_process() -> None:
    registry = Registry("widget", GROUP, {})
    registry.register("cwd", os.getcwd)
    assert registry.get("cwd") is os.getcwd


class RecordingSandbox:
    def __init__(self, **options: object) -> None:
        self.options = options


def test_open_sandbox_builds_any_registered_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    sandboxes = Registry("sandbox backend", "harness.sandboxes", {})
    sandboxes.register("recording", RecordingSandbox)
    monkeypatch.setattr(harness.sandbox, "SANDBOXES", sandboxes)
    sandbox = open_sandbox("recording", cache=None)
    assert isinstance(sandbox, RecordingSandbox) and sandbox.options == {"cache": None}


def test_an_extraction_step_registered_in_process_runs_in_a_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = Registry("extraction step", "harness.extraction_steps", {"take_first": "harness.tasks.extraction:take_first_step"})
    steps.register("reverse", lambda: lambda text: text[::-1])
    monkeypatch.setattr(harness.tasks.extraction, "EXTRACTION_STEPS", steps)
    assert Extractor({"backwards": ["take_first", "reverse"]}, {}).extract("abc") == {"backwards": "cba"}
    with pytest.raises(UsageError, match="unknown extraction step 'nope'; known: reverse, take_first, python"):
        Extractor({"broken": ["nope"]}, {})


def test_a_task_folder_source_adds_tasks_but_cannot_replace_a_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "task.yaml").write_text("name: my-task\naliases: {my-alias: {}}\n")
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "task.yaml").write_text("name: gsm8k\n")
    sources = Registry("task folder source", "harness.task_folders", {})
    sources.register("mypkg", tmp_path)
    monkeypatch.setattr(harness.task_folders, "TASK_FOLDERS", sources)
    folders = task_folders()
    assert folders["my-task"] == folders["my-alias"] == tmp_path / "mine"
    assert folders["gsm8k"] == asset_dir("tasks") / "gsm8k"


def test_a_task_folder_source_that_is_not_a_folder_names_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = Registry("task folder source", "harness.task_folders", {})
    sources.register("mypkg", tmp_path / "missing")
    monkeypatch.setattr(harness.task_folders, "TASK_FOLDERS", sources)
    with pytest.raises(UsageError, match="task folder source 'mypkg' .* not a folder"):
        task_folders()
