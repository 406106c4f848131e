"""The run's records through the real SQLite checkpointer: they come back typed, and nothing else does.

A checkpoint names the class each stored object is rebuilt with; only agentsmith.records' types may be
rebuilt (store.checkpoint_serde), so a tampered checkpoint database cannot make the driver instantiate
another class.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langgraph.checkpoint.serde.event_hooks import register_serde_event_listener
from pydantic import BaseModel

from agentsmith.graph.runner import _config, _graph, checkpoint
from agentsmith.records import Attempt, GateSummary, RouteDecision, VerifyOutcome

pytestmark = pytest.mark.fast


class Planted(BaseModel):
    """Stands in for any class a tampered checkpoint could name (here: one importable by the test run)."""

    command: str


@pytest.fixture
def serde_events() -> Iterator[list[dict]]:
    """LangGraph's report of each stored type it rebuilt without an allowlist, or refused to rebuild."""
    seen: list[dict] = []
    unregister = register_serde_event_listener(seen.append)
    yield seen
    unregister()


def write_checkpoint(run_id: str, values: dict) -> None:
    with _graph() as graph:
        graph.update_state(_config(run_id), values, as_node="plan")


def test_records_come_back_typed_from_a_checkpoint(serde_events):
    decision = RouteDecision(tier="local", reason="difficulty 1 < 3: local attempt 1/2", samples=3, drawn=2)
    attempt = Attempt(tier="local", passed=False, tokens=120, error="tests exited 1", log="E assert 1 == 2")
    outcome = VerifyOutcome(passed=False, error="tests exited 1", exit_code=1, seconds=0.8, backend="docker")
    gate = GateSummary(findings=2, blocking=1, seconds=1.5, tools=["bandit", "semgrep"])
    write_checkpoint(
        "records-typed",
        {"run_id": "records-typed", "decision": decision, "history": [attempt], "verify": outcome, "gate": gate},
    )

    values = checkpoint("records-typed").values

    assert values["decision"] == decision and isinstance(values["decision"], RouteDecision)
    assert values["history"] == [attempt] and isinstance(values["history"][0], Attempt)
    assert values["verify"] == outcome and isinstance(values["verify"], VerifyOutcome)
    assert values["gate"] == gate and isinstance(values["gate"], GateSummary)
    assert values["decision"].drawn == 2  # the candidate counter survives a resume
    assert serde_events == []  # no "unregistered type" warning: each record is on the allowlist


def test_a_checkpoint_naming_another_class_gets_plain_data(serde_events):
    write_checkpoint("records-planted", {"run_id": "records-planted", "review": Planted(command="id")})

    values = checkpoint("records-planted").values

    assert values["review"] == {"command": "id"} and not isinstance(values["review"], Planted)
    assert [(e["kind"], e["name"]) for e in serde_events] == [("msgpack_blocked", "Planted")]


def test_a_run_checkpointed_with_untyped_records_is_refused_in_one_line():
    from agentsmith.errors import UserError
    from agentsmith.graph.runner import resume_run

    old = {"tier": "local", "reason": "old", "temperature": 0.0, "stop": False, "samples": 1, "drawn": 1}
    write_checkpoint("records-old", {"run_id": "records-old", "decision": old, "history": [{"tier": "local"}]})

    with pytest.raises(UserError) as refused:
        resume_run("records-old")

    assert "checkpointed by an older agentsmith (untyped decision, history)" in str(refused.value)
    assert "\n" not in str(refused.value)
