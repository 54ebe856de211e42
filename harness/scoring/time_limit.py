"""A wall-clock limit for sympy calls that may never return (`simplify` on a hostile expression).

Official MATH graders use `signal.alarm`, which Python only allows in the main thread: called
from a worker thread it raises ValueError, and a grader that catches every exception (as
lm-eval's Minerva `is_equiv` does) would then score every answer wrong, silently. So:

- in the main thread we use SIGALRM as the official code does, with sub-second precision, and we
  restore any timer a caller had armed (pytest-timeout, an outer math-verify call);
- in any other thread we run the call in a daemon helper thread and stop waiting after the limit.
  Python cannot kill a thread, so a timed-out call keeps one core busy until sympy returns, but
  the verdict (TimeoutError, scored wrong) is the same as in the main thread and the caller is
  never blocked. A process guard would kill the work, but forking a threaded process per answer
  costs more than the sympy calls it guards.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any, Callable, TypeVar

from harness.errors import UsageError

T = TypeVar("T")


def call_with_time_limit(function: Callable[[], T], seconds: float | None) -> T:
    """`function()`, or TimeoutError after `seconds` of wall-clock time; None means no limit."""
    if seconds is None:
        return function()
    if seconds <= 0:
        raise UsageError(f"timeout_seconds must be positive (or null for no limit), got {seconds}")
    if hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread():
        return _call_with_alarm(function, seconds)
    return _call_in_helper_thread(function, seconds)


def _call_with_alarm(function: Callable[[], T], seconds: float) -> T:
    def interrupt(signum: int, frame: Any) -> None:
        raise TimeoutError(f"gave up after {seconds} s")

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, interrupt)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            remaining = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-3), previous_interval)


def _call_in_helper_thread(function: Callable[[], T], seconds: float) -> T:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    helper = threading.Thread(target=run, name="time-limited-call", daemon=True)
    helper.start()
    helper.join(seconds)
    if helper.is_alive():
        raise TimeoutError(f"gave up after {seconds} s (the call runs on in a daemon thread)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
