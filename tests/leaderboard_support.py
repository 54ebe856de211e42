"""Real runs for leaderboard tests: GSM8K oracle and replay models on the bundled sample data.

Replay files are built from the oracle run's own targets, so a "wrong" answer is wrong by
construction and the expected scores are known without hard-coding any metric value.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping

import pyarrow.parquet as pq

from harness import evaluate

WRONG = "#### 999999"
OLD = "2001-01-01T00:00:00+00:00"


def gsm8k_run(run_dir: Path, model: str) -> Path:
    evaluate("gsm8k", model, sample_data=True, run_dir=run_dir, use_cache=False)
    return run_dir


def targets(run_dir: Path) -> dict[str, str]:
    table = pq.read_table(run_dir / "samples.parquet", columns=["id", "target"])
    return dict(zip(table["id"].to_pylist(), table["target"].to_pylist()))


def write_replay(path: Path, responses: Mapping[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": key, "response": text}) + "\n" for key, text in responses.items()))
    return path


def gsm8k_replay(path: Path, gold: Mapping[str, str], wrong: int, missing: int = 0, extra: str = "") -> Path:
    """The first `wrong` samples answered wrongly, the next `missing` left out (unscored), the rest right."""
    ids = sorted(gold, key=int)
    responses = {key: f"{extra}#### {gold[key]}" for key in ids[wrong + missing:]}
    responses.update({key: WRONG for key in ids[:wrong]})
    return write_replay(path, responses)


def edit_manifest(run_dir: Path, **changes: Any) -> None:
    """Change top-level or task fields (task_version, task_hash) of a finished run's manifest."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key, value in changes.items():
        if key == "task_version":
            manifest["task"]["version"] = value
        elif key == "task_hash":
            manifest["task"]["content_hash"] = value
        else:
            manifest[key] = value
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def copy_run(source: Path, target: Path, **changes: Any) -> Path:
    shutil.copytree(source, target)
    edit_manifest(target, **changes)
    return target


def build_gsm8k_runs(root: Path) -> dict[str, Path]:
    """oracle; replay-a twice (an older run with 5 wrong, the newest with 2); replay-b with 1 wrong and 1
    unscored and an HTML-looking response; plus an old task version, a changed hash and an unfinished run."""
    runs = root / "runs"
    oracle = gsm8k_run(runs / "oracle", "oracle")
    gold = targets(oracle)
    replay_a = root / "replay-a.jsonl"
    gsm8k_replay(replay_a, gold, wrong=5)
    older = gsm8k_run(runs / "replay-a-old", f"replay:{replay_a}")
    edit_manifest(older, finished_at="2000-01-01T00:00:00+00:00")
    gsm8k_replay(replay_a, gold, wrong=2)
    newer = gsm8k_run(runs / "replay-a-new", f"replay:{replay_a}")
    replay_b = gsm8k_replay(root / "replay-b.jsonl", gold, wrong=1, missing=1, extra="<script>alert(1)</script> ")
    return {
        "oracle": oracle, "replay-a-old": older, "replay-a-new": newer,
        "replay-b": gsm8k_run(runs / "replay-b", f"replay:{replay_b}"),
        "old-version": copy_run(oracle, runs / "old-version", task_version="0.9", finished_at=OLD),
        "changed-hash": copy_run(oracle, runs / "changed-hash", task_hash="0" * 64, finished_at=OLD),
        "unfinished": copy_run(oracle, runs / "unfinished", status="running"),
    }
