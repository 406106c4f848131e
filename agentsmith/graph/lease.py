"""One driver per run: a lease in the checkpoint store, renewed while its process lives.

Two processes driving one run load two models, apply two answers to one worktree and race to
remove it (seen: a resume started beside a live run died with "not a git repository" after the
commit). So a process takes the run's lease before it drives, renews it while alive and gives it
back on exit. A lease is taken over only when its holder is provably gone: its pid is dead on this
host (a reused pid is told apart by the process start time), or it stopped renewing (another host,
or a frozen process). The table sits beside the checkpoints, so it is shared wherever they are.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentsmith import store
from agentsmith.config import checkpoints_db
from agentsmith.errors import UserError

TTL_S = 90.0  # a holder that has not renewed for this long is gone, wherever it runs
RENEW_EVERY_S = 15.0  # several renewals fit in one TTL, so a slow disk or a busy lock does not lose it

_SCHEMA = """CREATE TABLE IF NOT EXISTS run_leases (
    run_id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, process_start TEXT NOT NULL,
    token TEXT NOT NULL, acquired_at REAL NOT NULL, expires_at REAL NOT NULL)"""


class RunInUse(UserError):
    """Another live process drives this run."""


class LeaseLost(UserError):
    """This process stalled past its lease and another process took the run over."""


@dataclass(frozen=True)
class Driver:
    """The process that holds (or held) a run's lease."""

    pid: int
    host: str
    process_start: str
    acquired_at: float
    expires_at: float

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"

    def gone_reason(self, now: float | None = None) -> str | None:
        """Why this driver is provably gone, or None while it may still be driving."""
        now = time.time() if now is None else now
        if self.expires_at < now:
            return f"its lease expired at {time.strftime('%H:%M:%S', time.localtime(self.expires_at))}"
        if self.host != socket.gethostname():
            return None  # another machine's process: only its lease's expiry tells
        current = process_start(self.pid)
        if current is None:
            return f"process {self.pid} has exited"
        if self.process_start and current != self.process_start:
            return f"pid {self.pid} now belongs to another process"
        return None

    def to_dict(self) -> dict[str, Any]:
        gone = self.gone_reason()
        return asdict(self) | {"alive": gone is None, "gone_reason": gone}


def process_start(pid: int) -> str | None:
    """An identity for a live process: boot id and start time. None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _alive_without_proc(pid)
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None  # a zombie is dead; only its parent has not collected it yet
    return f"{_boot_id()}:{fields[19]}"


def _alive_without_proc(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _connect(path: Path | None = None) -> sqlite3.Connection:
    # Autocommit mode: transactions are opened explicitly, BEGIN IMMEDIATE where a decision is made.
    # The store decides where: the SQLite checkpoints file, or the shared database (agentsmith.store).
    conn = store.current().connect(path or checkpoints_db())
    conn.execute(_SCHEMA)
    return conn


def _driver(row: tuple) -> Driver:
    pid, host, start, acquired_at, expires_at = row
    return Driver(pid=pid, host=host, process_start=start, acquired_at=acquired_at, expires_at=expires_at)


_COLUMNS = "pid, host, process_start, acquired_at, expires_at"


def current_driver(run_id: str) -> Driver | None:
    """The run's lease holder, alive or not; None when nobody holds it."""
    conn = _connect()
    try:
        row = conn.execute(f"SELECT {_COLUMNS} FROM run_leases WHERE run_id = ?", (run_id,)).fetchone()
    finally:
        conn.close()
    return _driver(row) if row else None


def all_drivers() -> dict[str, Driver]:
    conn = _connect()
    try:
        rows = conn.execute(f"SELECT run_id, {_COLUMNS} FROM run_leases").fetchall()
    finally:
        conn.close()
    return {row[0]: _driver(row[1:]) for row in rows}


class Lease:
    """A held lease. `took_over` names the dead driver it replaced, if any."""

    def __init__(self, run_id: str, token: str, driver: Driver, took_over: Driver | None, reason: str | None) -> None:
        self.run_id, self.token, self.driver = run_id, token, driver
        self.took_over, self.takeover_reason = took_over, reason
        self.lost_to: Driver | None = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_until_released, name=f"lease-{run_id}", daemon=True)

    def check(self) -> None:
        """Stop driving once another process holds the run (it took over a lease this process let expire)."""
        if self.lost_to is not None:
            raise LeaseLost(
                f"run {self.run_id} was taken over by {self.lost_to.describe()} while this process "
                "stalled past its lease",
                "this process stops; the other one drives the run",
            )

    def _renew_until_released(self) -> None:
        conn = _connect()
        try:
            while not self._stop.wait(RENEW_EVERY_S):
                try:
                    renewed = conn.execute(
                        "UPDATE run_leases SET expires_at = ? WHERE run_id = ? AND token = ?",
                        (time.time() + TTL_S, self.run_id, self.token),
                    ).rowcount
                except (sqlite3.Error, store.StoreError):
                    continue  # a busy store: the next renewal comes well before the lease expires
                if not renewed:
                    row = conn.execute(f"SELECT {_COLUMNS} FROM run_leases WHERE run_id = ?", (self.run_id,)).fetchone()
                    self.lost_to = _driver(row) if row else self.driver
                    return
        finally:
            conn.close()

    def release(self) -> None:
        self._stop.set()
        conn = _connect()
        try:
            conn.execute("DELETE FROM run_leases WHERE run_id = ? AND token = ?", (self.run_id, self.token))
        finally:
            conn.close()


def acquire(run_id: str) -> Lease:
    """Take the run's lease, or raise RunInUse naming the live process that holds it."""
    pid = os.getpid()
    token = secrets.token_hex(8)
    conn = _connect()
    try:
        # BEGIN IMMEDIATE takes the write lock before reading: of two racing processes, the second reads
        # the first one's row and is refused instead of both seeing none.
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(f"SELECT {_COLUMNS} FROM run_leases WHERE run_id = ?", (run_id,)).fetchone()
            holder = _driver(row) if row else None
            reason = holder.gone_reason() if holder else None
            if holder and reason is None:
                raise RunInUse(
                    f"run {run_id} is being driven by {holder.describe()} (since "
                    f"{time.strftime('%H:%M:%S', time.localtime(holder.acquired_at))})",
                    f"wait for it to finish (`agentsmith status {run_id}`), or stop that process "
                    f"(`kill {holder.pid}`) and then `agentsmith resume {run_id}`",
                )
            now = time.time()
            mine = Driver(
                pid=pid,
                host=socket.gethostname(),
                process_start=process_start(pid) or "",
                acquired_at=now,
                expires_at=now + TTL_S,
            )
            conn.execute(
                f"INSERT OR REPLACE INTO run_leases (run_id, token, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, token, mine.pid, mine.host, mine.process_start, mine.acquired_at, mine.expires_at),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    lease = Lease(run_id, token, mine, holder, reason)
    lease._renewer.start()
    return lease


@contextmanager
def hold(run_id: str) -> Iterator[Lease]:
    """Drive the run under its lease; the lease is given back however the block ends (not on SIGKILL)."""
    lease = acquire(run_id)
    try:
        yield lease
    finally:
        lease.release()
