"""What `harness sandbox exec|check|build` do; the CLI only parses arguments and prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from harness.errors import UsageError
from harness.sandbox import open_sandbox
from harness.sandbox.languages import language, languages
from harness.sandbox.rootfs import build_all
from harness.sandbox.types import Execution, Limits, Program


def execute_file(language_key: str, path: Path, backend: str, timeout_s: float | None, mode: str) -> Execution:
    """Run one source file; no execution cache, so the result is always a fresh run."""
    language(language_key)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from error
    sandbox = open_sandbox(backend, mode=mode)
    try:
        return sandbox.run([Program(language_key, source)], Limits(timeout_s=timeout_s))[0]
    finally:
        sandbox.close()


@dataclass(frozen=True)
class LanguageCheck:
    key: str
    name: str
    suite: str
    version: str
    available: bool
    detail: str


def check_languages(backend: str, keys: Sequence[str] | None = None) -> list[LanguageCheck]:
    """Each language's self-test: its passing program must pass and its failing one must fail."""
    specs = languages()
    chosen = [specs[key] for key in keys] if keys else list(specs.values())
    sandbox = open_sandbox(backend)
    try:
        programs, owners = [], []
        for spec in chosen:
            for expected in ("pass", "fail"):
                if expected in spec.selftest:
                    programs.append(Program(spec.key, (spec.directory / spec.selftest[expected]).read_text()))
                    owners.append((spec.key, expected))
        outcomes: dict[str, list[str]] = {spec.key: [] for spec in chosen}
        reasons: dict[str, str] = {}
        for (key, expected), execution in zip(owners, sandbox.run(programs)):
            wanted = "passed" if expected == "pass" else "failed"
            if execution.status != wanted:
                outcomes[key].append(f"{expected} program: {execution.status} (expected {wanted}) {execution.reason}")
            if execution.status == "sandbox_error":
                reasons[key] = execution.reason
        version = getattr(sandbox, "toolchain_version", lambda key: "")
        return [LanguageCheck(spec.key, spec.name, spec.suite, version(spec.key) if spec.key not in reasons else "",
                              not outcomes[spec.key] and bool(spec.selftest),
                              reasons.get(spec.key) or "; ".join(outcomes[spec.key]) or
                              ("ok" if spec.selftest else "no self-test programs"))
                for spec in chosen]
    finally:
        sandbox.close()


def build(backend: str, keys: Sequence[str] | None, log: Callable[[str], None]) -> None:
    """Build the toolchain trees and overlays (and, for docker, the images) of the chosen languages."""
    specs = list(languages().values())
    unknown = [key for key in keys or () if key not in languages()]
    if unknown:
        raise UsageError(f"unknown language(s) {', '.join(unknown)}; known: {', '.join(sorted(languages()))}")
    build_all(specs, log, keys or None)
    if backend == "docker":
        from harness.sandbox.images import build_images

        build_images(keys or None, log=log)
