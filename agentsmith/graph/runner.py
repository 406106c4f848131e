"""Start, resume and summarise runs: the graph with its SQLite checkpointer and run context."""

from __future__ import annotations

import secrets
import sqlite3
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from agentsmith.audit import AuditLog
from agentsmith.config import audit_db, checkpoints_db
from agentsmith.errors import UserError
from agentsmith.graph.build import build_graph
from agentsmith.graph.state import Listener, RunContext
from agentsmith.policy import load_policy

Reviewer = Callable[[dict[str, Any]], dict[str, Any]]


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@contextmanager
def _graph() -> Iterator[Any]:
    conn = sqlite3.connect(checkpoints_db(), check_same_thread=False, timeout=30)
    try:
        yield build_graph(SqliteSaver(conn))
    finally:
        conn.close()


def _context(policy_path: str | None, tier_flag: str, listener: Listener | None) -> RunContext:
    from agentsmith.models import Portfolio
    loaded = load_policy(policy_path)

    def notify(line: str) -> None:
        if listener:
            listener("notice", {"text": line})
        else:
            print(line, file=sys.stderr)

    portfolio = Portfolio.from_policy(loaded, tier_flag=tier_flag, notify=notify)
    return RunContext(policy=loaded, portfolio=portfolio, audit=AuditLog(audit_db()), listener=listener)


def start_run(task: str, *, repo: str, policy_path: str | None = None, tier: str = "auto", mode: str = "ci",
              listener: Listener | None = None, reviewer: Reviewer | None = None,
              read_only: list[str] | None = None, test_command: list[str] | None = None,
              run_id: str | None = None) -> dict[str, Any]:
    """Run a task to its end (or to a review pause when no reviewer is given). Returns the result."""
    if mode not in ("interactive", "ci"):
        raise UserError(f"unknown mode {mode!r}", "use --mode interactive or --mode ci")
    if not task.strip():
        raise UserError("the task is empty", "describe the change, e.g. \"Implement slugify in text.py\"")
    context = _context(policy_path, tier, listener)
    run_id = run_id or new_run_id()
    inputs = {"run_id": run_id, "task": task, "repo": str(repo), "tier_flag": tier, "mode": mode,
              "policy_path": str(context.policy.path), "read_only": list(read_only or []),
              "test_command": list(test_command or []), "calls": [], "routes": [], "incidents": []}
    context.record(run_id, "run-started", {"task": task, "repo": str(repo), "tier": tier, "mode": mode,
                                           "policy": str(context.policy.path)})
    return _drive(run_id, inputs, context, reviewer)


def resume_run(run_id: str, *, listener: Listener | None = None, reviewer: Reviewer | None = None,
               decision: dict[str, Any] | None = None) -> dict[str, Any]:
    with _graph() as graph:
        snapshot = graph.get_state(_config(run_id))
    if not snapshot.values:
        raise UserError(f"no run with id {run_id}", "list runs with `agentsmith report`")
    values = snapshot.values
    if not snapshot.next:
        return summarise(values)
    context = _context(values.get("policy_path"), values.get("tier_flag", "auto"), listener)
    context.record(run_id, "run-resumed", {"next": list(snapshot.next)})
    pending = _pending_review(snapshot)
    if pending is not None:
        answer = decision or (reviewer(pending) if reviewer else None)
        if answer is None:
            return summarise(values) | {"status": "awaiting-review", "review": pending}
        return _drive(run_id, Command(resume=answer), context, reviewer)
    return _drive(run_id, None, context, reviewer)


def _config(run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": run_id}, "recursion_limit": 200}


def _pending_review(snapshot: Any) -> dict[str, Any] | None:
    for task in snapshot.tasks:
        for pending in getattr(task, "interrupts", ()) or ():
            return pending.value
    return None


def _drive(run_id: str, payload: Any, context: RunContext, reviewer: Reviewer | None) -> dict[str, Any]:
    try:
        with _graph() as graph:
            config = _config(run_id)
            while True:
                graph.invoke(payload, config, context=context, durability="sync")
                snapshot = graph.get_state(config)
                pending = _pending_review(snapshot)
                if pending is None:
                    return summarise(snapshot.values)
                if reviewer is None:
                    return summarise(snapshot.values) | {"status": "awaiting-review", "review": pending}
                payload = Command(resume=reviewer(pending))
    finally:
        context.close()


def summarise(values: dict[str, Any]) -> dict[str, Any]:
    calls = values.get("calls", [])
    started = values.get("started_at") or time.time()
    findings = values.get("findings", [])
    return {
        "run_id": values.get("run_id"),
        "status": values.get("status", "running"),
        "reason": values.get("reason", ""),
        "branch": values.get("branch") if values.get("commit") else None,
        "commit": values.get("commit"),
        "tiers_used": sorted({c["tier"] for c in calls}),
        "tokens": {"prompt": sum(c.get("prompt_tokens", 0) for c in calls),
                   "completion": sum(c.get("completion_tokens", 0) for c in calls)},
        "cost_usd": round(sum(c.get("cost_usd", 0.0) for c in calls), 6),
        "seconds": round((values.get("finished_at") or time.time()) - started, 2),
        "attempts": len(values.get("history", [])),
        "findings": findings,
        "blocking": sum(1 for f in findings if f.get("blocking")),
        "calls": [{k: c.get(k) for k in ("tier", "model", "prompt_tokens", "completion_tokens", "cost_usd",
                                         "seconds", "redactions", "reason")} for c in calls],
        "routes": values.get("routes", []),
        "incidents": values.get("incidents", []),
    }
