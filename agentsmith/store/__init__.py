"""Where shared state lives: checkpoints, the run lease, the audit chain and the budget ledger.

One switch picks the backend: with `AGENTSMITH_DATABASE_URL=postgresql://...` every process (CLI,
workers, other machines) shares one PostgreSQL database; without it each machine keeps the embedded
SQLite files under agentsmith home, exactly as a single-user install always has. The graph runner,
the lease, the audit log and the budget ledger ask `current()` for a checkpointer or a connection
and never name a backend themselves.

Connections speak the SQL the embedded store always used (`?` parameters, `BEGIN IMMEDIATE` for a
write lock): the Postgres backend maps those few forms, and owns its own DDL (types and triggers
differ), so the callers' statements stay as they are.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from agentsmith.errors import UserError

if TYPE_CHECKING:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

DATABASE_ENV = "AGENTSMITH_DATABASE_URL"


class StoreError(UserError):
    """The shared database failed a statement or could not be reached: transient, worth a retry."""


class Connection(Protocol):
    """The part of a DB-API connection the callers use (sqlite3.Connection satisfies it)."""

    def execute(self, sql: str, params: Any = ...) -> Any: ...

    def close(self) -> None: ...


class Store(Protocol):
    """A backend for shared state: LangGraph checkpoints plus plain tables (leases, audit, budgets)."""

    shared: bool  # True when other processes and machines see the same state

    def describe(self) -> str: ...

    def checkpointer(self) -> AbstractContextManager[Any]: ...  # a LangGraph BaseCheckpointSaver

    def connect(self, db: Path) -> Connection: ...  # `db`: the SQLite file the embedded store would use


def checkpoint_serde() -> JsonPlusSerializer:
    """The serializer every checkpointer is built with: JSON-able values plus our records, nothing else.

    A checkpoint names the class to rebuild each stored object with, and LangGraph's default imports and
    calls whatever it names (with a warning). A tampered checkpoint database must not get to instantiate
    arbitrary classes in the driver, so only the run's records (agentsmith.records) and LangGraph's own
    safe types are rebuilt; anything else comes back as plain data."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    from agentsmith.records import CHECKPOINT_TYPES

    return JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_cached: tuple[str, Store] | None = None


def current() -> Store:
    """The backend the environment asks for, one per process and URL (tests switch URLs)."""
    global _cached
    url = os.environ.get(DATABASE_ENV, "").strip()
    if _cached and _cached[0] == url:
        return _cached[1]
    if not url:
        from agentsmith.store.sqlite import SqliteStore

        store: Store = SqliteStore()
    elif url.startswith(("postgresql://", "postgres://")):
        from agentsmith.store.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise UserError(
            f"{DATABASE_ENV} is not a PostgreSQL URL: {safe_url(url)}",
            "use postgresql://USER@HOST:PORT/DB, or unset it for the embedded SQLite store",
        )
    _cached = (url, store)
    return store


def require_shared(what: str) -> Store:
    """The shared store, or a one-line error: queued runs must be visible to every worker."""
    store = current()
    if not store.shared:
        raise UserError(
            f"{what} needs the shared database", f"set {DATABASE_ENV}=postgresql://... (see README, Deployment)"
        )
    return store
