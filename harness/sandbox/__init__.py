"""Sandboxes: run untrusted programs in many languages, isolated, with verdicts by official rules."""

from __future__ import annotations

from typing import Any

from harness.registry import SANDBOXES
from harness.sandbox.types import STATUSES, Execution, Limits, Program, Sandbox, Status

__all__ = ["STATUSES", "Execution", "Limits", "Program", "Sandbox", "Status", "open_sandbox"]


def open_sandbox(backend: str = "local", **options: Any) -> Sandbox:
    """The backend registered as `backend`: built in, `local` (bubblewrap; what tests and CI use)
    and `docker` (production; needs the docker extra); a package adds others through the
    `harness.sandboxes` entry-point group. Backends are imported only when opened."""
    return SANDBOXES.get(backend)(**options)
