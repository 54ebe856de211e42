"""Reward tasks: the `reward:` block, the requests it builds, and the errors a malformed one gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import UsageError, evaluate
from harness.assets import asset_dir
from harness.store.cache import ResponseCache
from harness.tasks import load_task
from harness.tasks.reward import candidates, conversation
from harness.tasks.spec import RewardSpec
from harness.types import Message, Request, Response
from rewardbench_fixtures import write_v1

SPEC = RewardSpec(conversation="prompt", candidates=("chosen", "rejected"))


def edited_rewardbench(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "tasks" / "rewardbench"
    shutil.copytree(asset_dir("tasks") / "rewardbench", folder)
    spec = folder / "task.yaml"
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, new, 1))
    return folder.parent


def test_a_multi_turn_prompt_alternates_roles_by_position_as_rewardbench_does() -> None:
    row = {"prompt": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"content": "c"}],
           "chosen": "x", "rejected": "y"}
    assert conversation(SPEC, row, "s") == (Message("user", "a"), Message("assistant", "b"), Message("user", "c"))
    assert conversation(SPEC, {"prompt": "hi"}, "s") == (Message("user", "hi"),)
    with pytest.raises(UsageError, match="ends with the assistant's"):
        conversation(SPEC, {"prompt": ["a", "b"]}, "s")


def test_list_fields_contribute_every_candidate_in_order() -> None:
    row = {"chosen": ["c1", "c2"], "rejected": ["r1", "r2", "r3"]}
    assert candidates(SPEC, row, "s") == ("c1", "c2", "r1", "r2", "r3")
    with pytest.raises(UsageError, match="has no field 'rejected'"):
        candidates(SPEC, {"chosen": "c"}, "s")
    with pytest.raises(UsageError, match="at least two candidates"):
        candidates(RewardSpec("prompt", ("chosen",)), {"chosen": "c"}, "s")


def test_candidates_are_part_of_the_cache_key_and_of_the_logged_prompt() -> None:
    base = dict(kind="reward", sample_id="s", messages=(Message("user", "q"),))
    first, second = Request(**base, candidates=("a", "b")), Request(**base, candidates=("a", "c"))
    assert first.content_hash() != second.content_hash()
    assert "<candidate 1>\nb" in first.prompt_text()
    with pytest.raises(ValueError, match="only they"):
        Request(kind="generate", sample_id="s", prompt="p", candidates=("a",))


def test_candidate_scores_survive_the_cache_and_the_journal(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    cache.put_many("fp", [("k", Response(scores=(1.5, -2.0)))])
    assert cache.get_many("fp", ["k"])["k"].scores == (1.5, -2.0)
    write_v1(tmp_path / "data")
    run = evaluate("rewardbench", "oracle", data=tmp_path / "data", run_dir=tmp_path / "run", use_cache=False)
    journal = [json.loads(line) for line in (run.run_dir / "journal.jsonl").read_text().splitlines()]
    assert {tuple(row["reward_scores"]) for row in journal} == {(1.0, 0.0)}
    again = evaluate("rewardbench", "oracle", data=tmp_path / "data", run_dir=tmp_path / "run", use_cache=False)
    assert again.stats.resumed_records == 12 and again.metrics["summary"]["overall"] == 1.0


@pytest.mark.parametrize("old, new, message", [
    ("request: reward\n", "request: generate\n", "a `request: reward` task needs a `reward:` mapping"),
    ("  conversation: prompt\n", "  conversaton: prompt\n", "unknown key in reward"),
    ("{name: accuracy, scorer: reward_accuracy,", "{name: accuracy, scorer: reward_accuracy, extraction: [x],",
     "drop extraction"),
])
def test_malformed_reward_blocks_fail_at_load_time(tmp_path: Path, old: str, new: str, message: str) -> None:
    tasks = edited_rewardbench(tmp_path, old, new)
    with pytest.raises(UsageError, match=message):
        load_task("rewardbench", [tasks])


def test_a_generation_model_on_a_reward_task_says_which_models_answer_it(tmp_path: Path, tiny_model_dir: Path) -> None:
    write_v1(tmp_path / "data")
    with pytest.raises(UsageError, match="cannot answer 'reward' requests"):
        evaluate("rewardbench", f"hf:{tiny_model_dir}", data=tmp_path / "data", runs_root=tmp_path, use_cache=False)
