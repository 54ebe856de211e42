"""lm-eval both ways: its tasks on harness backends report lm-eval's own numbers, and any harness
model spec (adapters included) runs inside lm-eval.

Every comparison runs lm-eval itself (`lm_eval.simple_evaluate`) on the same local data: GSM8K
(generate_until, filters), ARC-Easy (multiple choice) and a two-subject MMLU group whose
aggregation is not weighted by size (so lm-eval's group formula, not a pooled mean, is checked).
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import pytest
import yaml

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")

from harness.api import evaluate  # noqa: E402
from harness.errors import UsageError  # noqa: E402
from harness.lmeval import prepare_lmeval_task, register  # noqa: E402
from harness.lmeval.loading import task_manager  # noqa: E402
from harness.registry import MODELS  # noqa: E402
from harness.testing.lmeval_tasks import ARC_SPLITS, arc_hub_rows, mmlu_hub_rows  # noqa: E402
from harness.types import Request, Response  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LMEVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"
GROUP = "mmlu_local_pair"
SUBJECTS = {"anatomy": 3, "astronomy": 6}  # test rows kept: the group's subtasks differ in size
pytestmark = pytest.mark.skipif(not (DATA / "gsm8k" / "test.jsonl").is_file(), reason=f"shared data not found at {DATA}")


def _digest(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


class ContentScripted:
    """Answers from the request's content only, so both directions see the same answers: a
    choice's log-probability is a hash of its full context and text; a GSM8K question is answered
    right (read from the data file) when its prompt hashes low, wrong otherwise."""

    cacheable = True
    chunk_size = 8

    def __init__(self, name: str = "") -> None:
        self.name = name or "lmeval-scripted"
        rows = [json.loads(line) for line in (DATA / "gsm8k" / "test.jsonl").read_text().splitlines()]
        self.gold = {row["question"]: row["answer"].split("#### ")[-1] for row in rows}

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: Request) -> Response:
        if request.kind == "loglikelihood":
            contexts = request.contexts or ("",) * len(request.candidates or ())
            heat = [_digest(f"{request.prompt}{context}{candidate}")
                    for context, candidate in zip(contexts, request.candidates or ())]
            return Response(scores=tuple(-1.0 - 5 * value for value in heat), greedy=tuple(v < 0.3 for v in heat))
        question = (request.prompt or "").rsplit("Question: ", 1)[-1].removesuffix("\nAnswer:")
        answer = self.gold.get(question, "0") if _digest(request.prompt or "") < 0.5 else "12345"
        return Response(text=f" Let me think.\n#### {answer}\n\n", finish_reason="stop")

    def fingerprint(self) -> str:
        return "lmeval-scripted-v1"


MODELS.register("lmeval-scripted", ContentScripted)


# --- local copies of lm-eval's tasks -----------------------------------------------------------

def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def _mmlu_rows(subject: str, split: str) -> list[dict[str, Any]]:
    return mmlu_hub_rows(DATA / "mmlu" / "data" / split / f"{subject}_{split}.csv", subject)


def _yaml(folder: Path, name: str, config: dict[str, Any]) -> None:
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _local(task: str, include: Path, files: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"task": task, "include": str(include), "dataset_path": "json", "dataset_name": None,
            "dataset_kwargs": {"data_files": files}, **extra}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lmeval-tasks")
    gsm8k = DATA / "gsm8k"
    _yaml(folder, "gsm8k_local", _local("gsm8k_local", LMEVAL_TASKS / "gsm8k" / "gsm8k.yaml",
                                        {"train": str(gsm8k / "train.jsonl"), "test": str(gsm8k / "test.jsonl")}))
    arc = {split: _write_jsonl(folder / f"arc_{split}.jsonl",
                               arc_hub_rows(DATA / "arc" / "ARC-Easy" / f"ARC-Easy-{suffix}.jsonl")[:20])
           for split, suffix in ARC_SPLITS.items()}
    _yaml(folder, "arc_easy_local", _local("arc_easy_local", LMEVAL_TASKS / "arc" / "arc_easy.yaml", arc, tag=[]))
    for subject, count in SUBJECTS.items():
        files = {split: _write_jsonl(folder / f"{subject}_{split}.jsonl", _mmlu_rows(subject, split)[:rows])
                 for split, rows in (("test", count), ("dev", 5))}
        _yaml(folder, f"mmlu_local_{subject}", _local(
            f"mmlu_local_{subject}", LMEVAL_TASKS / "mmlu" / "default" / "_default_template_yaml", files,
            description=f"The following are multiple choice questions (with answers) about {subject}.\n\n"))
    winogrande = DATA / "winogrande" / "winogrande_1.1"
    _yaml(folder, "winogrande_local", _local(
        "winogrande_local", LMEVAL_TASKS / "winogrande" / "default.yaml",
        {"train": str(winogrande / "train_s.jsonl"), "validation": str(winogrande / "dev.jsonl")}))
    _yaml(folder, GROUP, {"group": GROUP, "task": [f"mmlu_local_{subject}" for subject in SUBJECTS],
                          "aggregate_metric_list": [{"metric": "acc", "weight_by_size": False}],
                          "metadata": {"version": 1}})
    return folder


def run_lm_eval(task_dir: Path, tasks: list[str], model: str, model_args: str, limit: int, **options: Any) -> dict:
    """lm-eval itself, with its per-sample log."""
    from lm_eval import simple_evaluate

    register()
    return simple_evaluate(model=model, model_args=model_args, tasks=tasks, limit=limit, log_samples=True,
                           task_manager=task_manager((str(task_dir.resolve()),)), **options)


def run_harness(task_dir: Path, tmp_path: Path, tasks: list[str], model: str, limit: int,
                task_args: dict[str, Any] | None = None) -> Any:
    return evaluate(f"lm-eval:{','.join(tasks)}", model, task_args=task_args or {}, limit=limit,
                    tasks_dirs=[task_dir], run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")


def numbers(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every task's and group's reported numbers (`metric,filter` keys), stderr included."""
    merged = {**results["results"], **results.get("groups", {})}
    return {name: {key: value for key, value in entry.items() if "," in key} for name, entry in merged.items()}


def assert_same_numbers(ours: dict[str, Any], theirs: dict[str, Any], tolerance: float = 0.0) -> None:
    mine, expected = numbers(ours), numbers(theirs)
    assert mine.keys() == expected.keys()
    for name, entry in expected.items():
        assert mine[name].keys() == entry.keys(), name
        for key, value in entry.items():
            if isinstance(value, float):
                assert mine[name][key] == pytest.approx(value, abs=tolerance), (name, key)
            else:
                assert mine[name][key] == value, (name, key)


def per_document(samples: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """lm-eval's logged per-document metric values as our record labels, by sample id."""
    found: dict[str, dict[str, float]] = {}
    for task, rows in samples.items():
        for row in rows:
            scores = found.setdefault(f"{task}/{row['doc_id']}", {})
            scores.update({f"{metric}[{row['filter']}]": float(row[metric]) for metric in row["metrics"]})
    return found


def records(run_dir: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows = pq.read_table(run_dir / "samples.parquet").to_pylist()
    for row in rows:
        row["scores"] = dict(row["scores"]) if not isinstance(row["scores"], dict) else row["scores"]
    return rows


# --- lm-eval's tasks on harness backends ------------------------------------------------------

CASES = [(["gsm8k_local"], 4, {}), (["arc_easy_local"], 6, {}), ([GROUP], 5, {"num_fewshot": 1}),
         (["winogrande_local"], 6, {"num_fewshot": 2})]


@pytest.mark.parametrize(("tasks", "limit", "task_args"), CASES, ids=["gsm8k", "arc_easy", "mmlu_group", "winogrande"])
def test_scripted_model_gives_lm_eval_numbers_both_ways(task_dir: Path, tmp_path: Path, tasks: list[str],
                                                         limit: int, task_args: dict[str, Any]) -> None:
    """The same answers, judged by the bridge (`--task lm-eval:...`) and by lm-eval's evaluator
    (`--model harness`), give the same per-document scores and the same task and group numbers."""
    ours = run_harness(task_dir, tmp_path, tasks, "lmeval-scripted", limit, task_args)
    theirs = run_lm_eval(task_dir, tasks, "harness", "spec=lmeval-scripted", limit, **task_args)
    assert_same_numbers(ours.metrics["summary"]["lm_eval"], theirs)
    expected = per_document(theirs["samples"])
    assert {row["id"]: row["scores"] for row in records(ours.run_dir)} == expected
    assert len(expected) == (limit if tasks != [GROUP] else 3 + limit)


def test_group_reports_lm_eval_unweighted_mean_not_the_pooled_one(task_dir: Path, tmp_path: Path) -> None:
    ours = run_harness(task_dir, tmp_path, [GROUP], "lmeval-scripted", 5)
    results = ours.metrics["summary"]["lm_eval"]["results"]
    subtasks = [results[f"mmlu_local_{subject}"]["acc,none"] for subject in SUBJECTS]
    assert results[GROUP]["acc,none"] == pytest.approx(sum(subtasks) / 2)
    assert ours.metrics["metrics"]["acc[none]"]["n"] == 8  # our table pools the 3 + 5 documents
    assert ours.metrics["summary"]["headline"][f"{GROUP} acc,none"] == results[GROUP]["acc,none"]


def test_oracle_scores_every_document_right(task_dir: Path, tmp_path: Path) -> None:
    """The oracle backend gets lm-eval's gold answers: the gold choice's index, GSM8K's solution."""
    metrics = run_harness(task_dir, tmp_path, ["arc_easy_local", "gsm8k_local"], "oracle", 4).metrics
    results = metrics["summary"]["lm_eval"]["results"]
    assert results["arc_easy_local"]["acc,none"] == 1.0
    assert results["gsm8k_local"]["exact_match,strict-match"] == 1.0
    assert metrics["subsets"]["gsm8k_local"]["exact_match[strict-match]"]["value"] == 1.0


def test_a_resumed_run_answers_nothing_again_and_reports_the_same(task_dir: Path, tmp_path: Path) -> None:
    first = run_harness(task_dir, tmp_path, ["gsm8k_local"], "lmeval-scripted", 3)
    again = run_harness(task_dir, tmp_path, ["gsm8k_local"], "lmeval-scripted", 3)
    assert again.stats.resumed_records == 3 and again.stats.model_requests == 0
    assert again.metrics["summary"] == first.metrics["summary"]
    assert again.manifest["run_key"] == first.manifest["run_key"]


def test_rescoring_a_run_reports_the_same_without_a_model(task_dir: Path, tmp_path: Path) -> None:
    from harness.rescoring import rescore

    first = run_harness(task_dir, tmp_path, ["arc_easy_local", "gsm8k_local"], "lmeval-scripted", 3)
    again = rescore(first.run_dir, out=tmp_path / "rescored", tasks_dirs=[task_dir], cache_dir=tmp_path / "cache")
    assert again.metrics["summary"]["lm_eval"]["results"] == first.metrics["summary"]["lm_eval"]["results"]


def test_a_changed_prompt_changes_the_run_key(task_dir: Path, tmp_path: Path) -> None:
    base = prepare_lmeval_task("lm-eval:arc_easy_local", {}, limit=1, tasks_dirs=[task_dir])
    shots = prepare_lmeval_task("lm-eval:arc_easy_local", {"num_fewshot": 2}, limit=1, tasks_dirs=[task_dir])
    same = prepare_lmeval_task("lm-eval:arc_easy_local", {}, limit=1, tasks_dirs=[task_dir])
    assert base.spec.content_hash() == same.spec.content_hash() != shots.spec.content_hash()
    assert base.plan[0][1].prompt != shots.plan[0][1].prompt and shots.plan[0][1].prompt.count("Question:") == 3


@pytest.mark.parametrize(("task", "args", "options", "message"), [
    ("lm-eval:no_such_task", {}, {}, "knows no task"),
    ("lm-eval:arc_easy_local", {"shots": 3}, {}, "unknown task arg"),
    ("lm-eval:", {}, {}, "task name missing"),
    ("lm-eval:arc_easy_local", {}, {"data": "arc.jsonl"}, "reads the data its YAML names"),
])
def test_bad_input_names_itself(task_dir: Path, task: str, args: dict[str, Any], options: dict[str, Any],
                                message: str) -> None:
    with pytest.raises(UsageError, match=message):
        prepare_lmeval_task(task, args, limit=1, tasks_dirs=[task_dir], **options)


def test_rolling_loglikelihood_is_refused_both_ways(task_dir: Path, tmp_path: Path) -> None:
    gsm8k = DATA / "gsm8k"
    folder = tmp_path / "rolling"
    folder.mkdir()
    _yaml(folder, "gsm8k_rolling", {"task": "gsm8k_rolling", "dataset_path": "json",
                                    "dataset_kwargs": {"data_files": {"test": str(gsm8k / "test.jsonl")}},
                                    "test_split": "test", "output_type": "loglikelihood_rolling",
                                    "doc_to_text": "", "doc_to_target": "{{question}}"})
    with pytest.raises(UsageError, match="loglikelihood_rolling"):
        prepare_lmeval_task("lm-eval:gsm8k_rolling", {}, limit=1, tasks_dirs=[folder])
    from harness.lmeval.model import HarnessLM

    with pytest.raises(UsageError, match="loglikelihood_rolling"):
        HarnessLM(spec="lmeval-scripted").loglikelihood_rolling([])


# --- a real (tiny) checkpoint: the bridge against lm-eval's own HF backend -----------------------

@pytest.mark.parametrize(("tasks", "limit", "task_args"), [
    (["gsm8k_local"], 3, {"max_gen_toks": 12}), (["arc_easy_local"], 4, {}), (["winogrande_local"], 4, {}),
], ids=["gsm8k", "arc_easy", "winogrande"])
def test_tiny_hf_model_equals_lm_eval_hf_both_ways(tiny_model_dir: Path, task_dir: Path, tmp_path: Path,
                                                    tasks: list[str], limit: int, task_args: dict[str, Any]) -> None:
    """lm-eval's `--model hf` on a checkpoint, `harness run --task lm-eval:...` with `hf:` on it,
    and lm-eval with `--model harness` (spec hf:) report the same numbers and answers."""
    gen = {"gen_kwargs": f"max_gen_toks={task_args['max_gen_toks']}"} if task_args else {}
    theirs = run_lm_eval(task_dir, tasks, "hf", f"pretrained={tiny_model_dir},dtype=float32", limit,
                         device="cpu", batch_size=2, **gen)
    spec = f"hf:{tiny_model_dir},dtype=float32,batch_size=2"
    ours = run_harness(task_dir, tmp_path, tasks, spec, limit, task_args)
    through = run_lm_eval(task_dir, tasks, "harness", f"spec={spec}", limit, **gen)
    assert_same_numbers(ours.metrics["summary"]["lm_eval"], theirs, tolerance=1e-6)
    assert_same_numbers(through, theirs, tolerance=1e-6)
    rows = {row["id"]: row for row in records(ours.run_dir)}
    for sample in theirs["samples"][tasks[0]]:
        row = rows[f"{tasks[0]}/{sample['doc_id']}"]
        if "gsm8k" in tasks[0]:
            assert row["response"] == sample["resps"][0][0]
        else:
            expected = [resp[0][0] for resp in sample["resps"]]
            assert all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(row["choice_logprobs"], expected))


@pytest.mark.real
@pytest.mark.parametrize(("tasks", "limit", "options"), [
    (["gsm8k_local"], 4, {"max_gen_toks": 128}), (["arc_easy_local"], 10, {}), ([GROUP], 5, {"num_fewshot": 2}),
], ids=["gsm8k", "arc_easy", "mmlu_group"])
def test_real_model_equals_lm_eval_hf_both_ways(task_dir: Path, tmp_path: Path, tasks: list[str], limit: int,
                                                 options: dict[str, Any]) -> None:
    """The same check on SmolLM2 (GGUF): a real model stops early and prefers some choices."""
    from harness.testing.side_by_side import GGUFModel
    from tests.real_model_support import real_model_file

    model = GGUFModel(real_model_file())
    generation = {"gen_kwargs": f"max_gen_toks={options['max_gen_toks']}"} if "max_gen_toks" in options else {}
    shots = {"num_fewshot": options["num_fewshot"]} if "num_fewshot" in options else {}
    theirs = run_lm_eval(task_dir, tasks, "hf", model.lmeval_args(), limit, device="cpu", batch_size=4,
                         **generation, **shots)
    ours = run_harness(task_dir, tmp_path, tasks, model.harness_spec(",batch_size=4"), limit, options)
    through = run_lm_eval(task_dir, tasks, "harness", f"spec={model.harness_spec(',batch_size=4')}", limit,
                          **generation, **shots)
    assert_same_numbers(ours.metrics["summary"]["lm_eval"], theirs, tolerance=1e-6)
    assert_same_numbers(through, theirs, tolerance=1e-6)


# --- harness models inside lm-eval ---------------------------------------------------------------

CRITIC_PROBLEMS = [{"question": "What is 2+2?", "answer": "4"}, {"question": "What is 2+3?", "answer": "5"}]


def test_an_adapter_spec_runs_inside_lm_eval_as_under_the_harness(task_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """critic-cot (scripted solver and critic) on an lm-eval task written in its solve format."""
    from harness.adapters.critic_cot_steps import SOLVE_TEMPLATE
    from test_critic_cot import FakeCritic, FakeSolver  # noqa: F401  (registers fake-solver, fake-critic)

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "inner-cache"))
    folder = tmp_path / "critic"
    folder.mkdir()
    data = _write_jsonl(folder / "problems.jsonl", CRITIC_PROBLEMS)
    _yaml(folder, "critic_local", {
        "task": "critic_local", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": data}},
        "test_split": "test", "output_type": "generate_until", "doc_to_target": "{{answer}}",
        "doc_to_text": SOLVE_TEMPLATE.replace("{problem}", "{{question}}"),
        "generation_kwargs": {"until": [], "do_sample": False, "max_gen_toks": 64},
        "filter_list": [{"name": "boxed", "filter": [{"function": "regex", "regex_pattern": r"\\boxed\{(.*?)\}"},
                                                      {"function": "take_first"}]}],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]})
    spec = "critic-cot:fake-solver,critic=fake-critic,cache=false,n=2"
    theirs = run_lm_eval(folder, ["critic_local"], "harness", f"spec={spec}", 2)
    ours = run_harness(folder, tmp_path, ["critic_local"], spec, 2)
    assert theirs["results"]["critic_local"]["exact_match,boxed"] == 0.5  # the fake solver always boxes 4
    assert_same_numbers(ours.metrics["summary"]["lm_eval"], theirs)


def test_python_m_harness_lmeval_runs_lm_eval_cli_with_a_harness_model(tiny_model_dir: Path, task_dir: Path,
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "harness.lmeval", "--model", "harness",
               "--model_args", f"spec=hf:{tiny_model_dir},dtype=float32", "--tasks", "arc_easy_local",
               "--include_path", str(task_dir), "--limit", "2", "--output_path", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**_offline_env(), "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    assert results["results"]["arc_easy_local"]["acc,none"] in (0.0, 0.5, 1.0)
    # lm-eval's CLI passes its --batch_size (default 1) on to a backend that takes one.
    assert results["config"]["harness_spec"] == f"hf:{tiny_model_dir},batch_size=1,dtype=float32"


def test_lm_eval_cli_reports_a_harness_usage_error_with_exit_code_2(task_dir: Path) -> None:
    command = [sys.executable, "-m", "harness.lmeval", "--model", "harness", "--model_args", "dtype=float32",
               "--tasks", "arc_easy_local", "--include_path", str(task_dir), "--limit", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_offline_env())
    assert done.returncode == 2 and "needs a harness model spec" in done.stderr


def _offline_env() -> dict[str, str]:
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
