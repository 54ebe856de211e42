"""Validation of YAML specs with errors that name the file, line and key (task and leaderboard specs).

A typo in a key must fail at load time, pointing at the line, rather than be silently ignored
and change a score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.yaml_lines import line_of


class SpecChecker:
    """Raises UsageErrors that point at the YAML line of the offending key (task and leaderboard specs)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, mapping: Any, key: str, message: str) -> None:
        line = line_of(mapping, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        raise UsageError(f"{where}: key {key!r}: {message}")

    def known_keys(self, mapping: Any, allowed: set[str], context: str) -> None:
        if not isinstance(mapping, dict):
            raise UsageError(f"{self.path}: {context} must be a mapping, got {type(mapping).__name__}")
        for key in mapping:
            if key not in allowed:
                self.fail(mapping, key, f"unknown key in {context}; allowed: {', '.join(sorted(allowed))}")

    def require(self, mapping: Any, key: str, kind: type | tuple[type, ...], context: str) -> Any:
        if key not in mapping:
            raise UsageError(f"{self.path}: {context} is missing required key {key!r}")
        return self.typed(mapping, key, kind)

    def typed(self, mapping: Any, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = mapping.get(key, default)
        if value is not None and not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(mapping, key, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def choice(self, mapping: Any, key: str, allowed: set[str], default: str) -> str:
        value = mapping.get(key, default)
        if value not in allowed:
            self.fail(mapping, key, f"{value!r} is not one of {', '.join(sorted(allowed))}")
        return value
