"""Data lookup: --data file or folder, HARNESS_DATA_DIR, and an error that says what was tried."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import UsageError, evaluate
from harness.tasks import Task, load_task

ROWS = [{"question": f"What is {i} + {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"} for i in range(1, 9)]


def write_split(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_data_folder_supplies_test_and_fewshot_splits(tmp_path: Path) -> None:
    write_split(tmp_path, "test.jsonl", ROWS[:3])
    write_split(tmp_path, "train.jsonl", ROWS[3:])
    samples = Task(load_task("gsm8k"), {}, tmp_path).samples()
    assert [sample.target for sample, _ in samples] == ["2", "4", "6"]
    assert all(len(examples) == 5 for _, examples in samples)


def test_harness_data_dir_maps_hub_ids_to_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_split(tmp_path / "openai" / "gsm8k", "test.jsonl", ROWS[:2])
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    result = evaluate("gsm8k:cot", "oracle", run_dir=tmp_path / "run", use_cache=False)
    assert result.metrics["metrics"]["exact_match[strict-match]"]["n"] == 2


def test_parquet_and_json_files_are_read(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS[:4]), tmp_path / "test.parquet")
    (tmp_path / "x.json").write_text(json.dumps({"data": ROWS[:2]}))
    assert len(Task(load_task("gsm8k:cot"), {}, tmp_path / "test.parquet").samples()) == 4
    assert len(Task(load_task("gsm8k:cot"), {}, tmp_path / "x.json").samples()) == 2


def test_unreachable_dataset_error_lists_what_was_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(UsageError) as error:
        Task(load_task("gsm8k:cot"), {}, None).samples()
    message = str(error.value)
    assert "openai/gsm8k" in message and str(tmp_path / "data" / "openai" / "gsm8k" / "test.jsonl") in message
    assert "--data" in message and "HARNESS_DATA_DIR" in message


def test_missing_data_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        evaluate("gsm8k", "oracle", data=tmp_path / "nope.jsonl", run_dir=tmp_path / "run")


def test_hub_source_goes_through_datasets_with_id_config_and_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def fake_load_dataset(path: str, name: str | None = None, split: str | None = None) -> datasets.Dataset:
        calls.append((path, name, split))
        return datasets.Dataset.from_list(ROWS[:3] if split == "test" else ROWS[3:])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "empty"))
    samples = Task(load_task("gsm8k"), {}, None).samples()
    assert calls == [("openai/gsm8k", "main", "test"), ("openai/gsm8k", "main", "train")]
    assert len(samples) == 3


def test_csv_files_are_read_with_their_header_or_named_columns(tmp_path: Path) -> None:
    from harness.tasks.datasets import read_rows

    (tmp_path / "header.csv").write_text('\ufeffQuestion,Answer\n"Two\nlines, quoted",B\n', encoding="utf-8")
    (tmp_path / "bare.csv").write_text('"Two\nlines, quoted",x,B\n', encoding="utf-8")
    assert read_rows(tmp_path / "header.csv") == [{"Question": "Two\nlines, quoted", "Answer": "B"}]
    assert read_rows(tmp_path / "bare.csv", ["question", "A", "answer"]) == [
        {"question": "Two\nlines, quoted", "A": "x", "answer": "B"}]
    with pytest.raises(UsageError, match=r"bare.csv row 1 has 3 fields but the columns are \['question', 'answer'\]"):
        read_rows(tmp_path / "bare.csv", ["question", "answer"])
