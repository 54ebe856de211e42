"""CRUXEval-X hooks on the real data: gold answers, substitution, the anti-copy guard, answer
extraction, and prompts equal to the official ones character for character.

The fixture holds prompts produced by the official `inference/prompt.py` functions, driven the way
`infer_vllm.py` / `infer_openai.py` drive them, on the first two records of each language (plus the
first whose official `code` starts with blank lines and the first with a stray ``` fence).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harness.tasks import load_task
from harness.tasks.task import Task, apply_task_args

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval-x"
TASK = Path(__file__).resolve().parents[1] / "tasks" / "cruxeval-x"
FIXTURE = Path(__file__).parent / "fixtures" / "cruxeval_x_official_prompts.json"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"CRUXEval-X data not found at {DATA}")

# Templates that differ from their code beyond the ????, so no answer rebuilds the code: D asserts
# `!result.isNull && result.get == ????` where the code asserts `result.isNull` (null has no
# literal), and Julia templates print typed empty Dicts as `Dict()`.
TEMPLATE_DEFECTS = {
    ("d", "output"): {116, 203, 270, 341, 396, 402, 467, 609, 746},
    ("jl", "input"): {116, 203, 224, 270, 341, 396, 402, 467, 577, 609, 746},
    ("jl", "output"): {116, 270, 341, 396, 467, 503, 533, 609, 746},
}


def load_scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cruxeval_x_scorer", TASK / "scorer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scorer = load_scorer()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@functools.cache
def records(language: str) -> list[dict[str, Any]]:
    """Benchmark rows as the official scripts see them: `code` from cruxeval-x/{lang}.json."""
    raw = json.loads((DATA / "cruxeval-x" / f"{language}.json").read_text(encoding="utf-8"))
    code = {row["id"]: row.get("code") for row in raw}
    templates = read_jsonl(DATA / "cruxeval_preprocessed" / f"{language}.jsonl")
    return [{**row, "code": code[row["id"]]} for row in templates]


def record(language: str, record_id: int) -> dict[str, Any]:
    return next(row for row in records(language) if row["id"] == record_id)


@functools.cache
def examples(language: str) -> list[dict[str, Any]]:
    """The official few-shot examples: examples/{lang}.json joined with their templates on id."""
    templates = {row["id"]: row for row in read_jsonl(DATA / "examples_preprocessed" / f"{language}.jsonl")}
    rows = json.loads((DATA / "examples" / f"{language}.json").read_text(encoding="utf-8"))
    return [{**templates[row["id"]], **row} for row in rows]


def official_program_text(code: str) -> str:
    """What the official scorer runs for the gold answer: the code between its prompt framing."""
    return "\n" + code.replace("```", "") + "\n\n"


@needs_data
def test_all_records_are_loaded() -> None:
    assert sum(len(records(language)) for language in scorer.LANGUAGES) == 13_459


@needs_data
@pytest.mark.parametrize("language", scorer.LANGUAGES)
def test_gold_answer_substituted_rebuilds_the_code(language: str) -> None:
    for source in ("official", "preprocessed"):
        for subtask in scorer.SUBTASKS:
            failures = set()
            for row in records(language):
                if source == "preprocessed":
                    row = {**row, "code": row["code"].lstrip("\n")}
                gold = scorer.gold_answer(row, language, subtask)
                if scorer.substitute(row, language, subtask, gold) != official_program_text(row["code"]):
                    failures.add(row["id"])
            assert failures == TEMPLATE_DEFECTS.get((language, subtask), set()), (source, subtask)


@needs_data
@pytest.mark.parametrize(
    ("language", "subtask", "record_id", "gold"),
    [
        ("jl", "input", 203, 'candidate(Dict("a" => "3", "b" => "-1", "c" => "Dum"))'),
        ("jl", "output", 116, "Dict{Int64, Int64}()"),
        ("d", "output", 116, ""),
    ],
)
def test_gold_answer_of_a_defective_template_is_the_code_text(
    language: str, subtask: str, record_id: int, gold: str
) -> None:
    row = record(language, record_id)
    assert scorer.gold_answer(row, language, subtask) == gold


@needs_data
@pytest.mark.parametrize("language", scorer.LANGUAGES)
def test_gold_answer_has_the_official_few_shot_form(language: str) -> None:
    for example in examples(language):
        for subtask in scorer.SUBTASKS:
            assert scorer.gold_answer(example, language, subtask) == example[f"{subtask}s"]


@needs_data
@pytest.mark.parametrize("language", scorer.LANGUAGES)
def test_guard_accepts_gold_and_rejects_copies(language: str) -> None:
    for row in records(language):
        call = scorer.gold_answer(row, language, "input")
        value = scorer.gold_answer(row, language, "output")
        assert scorer.guard_violation(call, language, "input") is None, row["id"]
        assert scorer.guard_violation(value, language, "output") is None, row["id"]
        assert scorer.guard_violation(call, language, "output") is not None, row["id"]
        assert scorer.guard_violation(value, language, "input") is not None, row["id"]
        assert scorer.guard_violation(f"{call} + 0", language, "input") is not None, row["id"]


@pytest.mark.parametrize(
    ("language", "subtask", "answer", "rejected"),
    [
        ("cpp", "output", "f((std::vector<long>({(long)1})))", True),
        ("py", "output", "'f(x)'", False),
        ("py", "output", "of(3)", False),
        ("pl", "output", "&f([1, 2])", True),
        ("rb", "output", "candidate.([1])", True),
        ("sh", "output", '"$(candidate "1 2")"', True),
        ("rkt", "output", "(f (list 1 2))", True),
        ("rkt", "input", '(candidate #\\( ")")', False),
        ("cpp", "input", "f(1)", False),
        ("cpp", "input", "candidate(1) == 2 || (3)", True),
        ("go", "input", "candidate(`)`)", False),
        ("java", "input", "(3l)", True),
    ],
)
def test_guard_cases(language: str, subtask: str, answer: str, rejected: bool) -> None:
    assert (scorer.guard_violation(answer, language, subtask) is not None) is rejected


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("[ANSWER]\nf(1)\n[/ANSWER]", "f(1)"),
        ("Let me think. f(0) is 1.\n[ANSWER]\nf(2)\n", "f(2)"),
        ("[ANSWER] a [/ANSWER] then [ANSWER] b [/ANSWER] tail", "b"),
        ("  (3)  ", "(3)"),
        ("[ANSWER][/ANSWER]", ""),
    ],
)
def test_extract_answer(text: str, answer: str) -> None:
    assert scorer.extract_answer(text) == answer


def test_official_vllm_answer_keeps_the_reasoning() -> None:
    assert scorer.official_vllm_answer("Step 1: ...\n[ANSWER]\nf(2)\n") == "Step 1: ...\n\nf(2)"


def prompt_text(prompt: Any) -> str:
    """What the fixture hashes: a base prompt, or the chat messages as JSON."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)


@functools.cache
def engine_samples(prompt_format: str, wording: str, language: str) -> tuple[Task, dict[str, Any]]:
    """The task as `harness run` builds it for one language, and its samples by id."""
    args = {"format": prompt_format, "wording": wording, "subsets": language}
    spec, own = apply_task_args(load_task("cruxeval-x"), args)
    task = Task(spec, own, DATA)
    return task, {sample.id: (sample, shots) for sample, shots in task.samples()}


def our_prompt(entry: dict[str, Any]) -> Any:
    task, samples = engine_samples(entry["format"], entry["wording"], entry["language"])
    sample, shots = samples[f"{entry['language']}/{entry['subtask']}/{entry['id']}"]
    request = task.requests(sample, shots, seed=0)[0]
    if request.prompt is not None:
        return request.prompt
    return [{"role": message.role, "content": message.content} for message in request.messages or ()]


# sha256 of each official prompt (the official functions were run outside the repo; storing
# hashes keeps the benchmark's unlicensed code out of our fixtures).
FIXTURE_ENTRIES = json.loads(FIXTURE.read_text(encoding="utf-8"))
BASE_ENTRIES = [entry for entry in FIXTURE_ENTRIES if entry["format"] == "base"]


def entry_id(entry: dict[str, Any]) -> str:
    return "-".join(str(entry[key]) for key in ("language", "subtask", "id", "format", "wording"))


@needs_data
@pytest.mark.parametrize("entry", FIXTURE_ENTRIES, ids=entry_id)
def test_prompt_equals_official(entry: dict[str, Any]) -> None:
    text = prompt_text(our_prompt(entry))
    assert hashlib.sha256(text.encode()).hexdigest() == entry["sha256"], text[-500:]


@needs_data
@pytest.mark.parametrize("entry", BASE_ENTRIES, ids=entry_id)
def test_substitute_equals_official_program(entry: dict[str, Any]) -> None:
    """The official scripts cut the program out of the prompt, drop ``` and replace the placeholder.

    Our prompt equals the official one (previous test), so it stands in for it here.
    """
    language, subtask = entry["language"], entry["subtask"]
    row = record(language, entry["id"])
    gold = scorer.gold_answer(row, language, subtask)
    placeholder = scorer.HOLE if subtask == "output" else scorer.CALL_TEMPLATES[language]
    official = our_prompt(entry).split(f"```{language}")[-1].replace("```", "").replace(placeholder, gold)
    assert scorer.substitute(row, language, subtask, gold) == official
