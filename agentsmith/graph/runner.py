"""Start, resume and summarise runs: the graph with its SQLite checkpointer and run context.

A run is driven by one process at a time, under its lease (agentsmith.graph.lease).

AGENTSMITH_PAUSE_AT=NODE[:SECONDS] makes the driver stop at the checkpoint before NODE, print
`[agentsmith] run RUN_ID paused before NODE` and wait (600 s unless given) before going on: tests
use it to SIGKILL a run at a chosen node deterministically; it changes nothing else.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.types import Command

from agentsmith import store
from agentsmith.audit import AuditLog
from agentsmith.config import audit_db
from agentsmith.errors import UserError
from agentsmith.graph import lease
from agentsmith.graph.build import build_graph
from agentsmith.graph.state import Listener, RunContext
from agentsmith.policy import load_policy

Reviewer = Callable[[dict[str, Any]], dict[str, Any]]


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@contextmanager
def _graph() -> Iterator[Any]:
    # SQLite checkpoints by default, PostgreSQL when AGENTSMITH_DATABASE_URL says so (agentsmith.store).
    with store.current().checkpointer() as saver:
        yield build_graph(saver)


def _context(
    policy_path: str | None, tier_flag: str, listener: Listener | None, run_id: str | None = None
) -> RunContext:
    from agentsmith.models import Portfolio
    from agentsmith.models.budget import shared_ledger

    loaded = load_policy(policy_path)

    def notify(line: str) -> None:
        if listener:
            listener("notice", {"text": line})
        else:
            print(line, file=sys.stderr)

    # A shared database keeps the run's spending across workers; otherwise the ledger lives in this process.
    ledger = shared_ledger(run_id, loaded.policy.budget) if run_id else None
    portfolio = Portfolio.from_policy(loaded, tier_flag=tier_flag, notify=notify, ledger=ledger)
    return RunContext(policy=loaded, portfolio=portfolio, audit=AuditLog(audit_db()), listener=listener)


def start_run(
    task: str,
    *,
    repo: str,
    policy_path: str | None = None,
    tier: str = "auto",
    mode: str = "ci",
    listener: Listener | None = None,
    reviewer: Reviewer | None = None,
    read_only: list[str] | None = None,
    test_command: list[str] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Run a task to its end (or to a review pause when no reviewer is given). Returns the result."""
    if mode not in ("interactive", "ci"):
        raise UserError(f"unknown mode {mode!r}", "use --mode interactive or --mode ci")
    if not task.strip():
        raise UserError("the task is empty", 'describe the change, e.g. "Implement slugify in text.py"')
    run_id = run_id or new_run_id()
    context = _context(policy_path, tier, listener, run_id)
    inputs = {
        "run_id": run_id,
        "task": task,
        "repo": str(repo),
        "tier_flag": tier,
        "mode": mode,
        "policy_path": str(context.policy.path),
        "read_only": list(read_only or []),
        "test_command": list(test_command or []),
        "calls": [],
        "routes": [],
        "incidents": [],
    }
    try:
        held = lease.acquire(run_id)
    except BaseException:
        context.close()
        raise
    try:
        context.record(
            run_id,
            "run-started",
            {
                "task": task,
                "repo": str(repo),
                "tier": tier,
                "mode": mode,
                "policy": str(context.policy.path),
                "driver": held.driver.describe(),
            },
        )
        return _drive(run_id, inputs, context, reviewer, held)
    finally:
        held.release()


def resume_run(
    run_id: str,
    *,
    listener: Listener | None = None,
    reviewer: Reviewer | None = None,
    decision: dict[str, Any] | None = None,
) -> dict[str, Any]:
    snapshot = checkpoint(run_id)
    if not snapshot.values:
        raise UserError(f"no run with id {run_id}", "list runs with `agentsmith report`")
    if not snapshot.next:
        return summarise(snapshot.values)
    _refuse_untyped(run_id, snapshot.values)
    with lease.hold(run_id) as held:
        # Read again under the lease: the previous driver may have moved the run on before it went.
        snapshot = checkpoint(run_id)
        values = snapshot.values
        if not snapshot.next:
            return summarise(values)
        context = _context(values.get("policy_path"), values.get("tier_flag", "auto"), listener, run_id)
        resumed: dict[str, Any] = {"next": list(snapshot.next), "driver": held.driver.describe()}
        if held.took_over:
            resumed |= {"took_over_from": held.took_over.describe(), "why": held.takeover_reason}
        context.record(run_id, "run-resumed", resumed)
        pending = pending_review(snapshot)
        if pending is not None:
            answer = decision or (reviewer(pending) if reviewer else None)
            if answer is None:
                context.close()
                return summarise(values) | {"status": "awaiting-review", "review": pending}
            return _drive(run_id, Command(resume=answer), context, reviewer, held)
        return _drive(run_id, None, context, reviewer, held)


def discard_run(run_id: str) -> dict[str, Any]:
    """Throw away an interrupted or paused run: its worktree and branch go, and the run is marked ended
    (`discarded`) in its checkpoint and the audit log. Each Ctrl-C used to leave a worktree and a branch
    in the user's repo for `resume`, and nothing took away one nobody wanted. A branch holding the run's
    commit is kept (the work is the user's to keep or delete), and a run a live process drives is refused."""
    from pathlib import Path

    from agentsmith import vcs

    snapshot = checkpoint(run_id)
    if not snapshot.values:
        raise UserError(f"no run with id {run_id}", "list runs with `agentsmith report`")
    if not snapshot.next:
        status = snapshot.values.get("status", "failed")
        raise UserError(f"run {run_id} has already ended ({status}): nothing to discard", "see `agentsmith status`")
    with lease.hold(run_id):
        values = checkpoint(run_id).values
        repo, worktree, branch = values.get("repo"), values.get("worktree"), values.get("branch")
        kept = None
        if repo and worktree:  # (a run stopped before intake made them has neither)
            there = Path(worktree).is_dir() and values.get("base_rev")
            kept = branch if there and vcs.commit_of_run(Path(worktree), values["base_rev"], run_id) else None
            vcs.remove_worktree(Path(repo), Path(worktree), delete_branch=None if kept else branch)
        reason = "discarded by the user" + (f"; its commit stays on {kept}" if kept else "")
        ended = {"status": "discarded", "reason": reason, "finished_at": time.time()}
        with _graph() as graph:
            graph.update_state(_config(run_id), ended, as_node="report")
        AuditLog(audit_db()).append(
            run_id, "run-finished", {"status": "discarded", "reason": reason, "task": values.get("task", "")}
        )
    return {"run_id": run_id, "status": "discarded", "reason": reason, "branch": kept}


def _refuse_untyped(run_id: str, values: dict[str, Any]) -> None:
    """A run checkpointed before the state's records were typed holds plain dicts where the nodes now
    read records: say so in one line instead of failing inside a node."""
    old = [k for k in ("decision", "verify", "gate") if isinstance(values.get(k), dict)]
    old += ["history"] if any(isinstance(h, dict) for h in values.get("history") or []) else []
    if old:
        raise UserError(
            f"run {run_id} was checkpointed by an older agentsmith (untyped {', '.join(old)}) and this "
            "version cannot resume it",
            "start the task again with `agentsmith run`; the old run's audit trail stays in the log",
        )


def checkpoint(run_id: str) -> Any:
    """The run's latest checkpointed snapshot (empty `values` when there is none)."""
    with _graph() as graph:
        return graph.get_state(_config(run_id))


def _config(run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": run_id}, "recursion_limit": 200}


def pending_review(snapshot: Any) -> dict[str, Any] | None:
    for task in snapshot.tasks:
        for pending in getattr(task, "interrupts", ()) or ():
            return pending.value
    return None


def _drive(
    run_id: str, payload: Any, context: RunContext, reviewer: Reviewer | None, held: lease.Lease
) -> dict[str, Any]:
    pause_at, pause_s = _pause_request()
    try:
        with _graph() as graph:
            config = _config(run_id)
            while True:
                for _update in graph.stream(
                    payload,
                    config,
                    context=context,
                    durability="sync",
                    stream_mode="updates",
                    interrupt_before=[pause_at] if pause_at else None,
                ):
                    held.check()  # between nodes: a process that lost its lease stops before doing more
                snapshot = graph.get_state(config)
                pending = pending_review(snapshot)
                if pause_at and pending is None and pause_at in snapshot.next:
                    print(
                        f"[agentsmith] run {run_id} paused before {pause_at} (AGENTSMITH_PAUSE_AT)",
                        file=sys.stderr,
                        flush=True,
                    )
                    time.sleep(pause_s)
                    pause_at, payload = None, None
                    continue
                if pending is None:
                    return summarise(snapshot.values)
                if reviewer is None:
                    return summarise(snapshot.values) | {"status": "awaiting-review", "review": pending}
                payload = Command(resume=reviewer(pending))
    finally:
        context.close()


def _pause_request() -> tuple[str | None, float]:
    node, _, seconds = os.environ.get("AGENTSMITH_PAUSE_AT", "").partition(":")
    return (node.strip() or None), float(seconds or 600)


def summarise(values: dict[str, Any]) -> dict[str, Any]:
    """The run's result, as `run --json` prints it."""
    from agentsmith.graph.totals import run_totals

    calls = values.get("calls", [])
    findings = values.get("findings", [])
    totals = run_totals(values)
    return {
        "run_id": values.get("run_id"),
        "status": values.get("status", "running"),
        "reason": values.get("reason", ""),
        "branch": values.get("branch") if values.get("commit") else None,
        "commit": values.get("commit"),
        "tiers_used": totals.tiers_used,
        "tokens": {"prompt": totals.prompt_tokens, "completion": totals.completion_tokens},
        "cost_usd": totals.cost_usd,  # API spend
        "all_in_usd": totals.all_in_usd,  # API spend + the tiers' compute (price_per_hour)
        "seconds": totals.seconds,
        "time_split": totals.split,
        "attempts": totals.attempts,
        "findings": findings,
        "blocking": sum(1 for f in findings if f.get("blocking")),
        "calls": [
            {
                k: c.get(k)
                for k in (
                    "tier",
                    "model",
                    "prompt_tokens",
                    "completion_tokens",
                    "cost_usd",
                    "compute_usd",
                    "prompt_tokens_evaluated",
                    "seconds",
                    "redactions",
                    "reason",
                )
            }
            for c in calls
        ],
        "routes": values.get("routes", []),
        "incidents": values.get("incidents", []),
    }
