"""Per-group metrics, alias datasets, adapter traces scored per candidate, and assistant prefill."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pyarrow.parquet as pq
import pytest

from harness import UsageError, evaluate
from harness.models.hf import render_prompt
from harness.tasks import load_task
from harness.types import Message, Request, Response

TASK_YAML = """\
name: toy
version: "1"
aliases:
  toy-other:
    dataset: {files: {test: other.jsonl}}
dataset: {split: test, files: {test: main.jsonl}}
target: "{{ answer }}"
groups: {level: "L{{ level }}"}
prompt: question.j2
oracle: "{{ target }}"
extraction: {raw: []}
metrics:
  - {name: exact_match, scorer: exact_match, extraction: [raw]}
"""


def write_toy_task(root: Path) -> Path:
    folder = root / "toy"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(TASK_YAML)
    (folder / "question.j2").write_text("{{ question }}")
    rows = [{"question": f"q{i}", "answer": str(i), "level": i % 2} for i in range(6)]
    (root / "data").mkdir()
    (root / "data" / "main.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (root / "data" / "other.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[:2]))
    return root


def test_groups_get_their_own_metrics(tmp_path: Path) -> None:
    root = write_toy_task(tmp_path)
    result = evaluate("toy", "oracle", tasks_dirs=[root], data=root / "data", run_dir=tmp_path / "run", use_cache=False)
    levels = result.metrics["groups"]["level"]
    assert sorted(levels) == ["L0", "L1"]
    assert [levels[name]["exact_match[raw]"]["n"] for name in ("L0", "L1")] == [3, 3]
    table = pq.read_table(tmp_path / "run" / "samples.parquet", columns=["id", "groups"]).to_pylist()
    assert table[1]["groups"] == [("level", "L1")]


def test_an_alias_can_point_at_another_data_file(tmp_path: Path) -> None:
    root = write_toy_task(tmp_path)
    result = evaluate("toy-other", "oracle", tasks_dirs=[root], data=root / "data", run_dir=tmp_path / "run", use_cache=False)
    assert result.metrics["metrics"]["exact_match[raw]"]["n"] == 2
    assert load_task("toy", [root]).dataset.files == {"test": ("main.jsonl",)}


def test_an_alias_dataset_with_an_unknown_key_names_the_line(tmp_path: Path) -> None:
    root = write_toy_task(tmp_path)
    spec = root / "toy" / "task.yaml"
    spec.write_text(spec.read_text().replace("dataset: {files:", "dataset: {filez:"))
    with pytest.raises(UsageError, match=r"task.yaml:5: key 'filez'"):
        load_task("toy-other", [root])


class TracingModel:
    """Answers with candidate 0 and a trace of three candidates: right, wrong (rejected), wrong (kept)."""

    name = "tracing"
    chunk_size = 8
    cacheable = False

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        responses = []
        for request in requests:
            gold = request.reference or ""
            candidates = [{"text": gold, "rejected": False}, {"text": gold + "9", "rejected": True},
                          {"text": gold + "8", "rejected": False}]
            trace = {"adapter": "test", "candidates": candidates, "chosen": 0, "majority": 2}
            responses.append(Response(text=gold, trace=trace))
        return responses

    def fingerprint(self) -> str:
        return "tracing"


def test_traced_candidates_are_scored_and_the_filter_is_measured(tmp_path: Path) -> None:
    root = write_toy_task(tmp_path)
    result = evaluate("toy", TracingModel(), tasks_dirs=[root], data=root / "data", run_dir=tmp_path / "run",
                      use_cache=False)
    metrics = result.metrics["metrics"]
    assert metrics["exact_match[raw]"]["value"] == 1.0
    assert metrics["exact_match[raw]:majority"]["value"] == 0.0
    assert metrics["exact_match[raw]:any"]["value"] == 1.0
    # Per sample: 2 wrong candidates, 1 rejected (a true positive), 1 kept (a false negative).
    quality = result.metrics["filter"]["exact_match[raw]"]
    assert (quality["precision"], quality["recall"], quality["candidates"]) == (1.0, 0.5, 18)
    rows = pq.read_table(tmp_path / "run" / "samples.parquet", columns=["trace"]).to_pylist()
    trace = json.loads(rows[0]["trace"])
    assert [c["scores"]["exact_match[raw]"] for c in trace["candidates"]] == [1.0, 0.0, 0.0]


def test_a_trailing_assistant_turn_is_continued_not_answered(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    turns = (Message("user", "Solve it."), Message("assistant", "Step 1"))
    request = Request(kind="generate", sample_id="s", messages=turns)
    assert request.continues_assistant
    rendered = render_prompt(tokenizer, request, None, "tiny")
    assert rendered.endswith("<|im_start|>assistant\nStep 1")
    plain = Request(kind="generate", sample_id="s", messages=turns[:1])
    assert render_prompt(tokenizer, plain, None, "tiny").endswith("<|im_start|>assistant\n")


def test_show_lists_group_values_and_the_filter_quality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.report.console import print_metrics

    root = write_toy_task(tmp_path)
    result = evaluate("toy", TracingModel(), tasks_dirs=[root], data=root / "data", run_dir=tmp_path / "run",
                      use_cache=False)
    print_metrics(result.metrics, "toy")
    shown = capsys.readouterr().out
    assert "level=L0" in shown and "level=L1" in shown
    assert "critic as a detector" in shown and "50.00" in shown  # recall 1 of 2 wrong candidates
