"""The response cache: (model fingerprint, request hash) -> Response, shared by all runs.

SQLite because it is in the standard library, survives SIGKILL mid-write (each chunk is one
transaction, so a killed run leaves either the whole chunk or none of it), and lets several
processes share one file (WAL mode). The key holds the model's identity: lm-eval's cache keys
without it hand one model's answers to another.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Sequence

from harness.types import Response

CACHE_DIR_ENV = "HARNESS_CACHE_DIR"


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness"


class ResponseCache:
    """A persistent map from (fingerprint, request hash) to a Response."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "responses.sqlite"
        # The runner reads on the main thread and writes from the generation thread; one lock
        # serialises them on this connection.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " fingerprint TEXT NOT NULL, request_hash TEXT NOT NULL, response TEXT NOT NULL,"
            " PRIMARY KEY (fingerprint, request_hash))"
        )
        self._db.commit()

    def get_many(self, fingerprint: str, hashes: Sequence[str]) -> dict[str, Response]:
        found: dict[str, Response] = {}
        for start in range(0, len(hashes), 500):
            batch = list(hashes[start:start + 500])
            marks = ",".join("?" * len(batch))
            with self._lock:
                rows = self._db.execute(
                    f"SELECT request_hash, response FROM responses WHERE fingerprint = ? AND request_hash IN ({marks})",
                    [fingerprint, *batch],
                ).fetchall()
            found.update((key, Response.from_json(text)) for key, text in rows)
        return found

    def put_many(self, fingerprint: str, items: Iterable[tuple[str, Response]]) -> None:
        """Store answered requests in one transaction; errored responses are not cached."""
        rows = [(fingerprint, key, response.to_json()) for key, response in items if response.error is None]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()
