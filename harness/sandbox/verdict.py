"""From what a compile and a run step did to a status, by the language's official pass rule."""

from __future__ import annotations

from harness.sandbox.languages import PassRule
from harness.sandbox.process import StepResult
from harness.sandbox.types import Execution


def _limit_status(step: StepResult, duration: float, phase: str) -> Execution | None:
    if step.sandbox_failure:
        return Execution("sandbox_error", step.exit_code, duration, step.stdout, step.stderr,
                         f"{phase}: sandbox failed to start: {step.sandbox_failure}")
    if step.timed_out:
        return Execution("timeout", None, duration, step.stdout, step.stderr, f"{phase} timed out")
    if step.out_of_memory:
        return Execution("memory", step.exit_code, duration, step.stdout, step.stderr, f"{phase} ran out of memory")
    if step.output_limited:
        return Execution("output_limit", step.exit_code, duration, step.stdout, step.stderr,
                         f"{phase} wrote more than the output limit")
    return None


def compile_verdict(step: StepResult) -> Execution | None:
    """None if compilation succeeded; otherwise the final verdict."""
    limited = _limit_status(step, step.duration_s, "compilation")
    if limited is not None:
        return limited
    if step.exit_code != 0:
        return Execution("compile_error", step.exit_code, step.duration_s, step.stdout, step.stderr,
                         f"compiler exited {step.exit_code}")
    return None


def run_verdict(rule: PassRule, step: StepResult, compile_s: float) -> Execution:
    duration = compile_s + step.duration_s
    limited = _limit_status(step, duration, "run")
    if limited is not None:
        return limited

    def verdict(status: str, reason: str = "") -> Execution:
        return Execution(status, step.exit_code, duration, step.stdout, step.stderr, reason)  # type: ignore[arg-type]

    output = step.stdout + step.stderr
    for pattern in rule.compile_error_if_output_contains:
        if pattern in output:
            return verdict("compile_error", f"output contains {pattern!r}")
    if step.exit_code not in rule.exit_codes:
        return verdict("failed", f"exit code {step.exit_code}")
    if rule.stderr_must_be_empty and step.stderr:
        return verdict("failed", "stderr is not empty")
    for pattern in rule.fail_if_stdout_contains:
        if pattern in step.stdout:
            return verdict("failed", f"stdout contains {pattern!r}")
    for pattern in rule.fail_if_stderr_contains:
        if pattern in step.stderr:
            return verdict("failed", f"stderr contains {pattern!r}")
    return verdict("passed")
