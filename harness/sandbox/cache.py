"""The execution cache: (toolchain, mode, limits, program hash) -> Execution, shared by all runs.

Many programs repeat: an oracle run executes each gold program for both subtasks, and models
often give the same answer. The key holds everything a verdict depends on besides the source,
so a changed language.toml or toolchain never reuses an old verdict. Timeouts and sandbox
errors are not stored: they can depend on load or on the machine, not only on the program.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Mapping, Sequence

from harness.sandbox.types import Execution

NOT_CACHED = frozenset({"timeout", "sandbox_error"})


def execution_key(toolchain: str, mode: str, limits_key: str, source_hash: str) -> str:
    return hashlib.sha256(f"{toolchain}\0{mode}\0{limits_key}\0{source_hash}".encode()).hexdigest()


class ExecutionCache:
    """SQLite in WAL mode, so parallel runs and test workers share one file safely."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(directory / "executions.sqlite", timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS executions (key TEXT PRIMARY KEY, execution TEXT NOT NULL)")
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, Execution]:
        found: dict[str, Execution] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = list(keys[start:start + 500])
                rows = self._db.execute(
                    f"SELECT key, execution FROM executions WHERE key IN ({','.join('?' * len(batch))})", batch)
                for key, text in rows:
                    data = json.loads(text)
                    found[key] = Execution(**{**data, "cached": True})
        return found

    def put_many(self, items: Mapping[str, Execution]) -> None:
        rows = [(key, json.dumps(execution.as_dict())) for key, execution in items.items()
                if execution.status not in NOT_CACHED]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO executions VALUES (?, ?)", rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()
