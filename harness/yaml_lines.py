"""YAML loading that remembers where each key was written.

A malformed task.yaml or leaderboard spec must be reported as `FILE:LINE: key 'x.y': what is
wrong`, so the loader keeps the line of every mapping key beside the parsed data. It is core, not
part of the task engine, because reports validate their own YAML with it.
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
    """SafeLoader whose mappings are LineDicts."""


def _construct_line_dict(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.lines = {str(loader.construct_object(key, deep=True)): key.start_mark.line + 1 for key, _ in node.value}
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_line_dict)


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
