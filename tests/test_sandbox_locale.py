"""The official image's locale by default: LANG=C.UTF-8 (its Dockerfile's `ENV LANG=C.UTF-8`),
with POSIX (no LANG) as a sandbox option.

Four CRUXEval-X gold programs depend on the locale (their expected values come from Python):
r 340 (`sort`, ICU collation under UTF-8) and sh 541 (`grep '[[:space:]]'` on U+3000) pass only
under POSIX; r 162 (`[[:alnum:]]`/`toupper` on Cyrillic) and r 541 (`[[:space:]]` on U+3000) only
under UTF-8. The task README, "Locale", records the measurement behind that list.
"""

from __future__ import annotations

import pytest

from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Program
from tests.sandbox_support import gold_records, require_language

POSIX_ONLY = (("r", "340"), ("sh", "541"))
UTF8_ONLY = (("r", "162"), ("r", "541"))


def _statuses(sandbox: LocalSandbox, cases: tuple[tuple[str, str], ...]) -> dict[str, str]:
    for language, _ in cases:
        require_language(language)
    programs = [Program(language, next(row["code"] for row in gold_records(language) if str(row["id"]) == key))
                for language, key in cases]
    return {f"{p.language} {key}": e.status
            for p, (_, key), e in zip(programs, cases, sandbox.run(programs))}


def test_programs_get_the_official_images_lang_by_default_and_none_under_posix() -> None:
    spec = LocalSandbox().specs["py"]
    assert LocalSandbox().environment(spec).get("LANG") == "C.UTF-8"
    assert "LANG" not in LocalSandbox(locale="POSIX").environment(spec)


@pytest.mark.parametrize("locale, passing, failing", [
    ("POSIX", POSIX_ONLY, UTF8_ONLY), ("C.UTF-8", UTF8_ONLY, POSIX_ONLY)])
def test_locale_dependent_gold_programs_follow_the_locale(
        locale: str, passing: tuple, failing: tuple) -> None:
    statuses = _statuses(LocalSandbox(locale=locale), passing + failing)
    expected = {f"{lang} {key}": "passed" for lang, key in passing} | {
        f"{lang} {key}": "failed" for lang, key in failing}
    assert statuses == expected
