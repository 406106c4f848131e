"""The audit log is append-only and tamper-evident."""

import sqlite3

import pytest

from agentsmith.audit import AuditLog


def test_chain_verifies_and_detects_tampering(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    for i in range(5):
        log.append("run-1", "route", {"tier": "local", "attempt": i})
    assert log.verify() == (True, "5 events intact")
    assert [e.data["attempt"] for e in log.events("run-1", kinds=("route",))] == [0, 1, 2, 3, 4]

    db = sqlite3.connect(tmp_path / "audit.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE events SET data = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM events WHERE seq = 2")
    # Someone with file access drops the triggers and rewrites history: the chain shows it.
    db.execute("DROP TRIGGER events_no_update")
    db.execute('UPDATE events SET data = \'{"tier": "frontier"}\' WHERE seq = 3')
    db.commit()
    ok, detail = log.verify()
    assert not ok and "event 3" in detail


# ----------------------------------------------------------------------------- agentsmith audit verify

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from agentsmith.audit.verify import digest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def verify_cli(db: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agentsmith", "audit", "verify", "--db", str(db), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def fresh_log(path: Path, runs: int = 6) -> AuditLog:
    log = AuditLog(path)
    for i in range(runs):
        log.append(f"run-{i // 2}", "route", {"tier": "local", "attempt": i})
    return log


def unguarded(path: Path) -> sqlite3.Connection:
    """What an attacker with the file does first: drop the append-only triggers."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("DROP TRIGGER events_no_delete")
    return db


def row(db: sqlite3.Connection, seq: int) -> tuple:
    return db.execute("SELECT ts, run_id, kind, data, prev_hash, hash FROM events WHERE seq = ?", (seq,)).fetchone()


def test_verify_cli_passes_an_intact_log_and_names_the_first_bad_event_of_each_tampering(tmp_path):
    intact = tmp_path / "intact.sqlite"
    fresh_log(intact)
    proc = verify_cli(intact)
    assert proc.returncode == 0, proc.stderr
    assert "intact (6 events" in proc.stdout

    def tampered(name: str, tamper) -> subprocess.CompletedProcess:
        path = tmp_path / f"{name}.sqlite"
        fresh_log(path)
        db = unguarded(path)
        tamper(db)
        db.close()
        return verify_cli(path)

    def edit(db):
        db.execute("UPDATE events SET data = ? WHERE seq = 3", (json.dumps({"tier": "frontier"}),))

    def delete(db):
        db.execute("DELETE FROM events WHERE seq = 4")

    def delete_and_renumber(db):
        db.execute("DELETE FROM events WHERE seq = 4")
        for seq in (5, 6):
            db.execute("UPDATE events SET seq = ? WHERE seq = ?", (seq - 1, seq))
        db.execute("UPDATE sqlite_sequence SET seq = 5 WHERE name = 'events'")

    def truncate(db):
        db.execute("DELETE FROM events WHERE seq >= 5")

    def insert(db):
        # A forged event with a correct hash, slotted in after event 2; later events renumbered.
        ts, run_id, _kind, _data, _prev, digest2 = row(db, 2)
        for seq in (6, 5, 4, 3):
            db.execute("UPDATE events SET seq = ? WHERE seq = ?", (seq + 1, seq))
        forged = json.dumps({"tier": "local", "attempt": 99})
        db.execute(
            "INSERT INTO events(seq, ts, run_id, kind, data, prev_hash, hash) VALUES (3,?,?,?,?,?,?)",
            (ts + 0.5, run_id, "review", forged, digest2, digest(digest2, ts + 0.5, run_id, "review", forged)),
        )

    def reorder(db):
        two, three = row(db, 2), row(db, 3)
        db.execute("UPDATE events SET ts=?, run_id=?, kind=?, data=?, prev_hash=?, hash=? WHERE seq = 2", three)
        db.execute("UPDATE events SET ts=?, run_id=?, kind=?, data=?, prev_hash=?, hash=? WHERE seq = 3", two)

    cases = {
        "edit": (edit, 3, "event 3 (run-1 route) was edited"),
        "delete": (delete, 4, "event 4 was deleted: event 5 (run-2 route) was written after an event that is gone"),
        "renumbered": (delete_and_renumber, 4, "event 4 (run-2 route) does not follow event 3"),
        "truncate": (truncate, 5, "events 5..6 were deleted from the end"),
        "insert": (insert, 3, "event 3 (run-0 review) was inserted"),
        "reorder": (reorder, 2, "event 2 (run-1 route) is out of order"),
    }
    for name, (tamper, first_bad, sentence) in cases.items():
        proc = tampered(name, tamper)
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        assert f"TAMPERED at event {first_bad}" in proc.stderr, (name, proc.stderr)
        assert sentence in proc.stderr, (name, proc.stderr)
        assert "trigger(s) events_no_update, events_no_delete were dropped" in proc.stderr, name
        assert "Traceback" not in proc.stderr

    missing = verify_cli(tmp_path / "nowhere.sqlite")
    assert missing.returncode == 2 and missing.stderr.startswith("agentsmith: audit log not found")


def test_verify_repo_checks_every_agent_commit_trailer_against_the_chain(tmp_path):
    """A full rewrite of the chain (every hash recomputed) is consistent inside the file; the heads
    agent commits recorded in git are not in it any more."""
    path = tmp_path / "audit.sqlite"
    log = fresh_log(path, runs=4)
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (repo / "a.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run(
        [
            *git,
            "commit",
            "-q",
            "-m",
            f"agentsmith: task\n\nAgentsmith-Run: run-1\nAgentsmith-Audit-Head: {log.head()}\n",
        ],
        check=True,
    )
    proc = verify_cli(path, "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert "1 agent commit(s)" in proc.stdout

    db = unguarded(path)
    prev = "0" * 64
    for seq, ts, run_id, kind, data in db.execute(
        "SELECT seq, ts, run_id, kind, data FROM events ORDER BY seq"
    ).fetchall():
        if seq == 2:
            data = json.dumps({"tier": "frontier", "attempt": 1}, sort_keys=True)
        new = digest(prev, ts, run_id, kind, data)
        db.execute("UPDATE events SET data=?, prev_hash=?, hash=? WHERE seq=?", (data, prev, new, seq))
        prev = new
    db.execute("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'x'); END")
    db.execute("CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'x'); END")
    db.close()
    assert verify_cli(path).returncode == 0  # consistent inside the file ...
    proc = verify_cli(path, "--repo", str(repo), "--json")
    assert proc.returncode == 1  # ... but not with git history
    verdict = json.loads(proc.stdout)
    assert not verdict["intact"] and "which the log no longer holds" in verdict["problems"][0]
