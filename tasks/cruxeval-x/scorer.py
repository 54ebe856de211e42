"""CRUXEval-X hooks: the official prompt code, gold answers, substitution, an anti-copy guard.

Pure functions over one benchmark record, so that the task, the oracle model and the tests share
one definition of each step of the official pipeline (CRUXEVAL-X/cruxeval-x @ 5c005eb:
`inference/infer_vllm.py`, `inference/infer_openai.py`, `inference/untils.py`, `inference/prompt.py`).

A record has `id`, `code`, `input_reasoning` and `output_reasoning`. For prompts equal to the
official ones byte for byte, `code` must come from `datasets/cruxeval-x/{lang}.json`, as the
official scripts take it: for 3,204 records it starts with one or two blank lines that the
`cruxeval_preprocessed` (and Hugging Face) copy of `code` lacks; nothing else differs. A few-shot
example also has `inputs` and `outputs` (`datasets/examples/{lang}.json`, joined on `id` with the
templates in `datasets/examples_preprocessed/{lang}.jsonl`, as the official scripts join them).

Templates in `prompts/` (rendered with StrictUndefined, keep_trailing_newline=False):
- `base.j2`, the whole base (vLLM) prompt: `language` (the key, e.g. "cpp": the official prompts
  show the key, not a display name, in the prose and in the code fences), `subtask` ("input" or
  "output"), `code` = `query_text(...)`, `shots` = a list of `shot(...)`.
- `chat_user.j2`, one user turn: `language`, `subtask`, `code` (a shot's `code`, or `query_text`
  for the question) and optional `wording`: "gpt" selects the wording the official chat script
  uses for model names containing "gpt"; absent or anything else gives the default wording.
  Chat messages are: system "You are a helpful programming assistant designed to execute
  code."; per shot, user = chat_user.j2 and assistant = "[ANSWER]\\n{answer}\\n[/ANSWER]"; then
  user = chat_user.j2 for the question.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time, so the engine does not take them for hooks
    from collections.abc import Mapping, Sequence
    from typing import Any

LANGUAGES = (
    "cpp", "cs", "d", "go", "java", "jl", "js", "lua", "php", "pl",
    "py", "r", "rb", "rkt", "rs", "scala", "sh", "swift", "ts",
)
SUBTASKS = ("input", "output")
HOLE = "????"

# Official `iterating_stops`: where a program's own test harness begins. The first marker of the
# list that occurs wins (list order, not position), as in the official loop.
SPLIT_MARKERS: dict[str, tuple[str, ...]] = {
    "cpp": ("}\nint main()", "}\n\nint main()"),
    "cs": ("    }\n    public static void Main", "    }\n\n    public static void Main"),
    "d": ("unittest",),
    "go": ("func TestF(t *testing.T)",),
    "java": ("    }\n    public static void main", "    }\n\n    public static void main"),
    "jl": ("using Test",),
    "js": ("const assert",),
    "lua": ("lu = require('luaunit')",),
    "php": ("function candidate(...$args)",),
    "pl": ("use Test::Deep;",),
    "py": ("def check(candidate):",),
    "r": ("test_humaneval",),
    "rb": ("require 'test/unit'",),
    "rkt": ("(require rackunit)\n\n(define (test-humaneval)", "(require rackunit)\n(define (test-humaneval)"),
    "rs": ("}\n\nfn main()", "}\nfn main()", "}\n\n\nfn main()"),
    "scala": ("    }\n    def main", "    }\n\n    def main"),
    "sh": ("}\n\ncandidate()", "}\ncandidate()", "}\n\n\ncandidate()"),
    "swift": ("}\n\n\nfunc ==(left", "}\n\nfunc ==(left", "}\nfunc ==(left", "}\n\n\n\nfunc ==(left"),
    "ts": ("declare var require: any;",),
}

# Official `input_map`: the call an input answer replaces. It has no "py" key (the committed
# scripts raise KeyError on Python); every Python template uses "candidate(????)".
CALL_TEMPLATES: dict[str, str] = {
    "cpp": "candidate(????)", "cs": "F(????)", "d": "candidate(????)", "go": "candidate(????)",
    "java": "f(????)", "jl": "candidate(????)", "js": "candidate(????)", "lua": "candidate(????)",
    "php": "candidate(????)", "pl": "$candidate->(????)", "py": "candidate(????)",
    "r": "candidate(????)", "rb": "candidate.call(????)", "rkt": "(candidate ????)",
    "rs": "candidate(????)", "scala": "f(????)", "sh": "$(candidate ????)", "swift": "f(????)",
    "ts": "candidate(????)",
}


def prompt_code(row: Mapping[str, Any], language: str) -> str:
    """The record's code up to its test harness: the part of the program the prompt shows as is."""
    code = row["code"]
    for marker in SPLIT_MARKERS[language]:
        if marker in code:
            return code.split(marker)[0]
    return code


def query_text(row: Mapping[str, Any], language: str, subtask: str) -> str:
    """The code block of the question: the program with its test call or value hidden by ????."""
    return prompt_code(row, language) + row[f"{subtask}_reasoning"]


def shot(example: Mapping[str, Any], language: str, subtask: str) -> dict[str, str]:
    """One few-shot example; its code is stripped because the official prompts strip shots only."""
    return {"code": query_text(example, language, subtask).strip(), "answer": example[f"{subtask}s"]}


def substitute(row: Mapping[str, Any], language: str, subtask: str, answer: str) -> str:
    """The program the official scorer runs for `answer`, byte for byte (vLLM path).

    The official scripts cut the code back out of the prompt after its last ```{lang} fence and
    delete every ``` in it (14 php and rkt records carry stray markdown fences in their code),
    then replace every occurrence of ???? (output) or of the call template (input). The chat
    path's program ends with one newline fewer, which no language can observe.
    """
    fenced = f"```{language}\n{query_text(row, language, subtask)}\n```\n"
    program = fenced.split(f"```{language}")[-1].replace("```", "")
    placeholder = HOLE if subtask == "output" else CALL_TEMPLATES[language]
    return program.replace(placeholder, answer)


def gold_answer(row: Mapping[str, Any], language: str, subtask: str) -> str:
    """The answer the record's own passing test gives: the oracle's answer.

    It is the code text where the template has ????: for input, the whole call in the form the
    official few-shot answers use. Where the template differs from the code elsewhere too (29
    Julia and D record-subtasks), the text is found by aligning the template with the code.
    """
    template = row[f"{subtask}_reasoning"]
    test = row["code"][len(prompt_code(row, language)):]
    before, after = template.split(HOLE)
    if test.startswith(before) and test.endswith(after) and len(test) >= len(before) + len(after):
        hidden = test[len(before):len(test) - len(after)]
    else:
        hidden = _aligned_hole(template, test)
    return hidden if subtask == "output" else CALL_TEMPLATES[language].replace(HOLE, hidden)


def _aligned_hole(template: str, test: str) -> str:
    """The test text between the last match before the template's ???? and the first after it.

    Stripped, since a template that differs from its code was reformatted around the hole too.
    """
    start = template.index(HOLE)
    end = start + len(HOLE)
    blocks = difflib.SequenceMatcher(None, template, test, autojunk=False).get_matching_blocks()
    left = max((b + min(size, start - a) for a, b, size in blocks if size and a < start), default=0)
    right = min((b + max(0, end - a) for a, b, size in blocks if size and a + size > end), default=len(test))
    return test[left:right].strip()


def _call_pattern(language: str) -> re.Pattern[str]:
    """A call of the function under test, by its test alias or its own name; group `open` is its (."""
    alias = re.findall(r"\w+", CALL_TEMPLATES[language])[0]
    names = "|".join(sorted({alias, "F" if language == "cs" else "f"}))
    if language == "rkt":
        return re.compile(rf"(?P<open>\()\s*(?:{names})(?=[\s)])")
    if language == "sh":
        return re.compile(rf"\$(?P<open>\()\s*(?:{names})\b")
    if language == "pl":
        return re.compile(r"(?:\$candidate\s*->\s*|(?<![\w$@%])(?<!->)&?f\s*)(?P<open>\()")
    if language == "rb":
        return re.compile(r"(?:(?<![\w.:@$])candidate\s*\.\s*(?:call\s*)?|(?<![\w.:@$])f\s*)(?P<open>\()")
    return re.compile(rf"(?<![\w$.])(?:{names})\s*(?P<open>\()")


def guard_violation(answer: str, language: str, subtask: str) -> str | None:
    """Why an answer would pass without reasoning, or None; the official scorer has no such guard.

    Without it, an output answer that repeats the test's call passes (`f(x) == f(x)`), and an
    input answer that is the expected value passes (`expected == expected`). This mirrors the
    original CRUXEval's filters in each language's call syntax. It is a heuristic, not a parser:
    string literals are skipped, so a call interpolated into a string is not seen, except in sh,
    whose output answers are strings and where "$(candidate ...)" runs inside double quotes.
    """
    code = _outside_strings(answer, language)
    call = _call_pattern(language)
    if subtask == "output":
        found = call.search(answer if language == "sh" else code)
        return f"output answer calls the function under test: {found.group(0)!r}" if found else None
    found = call.match(code)
    if found is None or _closing_paren(code, found.start("open")) != len(code) - 1:
        return f"input answer is not one call of the function under test, like {CALL_TEMPLATES[language]!r}"
    return None


def _outside_strings(text: str, language: str) -> str:
    """`text` with every string literal emptied, so brackets and names inside them do not count."""
    quotes = {"rkt": '"', "go": "\"'`", "js": "\"'`", "ts": "\"'`"}.get(language, "\"'")
    kept, index = [], 0
    while index < len(text):
        char = text[index]
        if language == "rkt" and text.startswith("#\\", index):
            index += 3
            continue
        if char in quotes:
            raw = (language, char) in (("sh", "'"), ("go", "`"))
            index = _string_end(text, index, raw)
            kept.append(char * 2)
        else:
            kept.append(char)
        index += 1
    return "".join(kept)


def _string_end(text: str, start: int, raw: bool) -> int:
    """Index of the quote closing the literal opened at `start` (backslash escapes unless `raw`)."""
    index = start + 1
    while index < len(text) and text[index] != text[start]:
        index += 2 if text[index] == "\\" and not raw else 1
    return index


def _closing_paren(code: str, start: int) -> int:
    """Index of the parenthesis closing the one at `start`, or -1 when it never closes."""
    depth = 0
    for index in range(start, len(code)):
        depth += {"(": 1, ")": -1}.get(code[index], 0)
        if depth == 0:
            return index
    return -1


def extract_answer(text: str) -> str:
    """The text of the last [ANSWER] block (to [/ANSWER] or the end), or the whole text stripped.

    Unlike the official vLLM path this drops the reasoning the input prompt asks for ("think
    step by step"); it keeps what the official OpenAI path keeps when the reply is well formed.
    """
    if "[ANSWER]" not in text:
        return text.strip()
    return text.rsplit("[ANSWER]", 1)[1].split("[/ANSWER]", 1)[0].strip()


def official_vllm_answer(text: str) -> str:
    """The official vLLM path's answer, kept to reproduce its numbers: any reasoning stays in.

    Generation stops at [/ANSWER]; the script only deletes "[ANSWER]" and strips, so a model
    that thinks step by step, as the input prompt asks, submits its reasoning as code (a known bug).
    """
    return text.replace("[ANSWER]", "").strip()


# ---- Engine hooks (named in task.yaml) ----

def row_context(row: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """Template fields for a record or few-shot example: language, shown code, answer and gold."""
    language, subtask = row["subset"], row["subtask"]
    wording = str(args.get("wording", "default"))
    if row["fewshot"]:
        example = shot(row, language, subtask)
        return {"language": language, "shown": example["code"], "answer": example["answer"],
                "gold": example["answer"], "wording": wording}
    gold = gold_answer(row, language, subtask)
    return {"language": language, "shown": query_text(row, language, subtask), "gold": gold, "answer": gold,
            "wording": wording}


def _switched_on(value: Any) -> bool:
    return str(value).strip().lower() not in ("false", "0", "no", "off")


def program(answer: str, data: Mapping[str, Any], args: Mapping[str, Any]) -> tuple[str, str] | str:
    """The program to execute for `answer`, or why the guard refuses it (scored as a failure)."""
    language, subtask = data["language"], data["subtask"]
    if _switched_on(args.get("guard", True)):
        violation = guard_violation(answer, language, subtask)
        if violation is not None:
            return violation
    return language, substitute(data, language, subtask, answer)


def summarise(records: Sequence[Any], metrics: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Cross-language views: the mean over languages, and the mean over ids present in every language.

    Languages differ in size (629-799 problems), so the pooled pass@1 weights them unequally; the
    language mean weights each language once. The 501 ids translated into all 19 languages make a
    content-consistent comparison between languages.
    """
    from harness.scoring.aggregate import summarise as summarise_values

    labels = [label for label in metrics["metrics"] if label.startswith("pass@")]
    subsets = metrics["subsets"]
    languages_seen = sorted({subset.split(".")[0] for subset in subsets})
    ids_by_language: dict[str, set[str]] = {}
    for record in records:
        language, _, problem = record.id.split("/")
        ids_by_language.setdefault(language, set()).add(problem)
    common = set.intersection(*ids_by_language.values()) if ids_by_language else set()
    summary: dict[str, Any] = {"languages": languages_seen, "common_ids": len(common)}
    for label in labels:
        for subtask in (*SUBTASKS, None):
            name = f"{label}/{subtask or 'all'}"
            keys = [s for s in subsets if subtask is None or s.endswith(f".{subtask}")]
            values = [subsets[key][label]["value"] for key in keys]
            complete = all(subsets[key][label]["complete"] for key in keys)
            summary[f"{name}/language_mean"] = {
                "value": sum(values) / len(values) if values and None not in values else None,
                "languages": len(values), "complete": complete,
            }
            scores = [record.scores.get(label, float("nan")) for record in records
                      if record.id.split("/")[2] in common and (subtask is None or record.id.split("/")[1] == subtask)]
            summary[f"{name}/common_ids"] = summarise_values(scores, seed) if scores else None
    return summary
