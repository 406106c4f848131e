"""The run's state (checkpointed: JSON values and the typed records of agentsmith.records) and its
context (live objects)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from agentsmith.audit import AuditLog
from agentsmith.policy import LoadedPolicy
from agentsmith.records import Attempt, GateSummary, RouteDecision, VerifyOutcome
from agentsmith.seams import CheckSandbox, Gate, OpenSandbox, Planner, Sandbox

if TYPE_CHECKING:
    from agentsmith.models import Portfolio


class RunState(TypedDict, total=False):
    # given at the start
    run_id: str
    task: str
    repo: str
    policy_path: str
    tier_flag: str
    mode: str  # "interactive" | "ci"
    test_command: list[str]
    read_only: list[str]  # files the agent must not change (the tests, for a bench task)
    # intake
    worktree: str
    branch: str
    base_rev: str
    local_only: list[str]
    started_at: float
    # plan
    steps: list[dict[str, Any]]
    baseline: list[str]  # tests failing on the base revision (recorded once, when it matters)
    step_index: int
    step_base: str  # git tree the current step's retries restore to (later steps only)
    # the cascade of the current step
    history: list[Attempt]  # the step's attempts so far: the router counts them, the next prompt shows the last
    decision: RouteDecision
    prompt: dict[str, Any]  # how the last prompt was assembled: mode, tokens, budget, what shrank
    answer: str
    applied: list[str]
    verify: VerifyOutcome | None  # None: the tests have yet to run on the new answer
    # gate, review, commit
    findings: list[dict[str, Any]]
    gate: GateSummary
    review: dict[str, Any]
    commit: str
    # accumulated over the run
    calls: Annotated[list[dict[str, Any]], operator.add]
    routes: Annotated[list[dict[str, Any]], operator.add]
    incidents: Annotated[list[dict[str, Any]], operator.add]
    timings: Annotated[list[dict[str, Any]], operator.add]  # per node run: node, seconds, model seconds in it
    status: str  # running | committed | failed | blocked | rejected | stopped
    reason: str
    finished_at: float


Listener = Callable[[str, dict[str, Any]], None]


def _default_open_sandbox(policy, **kwargs) -> Sandbox:
    from agentsmith.sandbox import open_sandbox

    return open_sandbox(policy, **kwargs)


def _default_gate(repo, base, loaded_policy, **kwargs):
    from agentsmith.gates import scan_change

    return scan_change(repo, base, loaded_policy, **kwargs)


def _default_check_gate(loaded_policy) -> None:
    from agentsmith.gates import check_scanners

    check_scanners(loaded_policy)


def _default_check_sandbox(policy) -> str:
    from agentsmith.sandbox import check_backend

    return check_backend(policy)


def _default_planner(task, root, *, read_only):
    from agentsmith.graph.planning import plan_steps

    return plan_steps(task, root, read_only=read_only)


@dataclass
class RunContext:
    """What nodes need that cannot be checkpointed. Rebuilt on resume from the state's inputs."""

    policy: LoadedPolicy
    portfolio: Portfolio  # the model tiers (seams.ModelTier), routed per step
    audit: AuditLog
    listener: Listener | None = None
    # The other seams, swapped by construction (a test or another backend passes its own):
    open_sandbox: OpenSandbox = _default_open_sandbox
    check_sandbox: CheckSandbox = _default_check_sandbox
    check_gate: Callable[[LoadedPolicy], None] = _default_check_gate  # raises UserError: a scanner is missing
    gate: Gate = _default_gate
    planner: Planner = _default_planner
    sandbox: Sandbox | None = None  # opened at the first verify, kept warm for the run

    def record(self, run_id: str, kind: str, data: dict[str, Any], *, audit: bool = True) -> None:
        if audit:
            self.audit.append(run_id, kind, data)
        if self.listener:
            self.listener(kind, data)

    def close(self) -> None:
        if self.sandbox is not None:
            try:
                self.sandbox.close()
            finally:
                self.sandbox = None
