"""Checking the audit chain from outside: read-only, trusting nothing the database enforces.

Someone with write access to the file can drop the append-only triggers and then edit, delete,
insert or reorder events. Each of those leaves a mark this module finds and names: a hash that
no longer matches its event, a `prev_hash` that points elsewhere, a gap in the sequence numbers,
or `sqlite_sequence` remembering events that are gone. A rewrite of the whole chain (every hash
recomputed) leaves no mark inside the file; the heads written into agent commits
(`Agentsmith-Audit-Head:` trailers) anchor the chain to git history and catch that too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from agentsmith import vcs
from agentsmith.errors import GitError, UserError

GENESIS = "0" * 64
TRAILER = "Agentsmith-Audit-Head"
TRIGGERS = ("events_no_update", "events_no_delete")


def digest(prev_hash: str, ts: float, run_id: str, kind: str, data_json: str) -> str:
    payload = json.dumps([prev_hash, repr(ts), run_id, kind, data_json], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Row:
    seq: int
    ts: float
    run_id: str
    kind: str
    data: str
    prev_hash: str
    hash: str

    def name(self) -> str:
        return f"event {self.seq} ({self.run_id} {self.kind})"


@dataclass
class Verdict:
    events: int
    head: str
    first_bad: int | None = None  # seq of the first event that is wrong or missing
    problems: list[str] = field(default_factory=list)
    anchored_commits: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def detail(self) -> str:
        return self.problems[0] if self.problems else f"{self.events} events intact"

    def to_dict(self) -> dict:
        return {
            "intact": self.intact,
            "events": self.events,
            "head": self.head,
            "first_bad": self.first_bad,
            "problems": self.problems,
            "anchored_commits": self.anchored_commits,
        }


def read_only(path: Path) -> sqlite3.Connection:
    if not Path(path).is_file():
        raise UserError(f"audit log not found: {path}", "run a task first, or pass --db with the audit database")
    return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=30)


def load_rows(db: sqlite3.Connection) -> list[Row]:
    try:
        rows = db.execute("SELECT seq, ts, run_id, kind, data, prev_hash, hash FROM events ORDER BY seq").fetchall()
    except sqlite3.DatabaseError as err:
        raise UserError(
            f"cannot read the audit events ({err})", "pass --db with an agentsmith audit database"
        ) from None
    return [Row(*r) for r in rows]


def check_chain(path: Path) -> Verdict:
    """Every event in order: its own hash, its link to the one before, the numbering, the tail."""
    db = read_only(path)
    try:
        rows = load_rows(db)
        highest = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    finally:
        db.close()
    verdict = Verdict(events=len(rows), head=rows[-1].hash if rows else GENESIS)
    broken = first_break(rows)
    if broken:
        verdict.first_bad, message = broken
        verdict.problems.append(message)
    last = rows[-1].seq if rows else 0
    if highest and highest[0] > last:
        # AUTOINCREMENT remembers the highest number ever used: the tail is gone, not just unwritten.
        verdict.first_bad = verdict.first_bad or last + 1
        verdict.problems.append(
            f"{span(last + 1, highest[0])} deleted from the end of the log (the database numbered up to {highest[0]})"
        )
    missing = [t for t in TRIGGERS if t not in triggers]
    if missing:
        verdict.problems.append(f"the append-only trigger(s) {', '.join(missing)} were dropped")
    return verdict


def first_break(rows: list[Row]) -> tuple[int, str] | None:
    """(seq, sentence) for the first event that is not where the chain says it should be."""
    position = {row.hash: i for i, row in enumerate(rows)}
    for i, row in enumerate(rows):
        if digest(row.prev_hash, row.ts, row.run_id, row.kind, row.data) != row.hash:
            return row.seq, f"{row.name()} was edited: its content no longer matches its hash"
        before = rows[i - 1] if i else None
        expected = before.hash if before else GENESIS
        if row.prev_hash == expected:
            if before and row.seq != before.seq + 1:
                return before.seq + 1, (
                    f"{span(before.seq + 1, row.seq - 1)} deleted: the numbering "
                    f"jumps from {before.seq} to {row.seq} and the chain was rewritten"
                )
            continue
        if row.prev_hash == GENESIS:
            return rows[0].seq, f"{rows[0].name()} was inserted: {row.name()} starts the chain"
        linked = position.get(row.prev_hash)
        if linked is not None and linked > i:
            return row.seq, f"{row.name()} is out of order: it was written after {rows[linked].name()}"
        if linked is not None:
            inserted = rows[linked + 1]
            return inserted.seq, (
                f"{inserted.name()} was inserted: {row.name()} was written right after {rows[linked].name()}"
            )
        if before is None:
            return row.seq, f"events before {row.name()} were deleted: it does not start the chain"
        if row.seq != before.seq + 1:
            return before.seq + 1, (
                f"{span(before.seq + 1, row.seq - 1)} deleted: {row.name()} was written after an event that is gone"
            )
        return row.seq, (
            f"{row.name()} does not follow {before.name()}: an event between them was deleted "
            f"and the rest renumbered, or {before.name()} was rewritten"
        )
    return None


def span(first: int, last: int) -> str:
    return f"event {first} was" if first == last else f"events {first}..{last} were"


def check_commits(path: Path, repo: Path, verdict: Verdict) -> None:
    """Every agent commit's `Agentsmith-Audit-Head` must be a hash the chain still holds."""
    try:
        commits = vcs.commit_trailers(repo, TRAILER)
    except GitError:
        raise UserError(f"cannot read the git history of {repo}", "pass --repo with a git repository") from None
    db = read_only(path)
    try:
        known = {r[0] for r in db.execute("SELECT hash FROM events")}
    finally:
        db.close()
    for sha, heads in commits:
        for head in heads:
            if head in known:
                verdict.anchored_commits += 1
            else:
                verdict.problems.append(
                    f"commit {sha[:12]} names audit head {head[:16]}…, which the log no longer "
                    "holds: events up to that commit were rewritten or deleted"
                )
