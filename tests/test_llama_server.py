"""`openai:` against a real OpenAI-compatible server: llama.cpp's (llama-cpp-python) serving the
SmolLM2 GGUF file, started here as a user starts it. Slow: `-m real`.

What the server does not support is pinned with the server's own answer, so a change on its side
shows up here rather than as a silently different score.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from harness.errors import UsageError
from harness.models.openai import OpenAIModel
from harness.testing.side_by_side import read_run
from harness.types import GenerationSettings, Message, Request
from tests.real_model_support import DATA, SERVED_NAME, free_port, llama_server, real_model_file, require_data

pytestmark = pytest.mark.real
GSM8K = DATA / "gsm8k" / "test.jsonl"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_server(real_model_file(), log) as (base_url, _):
        yield base_url


def ask(prompt: str, **settings) -> Request:
    return Request("generate", "s", prompt=prompt, settings=GenerationSettings(**settings))


def harness_run(base_url: str, run_dir: Path, limit: int, *extra: str, model_args: str = "") -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "harness.cli", "run", "--task", "gsm8k", "--data", str(require_data(GSM8K)),
               "--model", f"openai:{SERVED_NAME},base_url={base_url}{model_args}", "--limit", str(limit),
               "--run-dir", str(run_dir), "--cache-dir", str(run_dir.parent / f"{run_dir.name}-cache"), *extra]
    return subprocess.run(command, capture_output=True, text=True)


def test_gsm8k_end_to_end_through_the_server_and_concurrency_changes_nothing(server: str, tmp_path: Path) -> None:
    parallel = harness_run(server, tmp_path / "parallel", 20, model_args=",concurrency=4")
    assert parallel.returncode == 0, parallel.stderr[-3000:]
    serial = harness_run(server, tmp_path / "serial", 20, model_args=",concurrency=1")
    assert serial.returncode == 0, serial.stderr[-3000:]
    four, one = read_run(tmp_path / "parallel"), read_run(tmp_path / "serial")
    assert len(four.responses) == 20 and sum(bool(text) for text in four.responses.values()) >= 10
    assert four.responses == one.responses  # the server queues concurrent requests; greedy answers stay
    metrics = json.loads((tmp_path / "parallel" / "metrics.json").read_text())["metrics"]
    assert metrics["exact_match[strict-match]"]["n"] == 20 and metrics["exact_match[strict-match]"]["unscored"] == 0


def test_stop_strings_and_max_tokens(server: str) -> None:
    model = OpenAIModel(SERVED_NAME, base_url=server)
    stopped, capped = model.generate([
        ask("Count from one to twenty in words, one per line:\none\ntwo\n", max_tokens=64, stop=("five",)),
        ask("Once upon a time, in a land far away, there lived", max_tokens=7),
    ])
    assert "five" not in stopped.text and "four" in stopped.text and stopped.finish_reason == "stop"
    assert capped.output_tokens == 7 and capped.finish_reason == "length"


def test_seeded_sampling_repeats_and_other_seeds_differ(server: str) -> None:
    model = OpenAIModel(SERVED_NAME, base_url=server)
    prompts = ["Tell me about the sea.", "Name a colour and a fruit.", "Describe your morning."]

    def draw(seed: int) -> list[str]:
        return [r.text for r in model.generate([ask(p, max_tokens=24, temperature=1.0, seed=seed) for p in prompts])]

    first = draw(7)
    assert draw(7) == first
    assert draw(8) != first


def test_loglikelihood_is_refused_because_the_echoed_logprobs_are_one_token_late(server: str) -> None:
    """The server answers echo=True with logprobs, but each token carries the distribution of the
    position after it (" of" tops the entry of " capital"), and the generated token is left out:
    summing them would give a wrong loglikelihood, so `openai:` refuses and names the way out."""
    body = {"model": SERVED_NAME, "prompt": "The capital of France is", "max_tokens": 1, "temperature": 0,
            "echo": True, "logprobs": 3}
    raw = OpenAIModel(SERVED_NAME, base_url=server)._client.completions.create(**body).choices[0].logprobs
    assert raw.tokens[:3] == ["The", " capital", " of"]
    assert max(raw.top_logprobs[1], key=raw.top_logprobs[1].get) == " of"
    assert len(raw.tokens) == 5  # "The capital of France is": the generated token is not there
    with pytest.raises(UsageError, match="one token late|leave out the token it generated") as raised:
        OpenAIModel(SERVED_NAME, base_url=server).generate(
            [Request("loglikelihood", "a", prompt="The capital of France is", candidates=(" Paris",))])
    assert "hf:FILE.gguf" in str(raised.value)


def test_chat_requests_use_the_files_chat_template(server: str) -> None:
    model = OpenAIModel(SERVED_NAME, base_url=server)
    [reply] = model.generate([Request("generate", "c", messages=(Message("user", "What is 2 + 2?"),),
                                      settings=GenerationSettings(max_tokens=32))])
    assert reply.text.strip() and "<|im_start|>" not in reply.text


def test_a_server_that_goes_away_mid_run_is_one_line_and_the_rerun_resumes(tmp_path: Path) -> None:
    """The server is killed once the first chunk is saved; the rerun against a new server finishes
    the run without asking again for what was saved."""
    model_file, run_dir, log, port = real_model_file(), tmp_path / "run", tmp_path / "server.log", free_port()
    args = ",concurrency=1,max_retries=1,backoff=0.1"  # chunks of 4 requests; give up quickly
    with llama_server(model_file, log, port) as (base_url, process):
        run = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", "--task", "gsm8k", "--data", str(require_data(GSM8K)),
             "--model", f"openai:{SERVED_NAME},base_url={base_url}{args}", "--limit", "12", "--run-dir", str(run_dir),
             "--no-cache"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        journal = run_dir / "journal.jsonl"
        deadline = time.monotonic() + 600
        while not (journal.is_file() and journal.read_text().count("\n") >= 4) and time.monotonic() < deadline:
            time.sleep(0.2)
        process.kill()
        _, stderr = run.communicate(timeout=300)
    assert run.returncode == 3, stderr[-3000:]
    [line] = [line for line in stderr.splitlines() if line.startswith("interrupted:")]
    assert base_url in line and "connection failed: " in line and f"--run-dir {run_dir}" in line
    saved = journal.read_text().count("\n")
    assert 4 <= saved < 12
    with llama_server(model_file, log, port) as (base_url, _):  # same address: the same model to resume
        rerun = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", "--task", "gsm8k", "--data", str(GSM8K),
             "--model", f"openai:{SERVED_NAME},base_url={base_url}{args}", "--limit", "12", "--run-dir", str(run_dir),
             "--no-cache"], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["counts"]["resumed_records"] == saved
    assert manifest["counts"]["model_requests"] == 12 - saved
    assert len(read_run(run_dir).responses) == 12


def test_a_prefilled_assistant_turn_is_answered_as_a_new_turn(server: str) -> None:
    """vLLM serve's `continue_final_message` extension (what `openai:` sends for a prefill, as
    Critic-CoT uses) is ignored here without an error: the reply is the one the server gives
    without the extension. Documented in the README; a server that starts honouring it fails this."""
    model = OpenAIModel(SERVED_NAME, base_url=server)
    prefill = Request("generate", "p", messages=(Message("user", "Say hello."), Message("assistant", "Hel")),
                      settings=GenerationSettings(max_tokens=8))
    [continued] = model.generate([prefill])
    plain = model._client.chat.completions.create(
        model=SERVED_NAME, messages=[m.as_openai() for m in prefill.messages], max_tokens=8, temperature=0.0, top_p=1.0)
    assert continued.text == plain.choices[0].message.content
