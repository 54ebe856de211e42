"""A real pretrained model (SmolLM2-135M-Instruct, GGUF) through `hf:`, side by side with lm-eval.

Random weights never stop early and never hit a stop string; a real model does both, so only here
do stop handling, EOS handling and chat templates meet the outputs they were written for. Each
test runs both tools as a user runs them (`harness run`, `lm_eval`) on the same file and compares
what they wrote. Slow (minutes each): `-m real`, run by .ci/run after the default suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.testing.side_by_side import GGUFModel, differences, read_run, run_harness, run_lmeval
from tests.real_model_support import DATA, real_model_file, require_data

pytestmark = pytest.mark.real
GSM8K = DATA / "gsm8k"
BATCH = 8


@pytest.fixture(scope="module")
def model() -> GGUFModel:
    require_data(GSM8K / "test.jsonl")
    return GGUFModel(real_model_file())


def test_gsm8k_5shot_greedy_equals_lm_eval_on_50_questions(model: GGUFModel, tmp_path: Path) -> None:
    ours = run_harness(tmp_path, model.harness_spec(f",batch_size={BATCH}"), GSM8K / "test.jsonl", limit=50)
    theirs = run_lmeval(tmp_path, model.lmeval_args(), GSM8K, limit=50, batch_size=BATCH, max_tokens=256)
    assert len(theirs.responses) == 50
    assert differences(ours, theirs) == []
    # A real model: it stops on its own (the few-shot "Question:" stop) well before 256 tokens.
    assert sum(len(text) < 400 for text in ours.responses.values()) >= 10


@pytest.mark.parametrize(("chat", "harness_model_args", "task_args"), [
    ("multiturn", "", "format=chat"),          # lm-eval --apply_chat_template (multiturn by default)
    ("single", ",chat_template=true", ""),     # ... --fewshot_as_multiturn false
])
def test_gsm8k_with_the_models_chat_template_equals_lm_eval(
    model: GGUFModel, tmp_path: Path, chat: str, harness_model_args: str, task_args: str
) -> None:
    spec = model.harness_spec(f",batch_size={BATCH}{harness_model_args}")
    ours = run_harness(tmp_path, spec, GSM8K / "test.jsonl", limit=20, task_args=task_args)
    theirs = run_lmeval(tmp_path, model.lmeval_args(), GSM8K, limit=20, batch_size=BATCH, max_tokens=256, chat=chat)
    assert all("<|im_start|>assistant\n" in prompt for prompt in theirs.prompts.values())
    assert differences(ours, theirs) == []


def test_math500_chat_completes_and_every_checker_scores_it(model: GGUFModel, tmp_path: Path) -> None:
    """No accuracy is expected of a 135M model; every response must be scored by all four checkers.
    512 new tokens rather than the task's 2,048 keep the test to minutes (small models ramble)."""
    data = require_data(DATA / "math" / "math500_test.jsonl")
    run_harness(tmp_path, model.harness_spec(f",batch_size={BATCH}"), data, limit=20, task="math-500",
                task_args="max_tokens=512")
    run = read_run(tmp_path / "harness")
    metrics = json.loads((tmp_path / "harness" / "metrics.json").read_text())["metrics"]
    assert len(run.responses) == 20 and all(run.responses.values())
    for checker in ("hendrycks[boxed]", "minerva[boxed]", "prm800k[boxed]", "math-verify[response]"):
        assert metrics[checker]["n"] == 20 and metrics[checker]["unscored"] == 0, checker
        assert metrics[checker]["value"] is not None
