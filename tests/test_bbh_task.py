"""BBH: the official CoT exemplars as lm-eval keeps them, lm-eval's prompts and generation
settings, its answer extraction and exact match, and the oracle on all 27 tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness import evaluate
from harness.models.oracle import OracleModel
from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args
from harness.types import Response

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbh"
TASK_DIR = Path(__file__).resolve().parents[1] / "tasks" / "bbh"
needs_data = pytest.mark.skipif(not (DATA / "bbh").is_dir(), reason=f"BBH data not found at {DATA}")
PARITY_TASKS = ["boolean_expressions", "snarks", "sports_understanding", "multistep_arithmetic_two", "word_sorting"]


def bbh(data: Path = DATA, **args: object) -> Task:
    spec, own = apply_task_args(load_task("bbh"), args)
    return Task(spec, own, data)


def official_prompt(subset: str) -> tuple[str, list[dict[str, str]]]:
    """A task's description and exemplars, read from the official cot-prompts file."""
    prompt = (DATA / "cot-prompts" / f"{subset}.txt").read_text(encoding="utf-8").split("\n-----\n", 1)[1]
    description, *shots = prompt.split("\n\nQ: ")
    exemplars = []
    for shot in shots:
        question, _, reasoning = shot.partition("\nA: Let's think step by step.")
        exemplars.append({"input": question, "target": reasoning})
    return description, exemplars


def shipped(subset: str) -> tuple[str, list[dict[str, str]]]:
    descriptions = yaml.safe_load((TASK_DIR / "descriptions.yaml").read_text(encoding="utf-8"))
    return descriptions[subset], yaml.safe_load((TASK_DIR / "fewshot" / f"{subset}.yaml").read_text(encoding="utf-8"))


def subsets() -> list[str]:
    return list(load_task("bbh").dataset.subsets)


@needs_data
def test_the_exemplars_are_the_official_ones_less_the_character_lm_eval_drops() -> None:
    for subset in subsets():
        description, exemplars = official_prompt(subset)
        ours_description, ours = shipped(subset)
        assert ours_description == description
        assert len(ours) == 3
        for mine, official in zip(ours, exemplars):
            assert mine["input"] == official["input"]
            assert official["target"][0] in "\n " and mine["target"] == official["target"][1:]


def test_the_exemplars_and_descriptions_equal_lm_eval_s() -> None:
    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from harness.testing.lmeval_local import BBH_BASE
    from harness.testing.lmeval_tasks import lmeval_tasks_dir

    for subset in subsets():
        config = yaml.safe_load((lmeval_tasks_dir() / BBH_BASE.format(subset=subset)).read_text(encoding="utf-8"))
        description, exemplars = shipped(subset)
        assert config["description"] == description + "\n\n"
        assert config["fewshot_config"] == {"sampler": "first_n", "samples": exemplars}


@needs_data
def test_prompts_and_generation_settings_equal_lm_eval(tmp_path: Path) -> None:
    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from harness.testing.lmeval_local import lmeval_requests, write_lmeval_tasks

    names = [name for subset in PARITY_TASKS for name in write_lmeval_tasks(
        f"bbh_cot_fewshot_{subset}", {"test": DATA / "bbh" / f"{subset}.json"}, tmp_path)]
    expected = lmeval_requests(tmp_path, names, limit=20)
    task = bbh(subsets="+".join(PARITY_TASKS))
    ours: dict[str, list[str]] = {}
    for sample, examples in task.samples(limit=20):
        (request,) = task.requests(sample, examples, seed=0)
        ours.setdefault(f"bbh_cot_fewshot_{sample.subset}_local", []).append(request.prompt or "")
        settings = request.settings
    for name in names:
        prompts = [args[0] for (args,) in expected[name]]
        assert len(prompts) == 20 and ours[name] == prompts
        kwargs = expected[name][0][0][1]
        assert (list(settings.stop), settings.max_tokens, settings.temperature) == (
            kwargs["until"], kwargs["max_gen_toks"], kwargs["temperature"])
        assert kwargs["do_sample"] is False


@needs_data
def test_chat_messages_equal_lm_eval_s_multiturn_messages(tmp_path: Path) -> None:
    """With a chat template the description is the system message and each exemplar a user and an
    assistant turn, as lm-eval's --apply_chat_template --fewshot_as_multiturn sends them."""
    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from harness.testing.lmeval_local import lmeval_chat_messages, write_lmeval_tasks

    (name,) = write_lmeval_tasks("bbh_cot_fewshot_snarks", {"test": DATA / "bbh" / "snarks.json"}, tmp_path)
    expected = lmeval_chat_messages(tmp_path, name, limit=5)
    task = bbh(subsets="snarks", format="chat")
    ours = []
    for sample, examples in task.samples(limit=5):
        (request,) = task.requests(sample, examples, seed=0)
        ours.append([{"role": message.role, "content": message.content} for message in request.messages or ()])
    assert len(expected) == 5 and len(expected[0]) == 8
    assert ours == expected


RESPONSES = [
    ("Let's see. So the answer is (A).", "(A)"),
    ("So the answer is (A).", "(B)"),
    ("X is true. So the answer is True.", "True"),
    ("the answer is yes. And the answer is no.", "yes"),
    ("So the answer is Yes.", "yes"),  # case counts, as in lm-eval
    ("So the answer is 42", "42"),  # the regex needs a character after the answer
    ("I cannot tell.", "valid"),
    ("So the answer is ] } ].", "] } ]"),
]


def test_extraction_and_exact_match_equal_lm_eval(tmp_path: Path) -> None:
    pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.filters.extraction import RegexFilter

    from harness.types import Sample

    task = bbh(tmp_path)  # scoring reads no data, so this test runs where the shared data is absent
    lm_filter = RegexFilter(regex_pattern="(?<=the answer is )(.*)(?=.)")
    for text, target in RESPONSES:
        sample = Sample(id="t", subset="t", index=0, data={}, target=target)
        (scored,) = task.score_many([(sample, Response(text=text))])
        (extracted,), = lm_filter.apply([[text]], [{}])
        assert scored.extracted["get-answer"] == extracted
        expected = exact_match_hf_evaluate(predictions=[extracted], references=[target])["exact_match"]
        assert scored.scores["exact_match[get-answer]"] == expected


@needs_data
def test_oracle_on_five_questions_of_every_task(tmp_path: Path) -> None:
    result = evaluate("bbh", OracleModel(), data=DATA, limit=5, run_dir=tmp_path / "run", use_cache=False)
    assert result.metrics["metrics"]["exact_match[get-answer]"]["value"] == 1.0
    assert len(result.metrics["subsets"]) == 27 and result.metrics["metrics"]["exact_match[get-answer]"]["n"] == 135
    assert result.metrics["summary"]["exact_match[get-answer]/task_mean"] == {"value": 1.0, "tasks": 27, "complete": True}


@pytest.mark.slow
@needs_data
def test_oracle_on_all_6511(tmp_path: Path) -> None:
    counts = {path.stem: len(json.loads(path.read_text(encoding="utf-8"))["examples"]) for path in (DATA / "bbh").glob("*.json")}
    assert len(counts) == 27 and sum(counts.values()) == 6511
    result = evaluate("bbh", OracleModel(), data=DATA, run_dir=tmp_path / "run", use_cache=False)
    assert (result.metrics["metrics"]["exact_match[get-answer]"]["value"],
            result.metrics["metrics"]["exact_match[get-answer]"]["n"]) == (1.0, 6511)
    assert {subset: table["exact_match[get-answer]"]["n"] for subset, table in result.metrics["subsets"].items()} == counts
