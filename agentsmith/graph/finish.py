"""The nodes after the step loop: the gate on the change, review, the commit and the run's report.

Split from nodes.py (the loop: intake, plan, route, edit, apply, verify); build.py wires both through
`nodes`, which re-exports these."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agentsmith import vcs
from agentsmith.graph.state import RunContext, RunState
from agentsmith.graph.totals import run_totals
from agentsmith.records import GateSummary

Ctx = Runtime[RunContext]
TAIL = 4_000  # characters of a log kept for the next prompt and the report


# --------------------------------------------------------------------------------------- gate


def gate(state: RunState, runtime: Ctx) -> dict[str, Any]:
    from agentsmith.gates import render

    ctx = runtime.context
    result = ctx.gate(Path(state["worktree"]), state["base_rev"], ctx.policy)
    findings = [f.to_dict() for f in result.findings]
    blocking = [f for f in findings if f.get("blocking")]
    summary = GateSummary(
        findings=len(findings),
        blocking=len(blocking),
        seconds=round(result.seconds, 2),
        tools=sorted(result.tools),
        tool_errors=[f["message"] for f in blocking if f["rule"] == "gate.tool-error"],
    )
    ctx.record(
        state["run_id"],
        "gate",
        summary.model_dump(mode="json")
        | {
            "blocking_rules": sorted({f["rule"] for f in blocking}),
            "rules": dict(Counter(f["rule"] for f in findings)),  # the weekly report's top findings
            "next": after_gate({"gate": summary}),
        },
    )
    update: dict[str, Any] = {"findings": findings, "gate": summary}
    if blocking and not summary.tool_errors:
        history = list(state.get("history", []))
        history[-1] = history[-1].model_copy(
            update={
                "passed": False,
                "error": "security gate blocked the change",
                "log": "The security gate blocked the change:\n" + render(result, "text")[-TAIL:],
            }
        )
        update["history"] = history
    return update


def after_gate(state: RunState) -> Literal["review", "route", "report"]:
    gate = state["gate"]
    if gate.tool_errors:
        return "report"  # a scanner that could not run: no attempt of the model's can fix that
    return "route" if gate.blocking else "review"


# ------------------------------------------------------------------------------------- review


def review(state: RunState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    if state.get("mode") != "interactive":
        decision = {"decision": "approve", "by": "policy", "draft": ctx.policy.policy.review.ci == "draft"}
    else:
        answer = interrupt(
            {
                "diff": vcs.diff(Path(state["worktree"]), state["base_rev"]),
                "findings": state.get("findings", []),
                "branch": state["branch"],
            }
        )
        decision = answer if isinstance(answer, dict) else {"decision": str(answer)}
        decision.setdefault("by", "human")
    ctx.record(state["run_id"], "review", decision | {"next": after_review({"review": decision})})
    update: dict[str, Any] = {"review": decision}
    if decision["decision"] == "feedback":
        history = list(state.get("history", []))
        history[-1] = history[-1].model_copy(
            update={
                "passed": False,
                "error": "reviewer asked for changes",
                "log": "The reviewer asked for changes: " + decision.get("feedback", ""),
            }
        )
        update["history"] = history
    return update


def after_review(state: RunState) -> Literal["commit", "route", "report"]:
    return {"approve": "commit", "feedback": "route"}.get(state["review"]["decision"], "report")


# ------------------------------------------------------------------------------------- commit


def commit(state: RunState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    tiers = run_totals(state).tiers_used
    gate_summary = state["gate"]
    message = (
        f"agentsmith: {state['task'][:72]}\n\n{state['task']}\n\n"
        f"Agentsmith-Run: {state['run_id']}\n"
        f"Agentsmith-Tiers: {','.join(tiers) or 'none'}\n"
        f"Agentsmith-Gate: pass ({gate_summary.blocking} blocking, {gate_summary.findings} findings)\n"
        f"Agentsmith-Review: {state.get('review', {}).get('by', 'policy')}\n"
        f"Agentsmith-Audit-Head: {ctx.audit.head()}\n"
    )
    worktree = Path(state["worktree"])
    sha = vcs.commit_of_run(worktree, state["base_rev"], state["run_id"]) or vcs.commit_all(worktree, message)
    ctx.record(state["run_id"], "commit", {"sha": sha, "branch": state["branch"]})
    return {"commit": sha}


# ------------------------------------------------------------------------------------- report


def report(state: RunState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    gate, decision = state.get("gate"), state.get("decision")
    if state.get("commit"):
        status, reason = "committed", f"committed {state['commit'][:12]} on {state['branch']}"
    elif state.get("review", {}).get("decision") == "reject":
        status, reason = "rejected", "the reviewer rejected the change"
    elif gate is not None and gate.tool_errors:
        status, reason = "blocked", "the gate could not scan the change: " + "; ".join(gate.tool_errors)
    elif gate is not None and gate.blocking:
        status, reason = "blocked", decision.reason if decision else "the security gate blocked the change"
    else:
        status, reason = "failed", decision.reason if decision else "no passing change"
    ctx.close()
    if state.get("worktree"):
        vcs.remove_worktree(
            Path(state["repo"]),
            Path(state["worktree"]),
            delete_branch=None if state.get("commit") else state.get("branch"),
        )
    totals = run_totals(state)
    ctx.record(
        state["run_id"],
        "run-finished",
        {
            "status": status,
            "reason": reason,
            "branch": state.get("branch") if state.get("commit") else None,
            "commit": state.get("commit"),
            "task": state["task"],
            "seconds": totals.seconds,
            "split": totals.split,
            "cost_usd": totals.cost_usd,
            "all_in_usd": totals.all_in_usd,
            "tokens": totals.tokens,
            "attempts": totals.attempts,
            "incidents": len(state.get("incidents", [])),
        },
    )
    return {"status": status, "reason": reason, "finished_at": time.time()}
