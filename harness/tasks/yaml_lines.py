"""YAML loading that remembers where each key was written.

A malformed task.yaml must be reported as `task.yaml:LINE: key 'x.y': what is wrong`, so the
loader keeps the line of every mapping key beside the parsed data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import UsageError


class LineDict(dict):
    """A dict that also knows the 1-based line of each of its keys."""

    lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        mapping = LineDict(super().construct_mapping(node, deep=deep))
        mapping.lines = {
            str(self.construct_object(key_node, deep=deep)): key_node.start_mark.line + 1
            for key_node, _ in node.value
        }
        return mapping


def load_yaml_with_lines(path: Path) -> Any:
    """Parse YAML; a syntax error becomes a UsageError with file and line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path}{line}: invalid YAML: {error.problem}") from error


def line_of(mapping: Any, key: str) -> int | None:
    """The line where `key` was written in `mapping`, when known."""
    return getattr(mapping, "lines", {}).get(key)
