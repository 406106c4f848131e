"""Shared state in PostgreSQL: every worker, CLI and machine sees the same runs, leases and audit chain.

Connections are short-lived (one per operation, as with the SQLite files): a Postgres restart then
costs the operations in flight and nothing more, and a connect waits a while for the server to come
back before it gives up with a one-line error.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from agentsmith.store import StoreError, checkpoint_serde, safe_url

# pg_advisory_xact_lock keys. WRITE_LOCK plays SQLite's BEGIN IMMEDIATE: one writer at a time, which
# is what keeps the audit chain one chain when several workers append at once.
WRITE_LOCK = 0x61676E74
SCHEMA_LOCK = 0x61676E75
CONNECT_WAIT_S = float(os.environ.get("AGENTSMITH_DB_WAIT_S", "30"))

# The Postgres shape of the tables the callers create in SQLite (float8, not SQLite's REAL: an epoch
# in float4 is only good to about two minutes, and the audit digest needs the exact double back).
SCHEMA = """
CREATE TABLE IF NOT EXISTS run_leases (
    run_id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, process_start TEXT NOT NULL,
    token TEXT NOT NULL, acquired_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, run_id TEXT NOT NULL, kind TEXT NOT NULL,
    data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, seq);
-- Numbered under the write lock, not by a sequence: a sequence leaves a gap after a failed insert,
-- and a gap is what a deletion looks like to `audit verify`.
CREATE OR REPLACE FUNCTION agentsmith_events_seq() RETURNS trigger AS $$
BEGIN NEW.seq := COALESCE((SELECT max(seq) FROM events), 0) + 1; RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION agentsmith_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$ LANGUAGE plpgsql;
CREATE OR REPLACE TRIGGER events_seq BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION agentsmith_events_seq();
CREATE OR REPLACE TRIGGER events_no_update BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION agentsmith_append_only();
CREATE OR REPLACE TRIGGER events_no_delete BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION agentsmith_append_only();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events EXECUTE FUNCTION agentsmith_append_only();
CREATE TABLE IF NOT EXISTS budgets (
    run_id TEXT PRIMARY KEY, spent_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    tokens_used BIGINT NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS queue_runs (
    run_id TEXT PRIMARY KEY, task TEXT NOT NULL, repo_url TEXT NOT NULL, base TEXT, open_pr BOOLEAN NOT NULL,
    policy TEXT, tier TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    branch TEXT, commit_sha TEXT, pr_url TEXT, worker TEXT, deliveries INTEGER NOT NULL DEFAULT 0,
    submitted_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION);
"""
TRIGGERS = ("events_no_update", "events_no_delete", "events_no_truncate", "events_seq")
_UPSERT_KEYS = {"run_leases": "run_id"}  # tables written with SQLite's INSERT OR REPLACE
_RETURNING = {"events": "seq"}  # tables whose inserts report `lastrowid`
_INSERT_OR_REPLACE = re.compile(r"^INSERT OR REPLACE INTO (\w+)\s*\(([^)]*)\)", re.I)
_INSERT = re.compile(r"^INSERT INTO (\w+)", re.I)


def _translate(sql: str) -> tuple[str, str | None]:
    """SQLite's spelling of a statement in Postgres's, and the column an INSERT should return."""
    sql = sql.strip().replace("%", "%%").replace("?", "%s")
    replace = _INSERT_OR_REPLACE.match(sql)
    if replace:
        table, columns = replace.group(1), [c.strip() for c in replace.group(2).split(",")]
        key = _UPSERT_KEYS[table]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
        sql = f"INSERT INTO{sql[len('INSERT OR REPLACE INTO') :]} ON CONFLICT ({key}) DO UPDATE SET {updates}"
    insert = _INSERT.match(sql)
    returning = _RETURNING.get(insert.group(1)) if insert and "RETURNING" not in sql.upper() else None
    if returning:
        sql += f" RETURNING {returning}"
    return sql, returning


class _Result:
    def __init__(self, cursor: psycopg.Cursor | None, returning: str | None = None) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount if cursor is not None else -1
        self.lastrowid = None
        if cursor is not None and returning:
            row = cursor.fetchone()
            self.lastrowid = row[0] if row else None

    def fetchone(self) -> tuple | None:
        return self._cursor.fetchone() if self._cursor is not None and self._cursor.description else None

    def fetchall(self) -> list[tuple]:
        return self._cursor.fetchall() if self._cursor is not None and self._cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    """A Postgres connection that accepts the statements the SQLite callers send."""

    def __init__(self, raw: psycopg.Connection, url: str) -> None:
        self.raw, self.url = raw, url

    def execute(self, sql: str, params: Any = ()) -> _Result:
        head = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
        if head in ("PRAGMA", "CREATE"):
            return _Result(None)  # journal modes and DDL: the schema is this module's (SCHEMA)
        try:
            if sql.strip().upper() == "BEGIN IMMEDIATE":
                self.raw.execute("BEGIN")
                self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                return _Result(None)
            statement, returning = _translate(sql)
            return _Result(self.raw.execute(statement, tuple(params)), returning)
        except psycopg.Error as err:
            raise StoreError(
                f"the shared database {safe_url(self.url)} failed a statement "
                f"({type(err).__name__}: {str(err).strip().splitlines()[0][:200]})",
                "it is retried; if it persists, check the PostgreSQL server and its log",
            ) from err

    def executescript(self, script: str) -> None:
        """SQLite DDL scripts: the Postgres schema is SCHEMA, created once per process."""

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        # sqlite3's `with` commits; these connections are per operation, so the block also closes it.
        try:
            if self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE and not self.raw.closed:
                self.raw.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            self.raw.close()


class PostgresStore:
    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._ready = False

    def describe(self) -> str:
        return f"PostgreSQL at {safe_url(self.url)}"

    def raw_connect(self, **kwargs: Any) -> psycopg.Connection:
        """A new autocommit connection; waits up to AGENTSMITH_DB_WAIT_S for a server that restarts."""
        deadline = time.monotonic() + CONNECT_WAIT_S
        while True:
            try:
                return psycopg.connect(self.url, autocommit=True, connect_timeout=5, **kwargs)
            except psycopg.OperationalError as err:
                if time.monotonic() >= deadline:
                    detail = (str(err).strip().splitlines() or ["no answer"])[-1][:160]
                    raise StoreError(
                        f"the shared database {safe_url(self.url)} is unreachable ({detail})",
                        "start PostgreSQL or fix AGENTSMITH_DATABASE_URL (unset it to use the embedded SQLite store)",
                    ) from None
                time.sleep(0.5)

    def ensure_schema(self) -> None:
        if self._ready:
            return
        from langgraph.checkpoint.postgres import PostgresSaver

        with self.raw_connect(prepare_threshold=0, row_factory=dict_row) as conn:
            # Workers start together: concurrent CREATE ... IF NOT EXISTS can still collide, so serialise. Poll,
            # not block: the checkpointer's CREATE INDEX CONCURRENTLY waits for every open transaction, and a
            # blocked pg_advisory_lock call is one (a deadlock, seen with four processes).
            while not conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SCHEMA_LOCK,)).fetchone()["ok"]:
                time.sleep(0.2)
            try:
                conn.execute(SCHEMA, prepare=False)
                PostgresSaver(conn, serde=checkpoint_serde()).setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))
        self._ready = True

    @contextmanager
    def checkpointer(self) -> Iterator[Any]:
        from langgraph.checkpoint.postgres import PostgresSaver

        self.ensure_schema()
        conn = self.raw_connect(prepare_threshold=0, row_factory=dict_row)
        try:
            yield PostgresSaver(conn, serde=checkpoint_serde())
        finally:
            conn.close()

    def connect(self, db: Path | None = None) -> PgConnection:
        self.ensure_schema()
        return PgConnection(self.raw_connect(), self.url)


def check_chain(store: PostgresStore) -> Any:
    """`audit verify` over the shared chain: the same checks as for the SQLite file, minus its sequence table."""
    from agentsmith.audit.verify import GENESIS, Row, Verdict, first_break

    with store.connect() as db:
        rows = [
            Row(*r)
            for r in db.execute(
                "SELECT seq, ts, run_id, kind, data, prev_hash, hash FROM events ORDER BY seq"
            ).fetchall()
        ]
        triggers = {r[0] for r in db.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass")}
    verdict = Verdict(events=len(rows), head=rows[-1].hash if rows else GENESIS)
    broken = first_break(rows)
    if broken:
        verdict.first_bad, message = broken
        verdict.problems.append(message)
    missing = [t for t in TRIGGERS if t not in triggers]
    if missing:
        verdict.problems.append(f"the append-only trigger(s) {', '.join(missing)} were dropped")
    return verdict
