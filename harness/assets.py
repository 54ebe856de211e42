"""Where the declarative folders (tasks/, sandboxes/, leaderboards/, runners/, suites/) live.

In a wheel they are package data under `harness/_assets/`; in a source checkout (editable
install, or running from the repo) they are the repository's top-level folders.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def asset_dir(kind: str) -> Path:
    """The built-in folder for `kind` (tasks, sandboxes, leaderboards, runners or suites)."""
    packaged = PACKAGE_DIR / "_assets" / kind
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent / kind
