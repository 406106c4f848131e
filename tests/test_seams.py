"""The seams in agentsmith/seams.py are what the code really calls: every backend satisfies its
protocol, and the run context holds the seams the nodes use."""

from __future__ import annotations

import pytest

from agentsmith.audit import AuditLog
from agentsmith.graph.state import RunContext
from agentsmith.models import Portfolio
from agentsmith.policy import load_policy
from agentsmith.seams import CheckSandbox, Gate, ModelTier, OpenSandbox, Planner, Sandbox
from tests.conftest import make_repo


def test_every_tier_of_the_default_policy_is_a_model_tier():
    portfolio = Portfolio.from_policy(load_policy(None), tier_flag="local")
    assert portfolio.tiers and all(isinstance(tier, ModelTier) for tier in portfolio.tiers.values())


@pytest.mark.docker
def test_the_run_context_holds_a_real_sandbox_and_gate_by_default(tmp_path):
    loaded = load_policy(None)
    context = RunContext(
        policy=loaded, portfolio=Portfolio.from_policy(loaded, tier_flag="local"), audit=AuditLog(tmp_path / "a.sqlite")
    )
    assert isinstance(context.gate, Gate) and isinstance(context.open_sandbox, OpenSandbox)
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    sandbox = context.open_sandbox(loaded.policy.sandbox, run_id="seams-test", worktree=repo)
    try:
        assert isinstance(sandbox, Sandbox)
        assert sandbox.exec(["python3", "-c", "print(open('a.py').read())"]).output.strip() == "x = 1"
    finally:
        sandbox.close()
    head = make_repo(tmp_path / "clean", {"a.py": "x = 1\n"})
    assert context.gate(head, "HEAD", loaded).findings == []
    assert isinstance(context.check_sandbox, CheckSandbox) and context.check_sandbox(loaded.policy.sandbox) == "docker"
    assert isinstance(context.planner, Planner)
    (step,) = context.planner("Set x to 2 in a.py", head, read_only=[])
    assert step["files"] == ["a.py"]
