"""Append-only, hash-chained event log in SQLite: every decision of every run, auditable later."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

GENESIS = "0" * 64


@dataclass
class Event:
    seq: int
    ts: float
    run_id: str
    kind: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


def _digest(prev_hash: str, ts: float, run_id: str, kind: str, data_json: str) -> str:
    payload = json.dumps([prev_hash, repr(ts), run_id, kind, data_json], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class AuditLog:
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
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
            cur = db.execute("INSERT INTO events(ts, run_id, kind, data, prev_hash, hash) VALUES (?,?,?,?,?,?)",
                             (ts, run_id, kind, data_json, prev, digest))
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

    def verify(self) -> tuple[bool, str]:
        """Recompute the chain: (True, "n events intact") or (False, where it breaks)."""
        prev = GENESIS
        with self._connect() as db:
            rows = db.execute("SELECT seq, ts, run_id, kind, data, prev_hash, hash FROM events ORDER BY seq").fetchall()
        for seq, ts, run_id, kind, data, prev_hash, digest in rows:
            if prev_hash != prev or _digest(prev_hash, ts, run_id, kind, data) != digest:
                return False, f"chain broken at event {seq}"
            prev = digest
        return True, f"{len(rows)} events intact"
