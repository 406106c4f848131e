"""The embedded default: SQLite files under agentsmith home, one machine, no server to run."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from agentsmith.config import checkpoints_db
from agentsmith.store import checkpoint_serde


class SqliteStore:
    shared = False

    def describe(self) -> str:
        return f"SQLite files in {checkpoints_db().parent}"

    @contextmanager
    def checkpointer(self) -> Iterator[SqliteSaver]:
        conn = sqlite3.connect(checkpoints_db(), check_same_thread=False, timeout=30)
        try:
            yield SqliteSaver(conn, serde=checkpoint_serde())
        finally:
            conn.close()

    def connect(self, db: Path) -> sqlite3.Connection:
        # Autocommit mode: callers open transactions explicitly (BEGIN IMMEDIATE where they decide).
        return sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
