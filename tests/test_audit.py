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
    db.execute("UPDATE events SET data = '{\"tier\": \"frontier\"}' WHERE seq = 3")
    db.commit()
    ok, detail = log.verify()
    assert not ok and "event 3" in detail
