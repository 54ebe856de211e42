"""The critic-cot adapter against scripted solver and critic models (no weights, no torch)."""

from __future__ import annotations

import re
from typing import Callable, Sequence

import pytest

from harness.adapters.critic_cot import CriticCoTModel
from harness.adapters.critic_cot_steps import (
    SYSTEM_PROMPT,
    extract_answer,
    extract_problem,
    first_wrong_step,
    parse_correction,
    parse_labels,
    solve_prompt,
    split_steps,
)
from harness.errors import UsageError
from harness.models.base import check_model_spec, load_model
from harness.registry import MODELS
from harness.types import GenerationSettings, Message, Request, Response

Judge = Callable[[str], str]
Refiner = Callable[[str, str], str]


def continuation(answer: object | None) -> str:
    """A two-step solution after the `Step 1` prefix; no boxed answer when `answer` is None."""
    last = f"So the answer is \\boxed{{{answer}}}." if answer is not None else "No idea."
    return f": Let x be the number.\nStep 2: {last}"


def critique(*verdicts: str) -> str:
    """A critique after the `Step 1` prefix; a verdict of "silent" states nothing for that step."""
    parts = [f"Step {i}: checking." + ("" if v == "silent" else f" Step {i} is {v}.")
             for i, v in enumerate(verdicts, start=1)]
    return "\n\n".join(parts)[len("Step 1"):]


def faults(*answers: object) -> Judge:
    """A critic that faults step 2 of attempts boxing one of `answers` and passes the rest."""
    return lambda attempt: critique("correct", "incorrect" if any(
        f"\\boxed{{{a}}}" in attempt for a in answers) else "correct")


class FakeSolver:
    """Answers solve requests with a per-problem script, in the order each call asks for it."""

    cacheable = True
    chunk_size = 64

    def __init__(self, name: str = "", style: str = "plain", script: dict[str, list[str]] | None = None) -> None:
        self.name, self.style, self.script = name or "fake-solver", style, script or {}
        self.calls: list[list[Request]] = []

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        self.calls.append(list(requests))
        drawn: dict[str, int] = {}
        responses = []
        for request in requests:
            problem = extract_problem(request)
            index = drawn[problem] = drawn.get(problem, -1) + 1
            script = self.script.get(problem) or [continuation(4)]
            responses.append(Response(text=script[index % len(script)], output_tokens=3, finish_reason="stop"))
        return responses

    def fingerprint(self) -> str:
        return f"fake-solver:{self.name}:{self.style}"


class FakeCritic(FakeSolver):
    """Critiques and refines by the attempt's content; solves like FakeSolver when it is both."""

    def __init__(self, name: str = "", style: str = "plain", judge: Judge | None = None,
                 refine: Refiner | None = None) -> None:
        super().__init__(name or "fake-critic", style)
        self.judge: Judge = judge or (lambda attempt: critique("correct", "correct"))
        self.refine: Refiner = refine or (lambda attempt, criticism: " 1: fixed \\boxed{9}\n</correction>")

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        if all(r.messages[1].content.startswith("## Math problem") for r in requests):
            return super().generate(requests)
        self.calls.append(list(requests))
        return [Response(text=self._answer(r.messages[1].content), output_tokens=2) for r in requests]

    def _answer(self, prompt: str) -> str:
        attempt = re.search(r"<attempt>\n(.*)\n</attempt>", prompt, re.DOTALL).group(1)
        criticism = re.search(r"<criticism>\n(.*)\n</criticism>", prompt, re.DOTALL)
        return self.refine(attempt, criticism.group(1)) if criticism else self.judge(attempt)


MODELS.register("fake-solver", FakeSolver)
MODELS.register("fake-critic", FakeCritic)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Inner caches go to the test's folder, never to the user's."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    return tmp_path


def incoming(problem: str = "What is 2+2?", sample_id: str = "s0", seed: int | None = 7) -> Request:
    messages = (Message("system", SYSTEM_PROMPT), Message("user", solve_prompt(problem)))
    return Request(kind="generate", sample_id=sample_id, messages=messages, settings=GenerationSettings(seed=seed))


def adapter(script: dict[str, list[str]], judge: Judge | None = None, refine: Refiner | None = None,
            **settings: object) -> tuple[CriticCoTModel, FakeSolver, FakeCritic]:
    model = CriticCoTModel("fake-solver", critic="fake-critic", cache=False, **settings)
    solver, critic = model.roles.solver, model.roles.critic
    solver.script = script
    critic.judge = judge or critic.judge
    critic.refine = refine or critic.refine
    return model, solver, critic


# --- text formats ----------------------------------------------------------------------------

def test_labels_stop_at_first_incorrect_and_keep_unstated_as_zero() -> None:
    assert parse_labels("Step 1" + critique("correct", "incorrect", "correct"), 3) == [1, -1]
    assert parse_labels("Step 1" + critique("correct", "silent", "correct"), 3) == [1, 0, 1]
    assert parse_labels("nothing", 2) == [0, 0]


def test_steps_answers_problem_and_corrections_follow_the_official_regexes() -> None:
    assert split_steps("Step 1: a\n\n**Step 2**: b\nStep 3:c") == ["a", "b", "c"]
    assert extract_answer("\\boxed{1} then \\boxed{x = \\frac{1}{2}} and \\boxed{3") == "\\frac{1}{2}"
    assert extract_answer("no box") is None and extract_answer("\\boxed{ }") is None
    assert extract_problem(incoming("Find x.\n\nx+1=2")) == "Find x.\n\nx+1=2"
    base = Request(kind="generate", sample_id="b", prompt="<s>" + solve_prompt("P?") + "\nassistant:")
    assert extract_problem(base) == "P?"
    with pytest.raises(UsageError, match="math-500:critic-cot"):
        extract_problem(Request(kind="generate", sample_id="x", prompt="What is 2+2?"))
    assert parse_correction("<correction>\nStep 2: x\nStep 3: \\boxed{4}\n</correction> tail") == ["x", "\\boxed{4}\n"]
    assert parse_correction("<correction>\nno markers</correction>") == ["\nno markers"]
    assert parse_correction("<correction>\nStep 2: unfinished") is None


def test_first_wrong_step_and_criticism_span() -> None:
    text = "Step 1" + critique("correct", "incorrect")
    assert first_wrong_step(text, 2) == (2, "Step 2: checking. Step 2 is incorrect")
    assert first_wrong_step(text, 1) is None
    assert first_wrong_step("Step 1" + critique("correct", "correct"), 2) is None


# --- filter mode -----------------------------------------------------------------------------

def test_filter_keeps_unfaulted_candidates_and_traces_everything() -> None:
    problem = "What is 2+2?"
    script = {problem: [continuation(a) for a in (3, 3, 3, 4, 4)]}
    model, solver, critic = adapter(script, faults(3), n=5)
    [response] = model.generate([incoming(problem)])
    texts = ["Step 1" + continuation(a) for a in (3, 3, 3, 4, 4)]
    assert response.text == texts[3]
    bad, good = "Step 1" + critique("correct", "incorrect"), "Step 1" + critique("correct", "correct")
    assert response.trace == {
        "adapter": "critic-cot", "mode": "filter", "n": 5, "chosen": 3, "majority": 0, "fallback": None,
        "candidates": [
            {"text": texts[i], "answer": str(a), "critique": bad if a == 3 else good,
             "labels": [1, -1] if a == 3 else [1, 1], "rejected": a == 3}
            for i, a in enumerate((3, 3, 3, 4, 4))
        ],
    }
    assert response.output_tokens == 5 * 3 + 5 * 2
    assert Response.from_json(response.to_json()) == response


def test_filter_makes_one_solver_call_and_one_critic_call_per_batch() -> None:
    problems = ["P1?", "P2?", "P3?"]
    model, solver, critic = adapter({p: [continuation(i) for i in range(4)] for p in problems}, n=4)
    responses = model.generate([incoming(p, sample_id=p) for p in problems])
    assert len(responses) == 3 and len(solver.calls) == 1 and len(critic.calls) == 1
    solves, critiques = solver.calls[0], critic.calls[0]
    assert len(solves) == len(critiques) == 12
    assert {r.messages[-1] for r in solves} == {Message("assistant", "Step 1")}
    assert {r.messages[-1] for r in critiques} == {Message("assistant", "Step 1")}
    assert {(r.settings.temperature, r.settings.max_tokens, r.settings.top_p) for r in solves} == {(0.7, 2048, 0.95)}
    assert {(r.settings.temperature, r.settings.stop) for r in critiques} == {(0.5, ("<correction>",))}
    # Distinct per candidate and per problem (batched problems must not draw correlated samples).
    seeds = [r.settings.seed for r in solves]
    assert len(set(seeds)) == 12
    again, again_solver, _ = adapter(solver.script, n=4)
    again.generate([incoming(p, sample_id=p) for p in problems])
    assert [r.settings.seed for r in again_solver.calls[0]] == [r.settings.seed for r in solves]
    other_seed, other_solver, _ = adapter(solver.script, n=4)
    other_seed.generate([incoming(p, sample_id=p, seed=8) for p in problems])
    assert {r.settings.seed for r in other_solver.calls[0]}.isdisjoint(r.settings.seed for r in solves)


def test_filter_falls_back_to_plain_majority_when_nothing_is_kept() -> None:
    model, _, _ = adapter({"P?": [continuation(a) for a in (5, 6, 6)]}, faults(5, 6), n=3)
    [response] = model.generate([incoming("P?")])
    assert (response.trace["chosen"], response.trace["majority"], response.trace["fallback"]) == (1, 1, "none-kept")


@pytest.mark.parametrize(("n", "kept", "fallback", "chosen"), [
    (16, (4, 5, 6), None, 13),               # min(6, 16 // 16) = 1: three kept are enough
    (96, (4, 5, 6), "kept-disagree", 0),     # min(6, 96 // 16) = 6: three disagreeing are too few
    (96, (4, 4, 4), None, 93),               # agreeing survivors are trusted however few
    (112, (4, 5, 4, 5, 4, 5), None, 106),    # min(6, 7) = 6: six kept are enough
])
def test_filter_distrusts_few_disagreeing_survivors(n: int, kept: tuple, fallback: str | None, chosen: int) -> None:
    answers = [3] * (n - len(kept)) + list(kept)
    model, _, _ = adapter({"P?": [continuation(a) for a in answers]}, faults(3), n=n)
    [response] = model.generate([incoming("P?")])
    assert (response.trace["fallback"], response.trace["chosen"], response.trace["majority"]) == (fallback, chosen, 0)


def test_candidates_without_an_answer_never_vote_or_get_critiqued() -> None:
    model, _, critic = adapter({"P?": [continuation(None), continuation(None), continuation(8)]}, n=3)
    [response] = model.generate([incoming("P?")])
    assert (response.trace["chosen"], response.trace["majority"], response.trace["fallback"]) == (2, 2, None)
    assert [c["answer"] for c in response.trace["candidates"]] == [None, None, "8"]
    assert [c["critique"] is None for c in response.trace["candidates"]] == [True, True, False]
    assert [c["rejected"] for c in response.trace["candidates"]] == [None, None, False]  # unjudged: null
    assert len(critic.calls[0]) == 1
    none, _, none_critic = adapter({"P?": [continuation(None)] * 2}, n=2)
    [response] = none.generate([incoming("P?")])
    assert (response.trace["chosen"], response.trace["majority"], response.trace["fallback"]) == (0, None, "none-kept")
    assert response.text == "Step 1" + continuation(None) and none_critic.calls == []


def test_an_inner_error_makes_only_that_problem_an_error() -> None:
    model, solver, _ = adapter({}, n=2)
    answer = solver.generate
    solver.generate = lambda requests: [Response(error="boom") if r.sample_id == "bad" else a
                                        for r, a in zip(requests, answer(requests))]
    bad, good = model.generate([incoming("P?", sample_id="bad"), incoming("Q?", sample_id="good")])
    assert bad.error == "critic-cot solver failed: boom" and bad.trace is None
    assert good.error is None and good.trace["chosen"] == 0


# --- refine mode -----------------------------------------------------------------------------

ORIGINAL = "Step 1: Let x be the number.\n\nStep 2: So the answer is \\boxed{5}."


def test_refine_stops_when_the_critic_accepts_the_original() -> None:
    model, solver, critic = adapter({"P?": [continuation(5)]}, mode="refine")
    [response] = model.generate([incoming("P?")])
    assert response.text == "Step 1" + continuation(5)
    assert (response.trace["chosen"], response.trace["rounds"], response.trace["restarts"]) == (0, 0, 0)
    assert len(solver.calls) == len(critic.calls) == 1 and len(solver.calls[0]) == 1


def test_refine_rewrites_from_the_first_wrong_step() -> None:
    judge = lambda attempt: critique("correct", "incorrect") if "boxed{5}" in attempt else critique("correct", "correct")
    refine = lambda attempt, criticism: " 2: Add again.\nStep 3: \\boxed{4}\n</correction>"
    model, _, critic = adapter({"P?": [continuation(5)]}, judge, refine, mode="refine")
    [response] = model.generate([incoming("P?")])
    refined = "Step 1: Let x be the number.\n\nStep 2: Add again.\n\nStep 3: \\boxed{4}\n"
    assert response.text == refined
    [refine_request] = critic.calls[1]
    assert refine_request.messages[-1] == Message("assistant", "<correction>\nStep")
    assert f"<attempt>\n{ORIGINAL}\n</attempt>" in refine_request.messages[1].content
    assert "<criticism>\nStep 2: checking. Step 2 is incorrect\n</criticism>" in refine_request.messages[1].content
    assert (refine_request.settings.temperature, refine_request.settings.top_p) == (0.5, 0.95)
    trace = response.trace
    assert {k: trace[k] for k in ("adapter", "mode", "chosen", "rounds", "restarts")} == {
        "adapter": "critic-cot", "mode": "refine", "chosen": 1, "rounds": 1, "restarts": 0}
    assert [(c["text"], c["answer"], c["labels"], c["rejected"]) for c in trace["candidates"]] == [
        ("Step 1" + continuation(5), "5", [1, -1], True), (refined, "4", [1, 1, 0], False)]


def test_refine_restarts_from_the_original_after_max_depth() -> None:
    never = lambda attempt: critique("incorrect")
    refine = lambda attempt, criticism: f" 1: retry {attempt.count('retry')}\n</correction>"
    model, _, critic = adapter({"P?": [continuation(5)]}, never, refine, mode="refine",
                               max_refine_depth=2, max_refine_restart=3)
    [response] = model.generate([incoming("P?")])
    assert (response.trace["rounds"], response.trace["restarts"], response.trace["chosen"]) == (6, 2, 6)
    refine_calls = critic.calls[1::2]
    attempts = [re.search(r"<attempt>\n(.*)\n</attempt>", call[0].messages[1].content, re.DOTALL).group(1)
                for call in refine_calls]
    assert attempts == [ORIGINAL, "Step 1: retry 0\n"] * 3
    assert len({call[0].settings.seed for call in refine_calls}) == 6
    assert response.text == "Step 1: retry 1\n" and len(critic.calls) == 1 + 2 * 6


def test_refine_batches_active_problems_and_keeps_an_unparsed_correction() -> None:
    refine = lambda attempt, criticism: " 2: \\boxed{6}\n</correction>" if "boxed{4}" in attempt else " 2: unfinished"
    script = {"P?": [continuation(5)], "Q?": [continuation(4)], "R?": [continuation(7)]}
    model, _, critic = adapter(script, faults(4, 5), refine, mode="refine", max_refine_depth=2, max_refine_restart=1)
    p, q, r = model.generate([incoming(x, sample_id=x) for x in ("P?", "Q?", "R?")])
    assert [len(call) for call in critic.calls] == [3, 2, 2, 1, 1]
    assert (r.trace["chosen"], q.trace["chosen"], q.trace["rounds"], p.trace["rounds"]) == (0, 1, 1, 2)
    assert q.text == "Step 1: Let x be the number.\n\nStep 2: \\boxed{6}\n"
    assert [c["text"] for c in p.trace["candidates"]] == ["Step 1" + continuation(5), ORIGINAL, ORIGINAL]
    assert p.text == ORIGINAL


def test_refine_critiques_again_without_refining_when_the_wrong_step_is_not_in_the_attempt() -> None:
    judge = lambda attempt: ": Step 7 is incorrect, yet Step 1 is correct. Step 2 is incorrect."
    model, _, critic = adapter({"P?": [continuation(5)]}, judge, mode="refine", max_refine_depth=1,
                               max_refine_restart=1)
    [response] = model.generate([incoming("P?")])
    assert [len(call) for call in critic.calls] == [1, 1]
    assert "<criticism>" not in critic.calls[1][0].messages[1].content
    assert [c["text"] for c in response.trace["candidates"]] == ["Step 1" + continuation(5), ORIGINAL]


# --- spec, arguments, caching ----------------------------------------------------------------

def test_spec_builds_the_adapter_and_the_critic_defaults_to_the_solver() -> None:
    model = load_model("critic-cot:fake-solver,n=4,cache=false")
    assert isinstance(model, CriticCoTModel) and model.roles.critic is model.roles.solver
    assert model.n == 4 and model.chunk_size == 16 and model.name == "critic-cot:fake-solver"
    spec = check_model_spec("critic-cot:fake-solver,critic=fake-critic,n=16,mode=refine")
    assert (spec.backend, spec.name, spec.args) == ("critic-cot", "fake-solver", {"critic": "fake-critic", "n": 16,
                                                                                  "mode": "refine"})


def test_prefixed_arguments_reach_the_inner_models() -> None:
    model = load_model("critic-cot:fake-solver,critic=fake-critic,solver.style=a,critic.style=b,cache=false")
    assert (model.roles.solver.style, model.roles.critic.style) == ("a", "b")
    self_critic = load_model("critic-cot:fake-solver,critic.style=b,cache=false")
    assert self_critic.roles.critic is not self_critic.roles.solver
    assert (self_critic.roles.solver.style, self_critic.roles.critic.style) == ("plain", "b")


def test_unknown_arguments_are_named_with_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown critic-cot argument 'nn'; valid: critic, n, mode.*solver\.<arg>"):
        load_model("critic-cot:fake-solver,nn=4")
    with pytest.raises(UsageError, match="mode='vote'"):
        load_model("critic-cot:fake-solver,mode=vote,cache=false")


def test_oracle_runs_through_the_adapter() -> None:
    model = load_model("critic-cot:oracle,n=2,cache=false")
    request = Request(kind="generate", sample_id="o", messages=incoming().messages, reference="\\boxed{4}")
    [response] = model.generate([request])
    assert extract_answer(response.text) == "4" and model.cacheable is False


def test_fingerprint_covers_inner_models_and_settings() -> None:
    base = load_model("critic-cot:fake-solver,critic=fake-critic,cache=false").fingerprint()
    assert base == load_model("critic-cot:fake-solver,critic=fake-critic").fingerprint()
    for variant in ("n=8", "mode=refine", "temperature=0.6", "critic.style=x", "critic=fake-solver"):
        assert load_model(f"critic-cot:fake-solver,critic=fake-critic,cache=false,{variant}").fingerprint() != base


@pytest.mark.parametrize("mode", ["filter", "refine"])
def test_a_repeated_batch_is_answered_from_the_cache(cache_dir, mode: str) -> None:
    requests = [incoming("P?", sample_id="p"), incoming("Q?", sample_id="q")]
    judge = faults(4)
    first = load_model(f"critic-cot:fake-solver,critic=fake-critic,n=3,mode={mode}")
    first.roles.critic.model.judge = judge
    answers = first.generate(requests)
    second = load_model(f"critic-cot:fake-solver,critic=fake-critic,n=3,mode={mode}")
    second.roles.critic.model.judge = judge
    assert second.generate(requests) == answers
    assert second.roles.solver.model.calls == [] and second.roles.critic.model.calls == []
    assert first.roles.critic.model.calls and (cache_dir / "responses.sqlite").exists()
