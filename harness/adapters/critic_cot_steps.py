"""Critic-CoT's text formats: its three prompts, step splitting, critic labels, boxed answers.

Everything here mirrors the official code (AlignRM/Critic-CoT, `src/run_math_vllm.py` and
`src/utils.py`) string for string: a critic trained on these formats is only as good as the
match between what it was trained on and what it is shown.
"""

from __future__ import annotations

import re
from typing import Sequence

from harness.errors import UsageError
from harness.types import Request

SYSTEM_PROMPT = "You are a helpful assistant."
SOLVE_TEMPLATE = (
    "## Math problem\n{problem}\n\n-----\n"
    'Solve the problem step by step, marking each step as "Step [i]:".\n'
    "Your final answer should be in the form \\boxed{answer}, at the end of your response."
)
CRITIQUE_TEMPLATE = (
    "How do you evaluate the following attempt with respect to the problem?\n\n"
    "<problem>\n{problem}\n</problem>\n\n<attempt>\n{attempt}\n</attempt>\n\n\n"
    "**Notes**:\n - Please think step by step.\n"
    " - Your reasoning should precede any claims or conclusions you make to avoid unwarranted assertions.\n"
    " - At the end of the evaluation for each step, YOU MUST articulate the conclusion using the format "
    '"Step [i] is correct" or "Step [i] is incorrect".'
)
REFINE_TEMPLATE = (
    "How do you refine the following attempt with respect to the problem, given the criticism?\n\n"
    "<problem>\n{problem}\n</problem>\n\n<attempt>\n{attempt}\n</attempt>\n\n"
    "<criticism>\n{criticism}\n</criticism>"
)
# The official code starts every assistant turn with these, so the model continues a step list.
SOLVE_PREFIX = "Step 1"
CRITIQUE_PREFIX = "Step 1"
REFINE_PREFIX = "<correction>\nStep"
# A critique stops where the critic would start writing its own correction.
CRITIQUE_STOP = ("<correction>",)

_SOLVE_HEAD, _SOLVE_TAIL = SOLVE_TEMPLATE.split("{problem}")
_SOLVE_PATTERN = re.compile(re.escape(_SOLVE_HEAD) + "(.*)" + re.escape(_SOLVE_TAIL), re.DOTALL)
_STEP_MARKER = re.compile(r"\n*\**Step [0-9]+\**: ?")
_CORRECTION_STEP_MARKER = re.compile(r"\n*Step [0-9]+[^:]*: ?")
_BOXED = "\\boxed{"


def extract_problem(request: Request) -> str:
    """The problem statement inside the official solve prompt of the last user turn (or prompt).

    The critic was trained on problems, not on arbitrary task prompts, so a request in any other
    format is refused rather than silently critiqued out of distribution.
    """
    if request.messages is not None:
        users = [message.content for message in request.messages if message.role == "user"]
        text = users[-1] if users else ""
    else:
        text = request.prompt or ""
    match = _SOLVE_PATTERN.search(text)
    if match is None:
        raise UsageError(
            f"critic-cot needs requests in the Critic-CoT solve format (sample {request.sample_id!r} "
            "has none): run the task's critic-cot variant, e.g. --task math-500:critic-cot"
        )
    return match.group(1)


def split_steps(solution: str) -> list[str]:
    """The step bodies of a solution written as `Step 1: ... Step 2: ...` (official regex)."""
    return _STEP_MARKER.split(solution)[1:]


def format_attempt(steps: Sequence[str]) -> str:
    """Steps renumbered as the critic sees them; also the text of a refined attempt."""
    return "\n\n".join(f"Step {number}: {step}" for number, step in enumerate(steps, start=1))


def solve_prompt(problem: str) -> str:
    return SOLVE_TEMPLATE.replace("{problem}", problem)


def critique_prompt(problem: str, steps: Sequence[str]) -> str:
    return CRITIQUE_TEMPLATE.format(problem=problem, attempt=format_attempt(steps))


def refine_prompt(problem: str, steps: Sequence[str], criticism: str) -> str:
    return REFINE_TEMPLATE.format(problem=problem, attempt=format_attempt(steps), criticism=criticism)


def parse_labels(critique: str, step_count: int) -> list[int]:
    """Per-step verdicts as official `parse_label`: +1 correct, -1 incorrect, 0 unstated.

    Reading stops at the first -1: later verdicts judge steps that follow an error and are
    not used. "is correct" wins when both phrases appear, as in the official order of checks.
    """
    labels: list[int] = []
    for number in range(1, step_count + 1):
        if f"Step {number} is correct" in critique:
            label = 1
        elif f"Step {number} is incorrect" in critique:
            label = -1
        else:
            label = 0
        labels.append(label)
        if label == -1:
            break
    return labels


def first_wrong_step(critique: str, step_count: int) -> tuple[int, str] | None:
    """The step to refine from and the criticism shown to the refiner, or None if unusable.

    Official `infer_instance_refine`: k is the first "Step k is incorrect" in the text (k must
    be a step of the attempt), and the criticism runs from the first "Step k" to the end of the
    last "Step N is incorrect" (a greedy match).
    """
    found = re.search(r"Step (\d+) is incorrect", critique)
    if found is None or int(found.group(1)) > step_count:
        return None
    number = int(found.group(1))
    criticism = re.search(f"Step {number}" + r".*Step \d+ is incorrect", critique, re.DOTALL)
    return (number, criticism.group(0)) if criticism else None


def parse_correction(refine_output: str) -> list[str] | None:
    """Corrected steps from `<correction>...</correction>`; None when there is no closed block.

    Official `parse_correction_and_changed_answer` plus the step split in
    `infer_instance_iterative_refine`: a correction without step markers is one step.
    """
    found = re.search(r"<correction>(.*)</correction>", refine_output, re.DOTALL)
    if found is None:
        return None
    correction = found.group(1).split("</correction>", 1)[0]
    if not correction:
        return None
    return _CORRECTION_STEP_MARKER.split(correction)[1:] or [correction]


def refined_steps(steps: Sequence[str], wrong_step: int, corrected: Sequence[str]) -> list[str]:
    """The new attempt: the steps before the wrong one, then the correction."""
    return [*steps[: wrong_step - 1], *corrected]


def boxed_contents(text: str) -> list[str]:
    """Every balanced `\\boxed{...}` body, in order; an unclosed one at the end is skipped."""
    contents: list[str] = []
    start = text.find(_BOXED)
    while start != -1:
        depth, position = 1, start + len(_BOXED)
        while position < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            position += 1
        if depth == 0:
            contents.append(text[start + len(_BOXED): position - 1])
        start = text.find(_BOXED, position if depth == 0 else start + len(_BOXED))
    return contents


def extract_answer(text: str) -> str | None:
    """The voting key: the last boxed answer, right of its last `=`, with spaces removed.

    Official voting compares these keys as plain strings (`collections.Counter` over answers
    with spaces removed in `evaluate/eval_math_critic.py`); math equivalence is used only to
    grade against the gold answer, never to merge votes, so we do the same. Deviation: the
    official `re.findall(r'(\\boxed\\{.*\\})', ..., re.DOTALL)[-1]` is one greedy match from the
    *first* `\\boxed{`, so it votes with the first boxed answer; we take the last, the one the
    prompt asks for "at the end of your response" and the one task extraction scores.
    """
    contents = boxed_contents(text)
    if not contents:
        return None
    answer = contents[-1].split("=")[-1].replace(" ", "").strip()
    return answer or None
