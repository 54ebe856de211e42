"""Malformed task specs fail at load time with the file, line and key; user task folders load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import UsageError, evaluate
from harness.assets import asset_dir
from harness.tasks import list_tasks, load_task
from harness.tasks.task import apply_task_args

GSM8K_DIR = asset_dir("tasks") / "gsm8k"


def copy_gsm8k(tmp_path: Path, replace: tuple[str, str] | None = None) -> Path:
    folder = tmp_path / "tasks" / "gsm8k"
    shutil.copytree(GSM8K_DIR, folder)
    if replace:
        spec = folder / "task.yaml"
        text = spec.read_text()
        assert replace[0] in text
        spec.write_text(text.replace(replace[0], replace[1], 1))
    return folder.parent


def line_number(folder: Path, needle: str) -> int:
    lines = (folder / "gsm8k" / "task.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    tasks = copy_gsm8k(tmp_path, ("request: generate", "requets: generate"))
    with pytest.raises(UsageError, match=rf"task.yaml:{line_number(tasks, 'requets')}: key 'requets': unknown key"):
        load_task("gsm8k", [tasks])


def test_wrong_type_names_the_key_and_line(tmp_path: Path) -> None:
    tasks = copy_gsm8k(tmp_path, ("max_tokens: 256", "max_tokens: lots"))
    with pytest.raises(UsageError, match=rf"task.yaml:{line_number(tasks, 'max_tokens: lots')}: key 'max_tokens': expected int"):
        load_task("gsm8k", [tasks])


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    tasks = copy_gsm8k(tmp_path, ("request: generate", "request: [generate"))
    with pytest.raises(UsageError, match=r"task.yaml:\d+: invalid YAML"):
        load_task("gsm8k", [tasks])


def test_metric_on_an_undefined_pipeline_is_rejected(tmp_path: Path) -> None:
    tasks = copy_gsm8k(tmp_path, ("extraction: [strict-match, flexible-extract]", "extraction: [strict-match, loose]"))
    with pytest.raises(UsageError, match="no extraction pipeline named 'loose'"):
        load_task("gsm8k", [tasks])


def test_user_tasks_dir_overrides_and_adds_tasks(tmp_path: Path) -> None:
    tasks = copy_gsm8k(tmp_path, ("name: gsm8k", "name: my-gsm8k"))
    builtin = [spec.name for spec in list_tasks()]
    names = [spec.name for spec in list_tasks([tasks])]
    assert "gsm8k" in builtin and "my-gsm8k" not in builtin
    assert names == sorted([*builtin, "my-gsm8k"])
    assert load_task("my-gsm8k", [tasks]).directory == tasks / "gsm8k"


def test_variants_and_task_args() -> None:
    assert load_task("gsm8k").fewshot.n == 5
    assert load_task("gsm8k:cot").fewshot.n == 8
    spec, _ = apply_task_args(load_task("gsm8k"), {"num_fewshot": 0, "max_tokens": 64, "format": "chat"})
    assert (spec.fewshot.n, spec.generation.max_tokens, spec.format) == (0, 64, "chat")
    with pytest.raises(UsageError, match="unknown variant 'cto'"):
        load_task("gsm8k:cto")
    with pytest.raises(UsageError, match="unknown task arg.*shots"):
        apply_task_args(load_task("gsm8k"), {"shots": 3})


def test_zero_shot_chat_prompt_is_one_user_message(tmp_path: Path) -> None:
    result = evaluate("gsm8k", "oracle", sample_data=True, task_args="num_fewshot=0,format=chat",
                      run_dir=tmp_path / "run", use_cache=False)
    assert result.metrics["metrics"]["exact_match[strict-match]"]["value"] == 1.0
