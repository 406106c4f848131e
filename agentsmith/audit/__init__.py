"""Append-only, hash-chained event log in SQLite: every decision of every run, auditable later."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentsmith import store
from agentsmith.audit.verify import GENESIS, check_chain
from agentsmith.audit.verify import digest as _digest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, seq);
-- Append-only: the database itself refuses edits and deletions.
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


@dataclass
class Event:
    seq: int
    ts: float
    run_id: str
    kind: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


class AuditLog:
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # The store decides where the chain lives: this SQLite file, or the shared database
        # (agentsmith.store), where BEGIN IMMEDIATE takes the same one-writer lock across machines.
        db = store.current().connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def append(self, run_id: str, kind: str, data: dict[str, Any]) -> Event:
        data_json = json.dumps(data, sort_keys=True, default=str)
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # serialises writers across processes too
            row = db.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            prev = row[0] if row else GENESIS
            ts = time.time()
            digest = _digest(prev, ts, run_id, kind, data_json)
            cur = db.execute(
                "INSERT INTO events(ts, run_id, kind, data, prev_hash, hash) VALUES (?,?,?,?,?,?)",
                (ts, run_id, kind, data_json, prev, digest),
            )
            db.execute("COMMIT")
            return Event(cur.lastrowid, ts, run_id, kind, data, prev, digest)

    def events(self, run_id: str | None = None, kinds: tuple[str, ...] = ()) -> list[Event]:
        query, params = "SELECT seq, ts, run_id, kind, data, prev_hash, hash FROM events", []
        clauses = []
        if run_id:
            clauses.append("run_id = ?")
            params.append(run_id)
        if kinds:
            clauses.append(f"kind IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY seq", params).fetchall()
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def head(self) -> str:
        """The newest event's hash: what an agent commit records to anchor the chain in git."""
        with self._connect() as db:
            row = db.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else GENESIS

    def verify(self) -> tuple[bool, str]:
        """(True, "n events intact") or (False, the first bad event); `agentsmith audit verify` says more."""
        shared = store.current()
        if shared.shared:
            from agentsmith.store.postgres import check_chain as check_shared_chain

            verdict = check_shared_chain(shared)
        else:
            verdict = check_chain(self.path)
        return verdict.intact, verdict.detail
