"""Language descriptions: `sandboxes/<lang>/language.toml`, one small declarative file per language.

Adding a language means adding a folder; no Python changes. The file says which Debian suite
and packages provide the toolchain, how a program is compiled and run (the official commands,
and optionally faster ones that must give the same verdicts), and the pass rule, which for some
benchmarks is not just "exit code 0" (mono exits 0 on a failed Debug.Assert; rackunit prints
failures to stderr and exits 0).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from harness.assets import asset_dir
from harness.errors import UsageError

TOP_KEYS = {"name", "suite", "packages", "source_file", "version_command", "toolchain", "setup", "env",
            "compile", "run", "pass", "fast", "batch_compile", "warm", "selftest"}
STEP_KEYS = {"command", "timeout_s"}
PASS_KEYS = {"exit_codes", "stderr_must_be_empty", "fail_if_stdout_contains", "fail_if_stderr_contains",
             "compile_error_if_output_contains"}
FAST_KEYS = {"compile", "run"}
BATCH_KEYS = {"command", "timeout_s", "run"}
SELFTEST_KEYS = {"pass", "fail"}


@dataclass(frozen=True)
class Step:
    command: str
    timeout_s: float


@dataclass(frozen=True)
class PassRule:
    """The official pass rule: exit code plus, where the official executor needs them, output patterns."""

    exit_codes: tuple[int, ...] = (0,)
    stderr_must_be_empty: bool = False
    fail_if_stdout_contains: tuple[str, ...] = ()
    fail_if_stderr_contains: tuple[str, ...] = ()
    compile_error_if_output_contains: tuple[str, ...] = ()


@dataclass(frozen=True)
class LanguageSpec:
    key: str
    name: str
    directory: Path
    suite: str
    packages: tuple[str, ...]
    source_file: str
    version_command: str
    toolchain: tuple[str, ...]
    setup: tuple[str, ...]
    env: Mapping[str, str]
    compile: Step | None
    run: Step
    passing: PassRule
    fast_compile: str | None = None
    fast_run: str | None = None
    batch_compile: Step | None = None
    # For a language whose official command compiles and runs in one step (D's `rdmd`, `go test`):
    # how a program its batch compiler built is run; the others keep the one-step command.
    batch_run: str | None = None
    warm: Step | None = None
    selftest: Mapping[str, str] = field(default_factory=dict)

    @property
    def batch_builds(self) -> bool:
        """Whether a `[batch_compile]` has something to replace: a compile step, or a one-step
        command with a `run` for what the batch built."""
        return self.batch_compile is not None and (self.compile is not None or self.batch_run is not None)

    def commands(self, mode: str) -> tuple[Step | None, Step]:
        """Compile and run steps for `plain` (the official commands) or `fast` (amortised) mode."""
        if mode == "plain":
            return self.compile, self.run
        compile_step = self.compile
        if compile_step is not None and self.fast_compile:
            compile_step = Step(self.fast_compile, compile_step.timeout_s)
        run_step = Step(self.fast_run, self.run.timeout_s) if self.fast_run else self.run
        return compile_step, run_step

    def content_hash(self) -> str:
        """Hash of the language folder: part of the toolchain identity that keys the execution cache."""
        digest = hashlib.sha256()
        for path in sorted(p for p in self.directory.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(self.directory)).encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _check_keys(table: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(table, dict):
        raise UsageError(f"{where}: expected a table, got {type(table).__name__}")
    unknown = set(table) - allowed
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    return table


def _batch_step(table: Any, where: str) -> Step:
    table = _check_keys(table, BATCH_KEYS, where)
    if "run" in table and not isinstance(table["run"], str):
        raise UsageError(f"{where}: `run` must be a command string, got {table['run']!r}")
    return _step({key: value for key, value in table.items() if key != "run"}, where)


def _step(table: Any, where: str) -> Step:
    table = _check_keys(table, STEP_KEYS, where)
    if not isinstance(table.get("command"), str):
        raise UsageError(f"{where}: needs `command = \"...\"`")
    return Step(table["command"], float(table.get("timeout_s", 15)))


def _pass_rule(table: Any, where: str) -> PassRule:
    table = _check_keys(table, PASS_KEYS, where)
    return PassRule(
        exit_codes=tuple(int(code) for code in table.get("exit_codes", [0])),
        stderr_must_be_empty=bool(table.get("stderr_must_be_empty", False)),
        fail_if_stdout_contains=_strings(table.get("fail_if_stdout_contains", []), where),
        fail_if_stderr_contains=_strings(table.get("fail_if_stderr_contains", []), where),
        compile_error_if_output_contains=_strings(table.get("compile_error_if_output_contains", []), where),
    )


def load_language(path: Path) -> LanguageSpec:
    """Parse and validate one language.toml; errors name the file and the key."""
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"{where}: {error}") from error
    _check_keys(raw, TOP_KEYS, where)
    for key in ("name", "suite", "source_file", "run"):
        if key not in raw:
            raise UsageError(f"{where}: missing required key {key!r}")
    fast = _check_keys(raw.get("fast", {}), FAST_KEYS, f"{where} [fast]")
    env = _check_keys(raw.get("env", {}), set(raw.get("env", {})), f"{where} [env]")
    return LanguageSpec(
        key=path.parent.name,
        name=str(raw["name"]),
        directory=path.parent,
        suite=str(raw["suite"]),
        packages=_strings(raw.get("packages", []), f"{where} packages"),
        source_file=str(raw["source_file"]),
        version_command=str(raw.get("version_command", "")),
        toolchain=_strings(raw.get("toolchain", []), f"{where} toolchain"),
        setup=_strings(raw.get("setup", []), f"{where} setup"),
        env={str(k): str(v) for k, v in env.items()},
        compile=_step(raw["compile"], f"{where} [compile]") if "compile" in raw else None,
        run=_step(raw["run"], f"{where} [run]"),
        passing=_pass_rule(raw.get("pass", {}), f"{where} [pass]"),
        fast_compile=fast.get("compile"),
        fast_run=fast.get("run"),
        batch_compile=_batch_step(raw["batch_compile"], f"{where} [batch_compile]") if "batch_compile" in raw else None,
        batch_run=raw.get("batch_compile", {}).get("run"),
        warm=_step(raw["warm"], f"{where} [warm]") if "warm" in raw else None,
        selftest=dict(_check_keys(raw.get("selftest", {}), SELFTEST_KEYS, f"{where} [selftest]")),
    )


@lru_cache(maxsize=None)
def languages(root: Path | None = None) -> dict[str, LanguageSpec]:
    """Every language under `root` (default: the built-in `sandboxes/` folder), by key."""
    folder = root or asset_dir("sandboxes")
    return {path.parent.name: load_language(path) for path in sorted(folder.glob("*/language.toml"))}


def language(key: str, root: Path | None = None) -> LanguageSpec:
    known = languages(root)
    if key not in known:
        raise UsageError(f"unknown language {key!r}; known: {', '.join(sorted(known)) or 'none'} "
                         "(add a folder sandboxes/<key>/ with a language.toml)")
    return known[key]
