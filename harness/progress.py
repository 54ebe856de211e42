"""The progress protocol: what long work reports while it runs (a run, a leaderboard build).

It lives in the core, not in a runner, so a report can show progress without importing the
engine that runs tasks.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What the work reports while it runs; the CLI shows it as a progress bar."""

    def start(self, total: int, completed: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def stop(self) -> None: ...


class SilentProgress:
    """Progress that nobody watches (the API without a console, tests)."""

    def start(self, total: int, completed: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def stop(self) -> None:
        pass
