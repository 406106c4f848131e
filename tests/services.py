"""The scaled mode's real services for tests and benchmarks: a fresh PostgreSQL database and a fresh Redis
key prefix per session, on the servers `scripts/setup.d/70-services.sh` started (URLs in services.env)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REAL_HOME = Path(
    os.environ.get("AGENTSMITH_HOME")
    or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "agentsmith"
)
SERVICES_ENV = REAL_HOME / "services.env"


def configured() -> dict[str, str] | None:
    if not SERVICES_ENV.is_file():
        return None
    pairs = (line.split("=", 1) for line in SERVICES_ENV.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def fresh_services(label: str = "test") -> Iterator[dict[str, str]]:
    """Env for a session: its own database (dropped after) and its own Redis key prefix (deleted after)."""
    import psycopg
    import redis

    urls = configured()
    if urls is None:
        raise RuntimeError(f"{SERVICES_ENV} is missing: run scripts/setup.d/70-services.sh")
    name = f"agentsmith_{label}_{secrets.token_hex(4)}"
    admin = _with_database(urls["AGENTSMITH_DATABASE_URL"], "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    prefix = f"{name}:"
    try:
        yield {
            "AGENTSMITH_DATABASE_URL": _with_database(urls["AGENTSMITH_DATABASE_URL"], name),
            "AGENTSMITH_BROKER_URL": urls["AGENTSMITH_BROKER_URL"],
            "AGENTSMITH_BROKER_PREFIX": prefix,
        }
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(urls["AGENTSMITH_BROKER_URL"])
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
