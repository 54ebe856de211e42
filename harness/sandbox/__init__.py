"""Sandboxes: run untrusted programs in many languages, isolated, with verdicts by official rules."""

from __future__ import annotations

from typing import Any

from harness.errors import UsageError
from harness.sandbox.types import STATUSES, Execution, Limits, Program, Sandbox, Status

__all__ = ["STATUSES", "Execution", "Limits", "Program", "Sandbox", "Status", "open_sandbox"]


def open_sandbox(backend: str = "local", **options: Any) -> Sandbox:
    """`local` (bubblewrap; what tests and CI use) or `docker` (production; needs the docker extra)."""
    if backend == "local":
        from harness.sandbox.local import LocalSandbox

        return LocalSandbox(**options)
    if backend == "docker":
        from harness.sandbox.docker import DockerSandbox

        return DockerSandbox(**options)
    raise UsageError(f"unknown sandbox backend {backend!r}; use local or docker")
