"""Several tasks in one run (one model load), named suites, resume per task, and lm-eval users' habits."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import pytest
from typer.testing import CliRunner

from harness.api import RunResult
from harness.cli import app
from harness.errors import UsageError
from harness.registry import MODELS
from harness.report.lm_eval_results import lm_eval_key
from harness.runners.local import RunStats
from harness.suite_spec import SuiteSpec, SuiteTask, builtin_suites, load_suite_spec, resolve_tasks
from harness.suites import evaluate_suite, suite_metrics
from harness.types import Request, Response

WRONG = "#### 999999"


class CountingModel:
    """The gold answer for even sample ids and a wrong one for odd ids (`wrong=never`: always gold),
    on any task with an oracle template. Counts how often it is built, and logs every request it is
    asked to $COUNTING_MODEL_LOG."""

    loads = 0
    chunk_size = 4
    cacheable = False

    def __init__(self, name: str = "", wrong: str = "odd") -> None:
        CountingModel.loads += 1
        self.name = name or "counting"
        self.wrong = wrong

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        log = os.environ.get("COUNTING_MODEL_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.writelines(f"{request.sample_id}\n" for request in requests)
        return [Response(text=self._answer(request), finish_reason="stop") for request in requests]

    def _answer(self, request: Request) -> str:
        odd = int(request.sample_id.rsplit("/", 1)[-1]) % 2 == 1
        return WRONG if odd and self.wrong == "odd" else str(request.reference)

    def fingerprint(self) -> str:
        return f"counting-{self.wrong}"


MODELS.register("counting", CountingModel)


@pytest.fixture
def model_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "calls.log"
    monkeypatch.setenv("COUNTING_MODEL_LOG", str(log))
    CountingModel.loads = 0
    return log


def calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def write_suite(folder: Path, text: str) -> Path:
    path = folder / "suite.yaml"
    path.write_text(text)
    return path


TWO_GSM8K = """\
name: two-gsm8k
tasks:
  - task: gsm8k
    num_fewshot: 5
  - task: gsm8k:cot
    metric: "exact_match[flexible-extract]"
aggregate: mean
"""


def test_a_multi_task_run_loads_the_model_once_and_writes_a_run_dir_per_task(tmp_path: Path, model_log: Path) -> None:
    result = evaluate_suite("gsm8k,gsm8k:cot", "counting", sample_data=True, runs_root=tmp_path / "runs",
                            use_cache=False)
    assert CountingModel.loads == 1
    assert result.suite_dir == tmp_path / "runs" / "gsm8k+gsm8k_cot__counting"
    for folder in ("gsm8k", "gsm8k_cot"):
        manifest = json.loads((result.suite_dir / folder / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["model"]["spec"] == "counting"
    assert not (result.suite_dir / "manifest.json").exists(), "a suite folder must not look like a run dir"
    metrics = json.loads((result.suite_dir / "metrics.json").read_text())
    assert list(metrics["tasks"]) == ["gsm8k", "gsm8k:cot"]
    for label, folder in (("gsm8k", "gsm8k"), ("gsm8k:cot", "gsm8k_cot")):
        own = json.loads((result.suite_dir / folder / "metrics.json").read_text())["metrics"]["exact_match[strict-match]"]
        row = metrics["tasks"][label]
        assert row["metric"] == "exact_match[strict-match]" and row["run_dir"] == folder
        assert {key: row[key] for key in ("value", "ci_low", "ci_high", "n")} == {key: own[key] for key in ("value", "ci_low", "ci_high", "n")}
    assert metrics["tasks"]["gsm8k"]["value"] == 0.5 and metrics["tasks"]["gsm8k:cot"]["num_fewshot"] == 8
    assert metrics["aggregate"]["value"] == pytest.approx(0.5) and metrics["aggregate"]["computable"]
    assert metrics["aggregate"]["over"] == ["gsm8k: exact_match[strict-match]", "gsm8k:cot: exact_match[strict-match]"]
    assert calls(model_log) == 20
    merged = json.loads((result.suite_dir / "results.json").read_text())
    assert list(merged["results"]) == ["gsm8k", "gsm8k:cot"] and merged["n-shot"] == {"gsm8k": 5, "gsm8k:cot": 8}
    assert merged["group_subtasks"] == {"gsm8k+gsm8k_cot": ["gsm8k", "gsm8k:cot"]}
    assert merged["results"]["gsm8k:cot"]["alias"] == "gsm8k:cot"


def test_a_suite_file_picks_shots_and_headline_metrics(tmp_path: Path, model_log: Path) -> None:
    suite = load_suite_spec(write_suite(tmp_path, TWO_GSM8K))
    result = evaluate_suite(suite, "counting,wrong=never", sample_data=True, run_dir=tmp_path / "suite", use_cache=False)
    rows = result.metrics["tasks"]
    assert rows["gsm8k:cot"]["metric"] == "exact_match[flexible-extract]" and rows["gsm8k"]["num_fewshot"] == 5
    manifest = json.loads((tmp_path / "suite" / "suite.json").read_text())
    assert manifest["status"] == "complete" and manifest["source"] == str(tmp_path / "suite.yaml")
    assert [task["run_dir"] for task in manifest["tasks"]] == ["gsm8k", "gsm8k_cot"]
    assert manifest["tasks"][0]["args"] == {"num_fewshot": 5}


def test_rerunning_a_suite_resumes_task_by_task(tmp_path: Path, model_log: Path) -> None:
    suite = resolve_tasks("gsm8k,gsm8k:cot")
    assert isinstance(suite, SuiteSpec)
    first = evaluate_suite(suite, "counting", sample_data=True, run_dir=tmp_path / "suite", use_cache=False)
    finished = first.suite_dir / "gsm8k" / "metrics.json"
    stamp = finished.stat().st_mtime_ns
    # The second task as a kill leaves it: journals cut to their first 4 lines, nothing written at the end.
    cut = first.suite_dir / "gsm8k_cot"
    for name in ("journal.jsonl", "responses.jsonl"):
        lines = (cut / name).read_text().splitlines(keepends=True)
        (cut / name).write_text("".join(lines[:4]))
    (cut / "metrics.json").unlink()
    (cut / "samples.parquet").unlink()
    manifest = json.loads((cut / "manifest.json").read_text())
    (cut / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    model_log.unlink()

    again = evaluate_suite(suite, "counting", sample_data=True, run_dir=tmp_path / "suite", use_cache=False)
    assert calls(model_log) == 6, "only the cut task's missing samples are asked again"
    assert finished.stat().st_mtime_ns == stamp, "a finished task is not recomputed"
    assert again.manifest["skipped_finished_tasks"] == ["gsm8k"]
    assert again.metrics["tasks"] == first.metrics["tasks"]
    model_log.unlink()
    evaluate_suite(suite, "counting", sample_data=True, run_dir=tmp_path / "suite", use_cache=False)
    assert calls(model_log) == 0


RUNNER = ("import sys; from harness.registry import MODELS; "
          "MODELS.register('scripted', 'scripted_models:ScriptedGSM8KModel'); "
          "from harness.cli import main; sys.argv[0] = 'harness'; main()")


def suite_command(suite_dir: Path, log: Path, delay: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "SCRIPTED_MODEL_LOG": str(log)}
    command = [sys.executable, "-c", RUNNER, "run", "--task", "gsm8k,gsm8k:cot", "--model",
               f"scripted,delay={delay},chunk_size=2", "--sample", "--run-dir", str(suite_dir), "--no-cache"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_suite_killed_in_its_second_task_resumes_without_redoing_the_first(tmp_path: Path) -> None:
    suite_dir, log = tmp_path / "suite", tmp_path / "calls.log"
    process = suite_command(suite_dir, log, delay=0.3)
    journal = suite_dir / "gsm8k_cot" / "journal.jsonl"
    deadline = time.monotonic() + 60
    while (not journal.exists() or len(journal.read_text().splitlines()) < 2) and time.monotonic() < deadline \
            and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(journal.read_text().splitlines())
    assert 2 <= done < 10, "the kill must land inside the second task"
    finished = suite_dir / "gsm8k" / "metrics.json"
    stamp = finished.stat().st_mtime_ns

    resumed = suite_command(suite_dir, tmp_path / "resumed.log", delay=0.0)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    assert finished.stat().st_mtime_ns == stamp
    assert len((tmp_path / "resumed.log").read_text().split()) <= 10 - done
    reference = suite_command(tmp_path / "reference", tmp_path / "reference.log", delay=0.0)
    assert reference.wait(timeout=120) == 0, reference.stderr.read()
    for name in ("gsm8k", "gsm8k_cot"):
        assert json.loads((suite_dir / name / "metrics.json").read_text()) == \
            json.loads((tmp_path / "reference" / name / "metrics.json").read_text())
    assert json.loads((suite_dir / "metrics.json").read_text()) == json.loads((tmp_path / "reference" / "metrics.json").read_text())


def test_a_suite_folder_of_another_model_is_refused(tmp_path: Path, model_log: Path) -> None:
    suite = resolve_tasks("gsm8k,gsm8k:cot")
    evaluate_suite(suite, "counting", sample_data=True, run_dir=tmp_path / "suite", use_cache=False, limit=2)
    with pytest.raises(UsageError, match="holds suite 'gsm8k\\+gsm8k_cot' with model 'counting'"):
        evaluate_suite(suite, "oracle", sample_data=True, run_dir=tmp_path / "suite", use_cache=False, limit=2)


def fake_run(tmp_path: Path, name: str, value: float | None) -> RunResult:
    metrics = {"task": name, "metrics": {"acc": {"value": value, "n": 0 if value is None else 4, "ci_low": None,
                                                 "ci_high": None, "unscored": 4 if value is None else 0}}}
    return RunResult(tmp_path / name, metrics, {"task": {"name": name, "num_fewshot": 0}}, RunStats())


def test_the_suite_mean_is_not_computable_when_a_headline_is_missing(tmp_path: Path) -> None:
    suite = SuiteSpec("s", (SuiteTask("a", "a"), SuiteTask("b", "b")))
    metrics = suite_metrics(suite, {"a": fake_run(tmp_path, "a", 0.5), "b": fake_run(tmp_path, "b", None)})
    assert metrics["aggregate"]["value"] is None and not metrics["aggregate"]["computable"]
    assert "no headline value for b" in metrics["aggregate"]["reason"]
    assert suite_metrics(suite, {"a": fake_run(tmp_path, "a", 0.5), "b": fake_run(tmp_path, "b", 1.0)})["aggregate"]["value"] == 0.75


@pytest.mark.parametrize(("text", "error"), [
    (TWO_GSM8K.replace("aggregate: mean", "agregate: mean"), r"suite.yaml:7: key 'agregate': unknown key in suite"),
    (TWO_GSM8K.replace("    num_fewshot: 5", "    shots: 5"), r"suite.yaml:4: key 'shots': unknown key in tasks entry"),
    (TWO_GSM8K.replace("task: gsm8k:cot", "task: gsm9k:cot"), r"suite.yaml:5: key 'task': unknown task 'gsm9k'"),
    (TWO_GSM8K.replace("num_fewshot: 5", "num_fewshot: -1"), r"suite.yaml:4: key 'num_fewshot': expected a count"),
    (TWO_GSM8K.replace("gsm8k:cot", "gsm8k"), r"suite.yaml:5: key 'task': label 'gsm8k' is used twice"),
    ("name: x\ntasks: []\n", r"suite.yaml:2: key 'tasks': list at least one task"),
    ("tasks: [{task: gsm8k}]\n", r"suite.yaml: suite is missing required key 'name'"),
])
def test_suite_file_errors_name_the_file_and_line(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(UsageError, match=error):
        load_suite_spec(write_suite(tmp_path, text))


def test_a_headline_the_task_does_not_report_fails_before_the_model_loads(tmp_path: Path, model_log: Path) -> None:
    suite = load_suite_spec(write_suite(tmp_path, TWO_GSM8K.replace("exact_match[flexible-extract]", "acc")))
    with pytest.raises(UsageError, match=r"suite.yaml:5: task 'gsm8k:cot': key 'metric': 'acc' is not a per-sample "
                                         r"metric of gsm8k:cot; known: exact_match\[strict-match\]"):
        evaluate_suite(suite, "counting", sample_data=True, run_dir=tmp_path / "suite")
    assert CountingModel.loads == 0 and not (tmp_path / "suite").exists()


@pytest.mark.parametrize(("value", "error"), [
    ("openllm-v1,gsm8k", r"a suite \(openllm-v1\) runs alone"),
    ("gsm8k,gsm8k", "gsm8k listed twice"),
    ("gsm8k,nope", r"unknown task 'nope' \(nor a suite\); tasks: .*gsm8k.*; suites: .*openllm-v1"),
    ("missing.yaml", "--task missing.yaml: no such suite file"),
])
def test_task_option_errors(value: str, error: str) -> None:
    with pytest.raises(UsageError, match=error):
        resolve_tasks(value)


def test_the_task_option_keeps_one_task_as_before_and_finds_built_in_suites() -> None:
    assert resolve_tasks("gsm8k:cot") == "gsm8k:cot"
    assert resolve_tasks("lm-eval:arc_easy,arc_challenge") == "lm-eval:arc_easy,arc_challenge"
    mixed = resolve_tasks("gsm8k,lm-eval:arc_easy,arc_challenge")
    assert isinstance(mixed, SuiteSpec) and [entry.task for entry in mixed.tasks] == ["gsm8k", "lm-eval:arc_easy,arc_challenge"]
    assert "openllm-v1" in builtin_suites()


def test_the_built_in_openllm_suite_names_its_tasks_shots_and_metrics() -> None:
    path = builtin_suites()["openllm-v1"]
    try:
        suite = load_suite_spec(path)
    except UsageError as error:
        pytest.skip(f"a task of openllm-v1 is not installed yet: {error}")
    from harness.tasks import load_task

    shots = {entry.task: entry.args.get("num_fewshot") for entry in suite.tasks}
    assert shots == {"arc-challenge": 25, "hellaswag": 10, "truthfulqa-mc2": None, "mmlu": 5, "winogrande": 5, "gsm8k": 5}
    for entry in suite.tasks:
        labels = load_task(entry.task).metric_labels()
        assert (entry.metric or labels[0]) in labels


def test_cli_runs_tasks_with_lm_eval_spellings_and_show_prints_the_suite(tmp_path: Path, model_log: Path) -> None:
    runner = CliRunner()
    suite_dir = tmp_path / "suite"
    result = runner.invoke(app, ["run", "--tasks", "gsm8k,gsm8k:cot", "--model", "counting", "--model_args", "wrong=never",
                                 "--sample", "--limit", "4", "--run-dir", str(suite_dir), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "suite dir:" in result.output and CountingModel.loads == 1
    assert json.loads((suite_dir / "suite.json").read_text())["model"]["spec"] == "counting,wrong=never"
    shown = runner.invoke(app, ["show", str(suite_dir)])
    assert shown.exit_code == 0, shown.output
    assert "gsm8k:cot" in shown.output and "mean over 2" in shown.output and "100.00" in shown.output
    single = runner.invoke(app, ["run", "--tasks", "gsm8k", "--model", "oracle", "--sample", "--limit", "2",
                                 "--run-dir", str(tmp_path / "single"), "--no-cache"])
    assert single.exit_code == 0, single.output
    assert (tmp_path / "single" / "results.json").is_file()


def test_a_suites_data_folder_holds_each_tasks_data_folder(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[1] / "tasks" / "gsm8k" / "sample"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "gsm8k").symlink_to(sample)
    run = CliRunner().invoke(app, ["run", "--task", "gsm8k,gsm8k:cot", "--model", "oracle", "--data",
                                   str(tmp_path / "data"), "--run-dir", str(tmp_path / "suite"), "--no-cache"])
    assert run.exit_code == 0, run.output
    manifest = json.loads((tmp_path / "suite" / "gsm8k" / "manifest.json").read_text())
    assert manifest["settings"]["data"] == str(sample.resolve())  # the folder named gsm8k (a link here)
    missing = CliRunner().invoke(app, ["run", "--task", "gsm8k,math", "--model", "oracle", "--data", str(tmp_path / "data")])
    assert missing.exit_code == 2
    assert "holds no folder for task 'math'" in missing.output
    one_file = CliRunner().invoke(app, ["run", "--task", "gsm8k,gsm8k:cot", "--model", "oracle", "--data",
                                        str(sample / "test.jsonl")])
    assert one_file.exit_code == 2 and "not one file" in one_file.output


@pytest.mark.parametrize(("model", "model_args", "hint"), [
    ("hf", "pretrained=X,dtype=float32", "--model hf:X,dtype=float32"),
    ("vllm", "pretrained=org/m,tensor_parallel_size=2", "--model vllm:org/m,tensor_parallel_size=2"),
    ("local-completions", "model=gpt,base_url=http://h/v1", "--model openai:gpt,base_url=http://h/v1"),
])
def test_lm_eval_model_spelling_gets_the_harness_spelling(model: str, model_args: str, hint: str) -> None:
    result = CliRunner().invoke(app, ["run", "--task", "gsm8k", "--model", model, "--model_args", model_args, "--sample"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"harness names the model in the spec: {hint}"), result.output
    assert lines[0].startswith(f"error: --model {model} --model-args {model_args}: ")


def test_results_json_has_lm_eval_shape(tmp_path: Path, model_log: Path) -> None:
    from lm_eval.api.metrics import mean_stderr

    from harness import evaluate

    result = evaluate("gsm8k", "counting", sample_data=True, run_dir=tmp_path / "run", use_cache=False)
    document = json.loads((tmp_path / "run" / "results.json").read_text())
    entry = document["results"]["gsm8k"]
    assert entry["alias"] == "gsm8k" and entry["sample_len"] == 10
    assert entry["exact_match,strict-match"] == result.metrics["metrics"]["exact_match[strict-match]"]["value"] == 0.5
    assert entry["exact_match_stderr,strict-match"] == pytest.approx(mean_stderr([1.0, 0.0] * 5))
    assert {"exact_match,flexible-extract", "exact_match,math-verify"} <= set(entry)
    assert document["n-shot"] == {"gsm8k": 5} and document["versions"] == {"gsm8k": "1.0"}
    assert document["n-samples"] == {"gsm8k": {"original": 10, "effective": 10}}
    assert document["higher_is_better"] == {"gsm8k": {"exact_match": True}}
    assert document["config"]["model"] == "counting" and document["config"]["random_seed"] == 0
    assert document["configs"]["gsm8k"]["num_fewshot"] == 5


def test_metric_labels_map_to_lm_eval_keys() -> None:
    assert lm_eval_key("exact_match[strict-match]") == ("exact_match", "strict-match")
    assert lm_eval_key("acc_norm") == ("acc_norm", "none")
    assert lm_eval_key("exact_match[boxed]:majority") == ("exact_match:majority", "boxed")


def test_a_headline_can_weigh_every_subset_once(tmp_path: Path, model_log: Path) -> None:
    tasks = write_grouped_task(tmp_path)
    text = "name: s\ntasks:\n  - {task: toy, label: pooled}\n  - {task: toy, label: subjects, aggregate: subset_mean}\n"
    result = evaluate_suite(load_suite_spec(write_suite(tmp_path, text), [tasks]), "counting", sample_data=True,
                            tasks_dirs=[tasks], run_dir=tmp_path / "suite", use_cache=False)
    rows = result.metrics["tasks"]
    assert rows["pooled"]["value"] == pytest.approx(5 / 9) and rows["pooled"]["n"] == 9
    assert rows["subjects"]["value"] == pytest.approx((3 / 6 + 2 / 3) / 2) and rows["subjects"]["n"] == 9
    assert rows["subjects"]["ci_low"] < rows["subjects"]["value"] < rows["subjects"]["ci_high"]
    assert result.metrics["aggregate"]["value"] == pytest.approx((5 / 9 + 7 / 12) / 2)
    merged = json.loads((tmp_path / "suite" / "results.json").read_text())
    assert list(merged["results"]) == ["pooled", "pooled_a", "pooled_b", "subjects", "subjects_a", "subjects_b"]
    assert merged["group_subtasks"] == {"s": ["pooled", "subjects"], "pooled": ["pooled_a", "pooled_b"],
                                        "subjects": ["subjects_a", "subjects_b"]}


def test_results_json_lists_subsets_as_lm_eval_subtasks(tmp_path: Path, model_log: Path) -> None:
    from harness import evaluate
    from harness.report.lm_eval_results import standard_error

    root = write_grouped_task(tmp_path)
    evaluate("toy", "counting", tasks_dirs=[root], sample_data=True, run_dir=tmp_path / "run", use_cache=False)
    document = json.loads((tmp_path / "run" / "results.json").read_text())
    assert document["group_subtasks"] == {"toy": ["toy_a", "toy_b"]}
    assert document["results"]["toy_a"]["alias"] == " - a" and document["groups"]["toy"]["alias"] == "toy"
    assert standard_error([1.0]) == "N/A" and math.isclose(standard_error([0.0, 1.0]), 0.5)


TOY_TASK = """\
name: toy
version: "1"
dataset: {split: test, files: {test: "{subset}.jsonl"}, subsets: [a, b]}
target: "{{ answer }}"
groups: {level: "L{{ level }}"}
prompt: question.j2
oracle: "{{ target }}"
extraction: {raw: []}
metrics:
  - {name: exact_match, scorer: exact_match, extraction: [raw]}
aggregate: python:summarise
"""
TOY_SCORER = """\
def summarise(records, metrics, seed):
    return {"headline": {"official": 0.25, "unmeasured": None}}
"""


def write_grouped_task(root: Path) -> Path:
    """A task with two subsets (6 and 3 questions), a `level` group, bundled sample data and an official `headline`."""
    folder = root / "tasks" / "toy"
    (folder / "sample").mkdir(parents=True)
    (folder / "task.yaml").write_text(TOY_TASK)
    (folder / "question.j2").write_text("{{ question }}")
    (folder / "scorer.py").write_text(TOY_SCORER)
    for subset, size in (("a", 6), ("b", 3)):
        rows = [{"question": f"q{i}", "answer": str(i), "level": i % 3} for i in range(size)]
        (folder / "sample" / f"{subset}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root / "tasks"
