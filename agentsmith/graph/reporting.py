"""`agentsmith report` and `status`: what past runs cost, how long they took, where they routed, what went
wrong, and whether an unfinished run is still driven or waits for `resume`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from agentsmith.audit import AuditLog
from agentsmith.config import audit_db
from agentsmith.errors import UserError
from agentsmith.graph.lease import current_driver
from agentsmith.graph.report_model import INCIDENT_KINDS, Report

ORCHESTRATION_TARGET = 0.10


def render_split(split: dict[str, Any]) -> str:
    share = split.get("orchestration_share")
    verdict = "" if share is None else f" ({share:.0%} of the run; target <= {ORCHESTRATION_TARGET:.0%})"
    waiting = f", waiting {split['waiting']:.1f}s (review, resume)" if split.get("waiting") else ""
    return (
        f"time: model {split['model']:.1f}s, sandbox {split['sandbox']:.1f}s, gate {split['gate']:.1f}s, "
        f"orchestration {split['orchestration']:.1f}s{verdict}{waiting}"
    )


def _money(value: float | None, missing: str = "-") -> str:
    return missing if value is None else f"${value:.4f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render_report(report: Report) -> str:
    window = f"since {report.since}" if report.since else "all runs"
    lines = [
        f"runs ({window}): {report.runs} finished, {report.succeeded} committed"
        + (f" ({report.success_rate:.0%})" if report.success_rate is not None else ""),
        f"cost: ${report.cost_usd:.4f} total, "
        + (
            f"${report.cost_per_success_usd:.4f} per successful task"
            if report.cost_per_success_usd is not None
            else "no successful task yet"
        ),
        f"latency: p50 {report.latency_s.p50}s, p95 {report.latency_s.p95}s",
        *(
            [render_split(asdict(report.time_split)) + f" over {report.time_split.runs} run(s)"]
            if report.time_split
            else []
        ),
        f"model calls: {report.calls_by_tier}; {report.tokens} tokens; {report.redactions} redactions",
        "routing: "
        + (
            "; ".join(
                f"{s.name} {s.calls} call(s) {_pct(s.call_share)}, {_money(s.cost_usd)} {_pct(s.cost_share)} of cost"
                for s in report.locality
            )
            if report.routing
            else "no model calls"
        ),
        *(
            f"  {t.name:<12} {'external' if t.external else 'local':<8} {t.calls:>4} call(s) {_pct(t.call_share):>4}"
            f"  {_money(t.cost_usd)} {_pct(t.cost_share):>4} of cost"
            for t in report.routing
        ),
        f"routes: {report.routes_by_tier}",
        f"incidents: {len(report.incidents)} ("
        + ", ".join(f"{INCIDENT_KINDS.get(k, k)} {n}" for k, n in report.incidents_by_kind.items())
        + ")",
        "top findings:" + ("" if report.findings else " none"),
        *(f"  {f.findings:>4}  {f.rule}  {'blocking' if f.blocking else 'non-blocking'}" for f in report.findings[:10]),
        f"audit chain: {report.audit_chain.detail}" + ("" if report.audit_chain.intact else " (TAMPERED)"),
    ]
    if len(report.days) > 1:
        lines += ["", "per day:"] + [
            f"  {d.day}  {d.runs:>3} run(s), {d.succeeded:>3} committed, {_money(d.cost_usd)}, "
            f"{_money(d.cost_per_success_usd)} per success"
            for d in report.days
        ]
    lines += ["", "recent runs:"]
    for run in report.history[-15:]:
        share = (run.split or {}).get("orchestration_share")
        lines.append(
            f"  {run.run_id}  {run.status:<10} ${run.cost_usd:.4f}  {run.seconds:>7.1f}s  "
            + (f"orch {share:>4.0%}  " if share is not None else "")
            + f"{run.branch or '-'}  {run.task[:50]}"
        )
    for running in report.running:
        lines.append(f"  {running.run_id}  running, driven by {running.driver}")
    for run_id in report.interrupted:
        lines.append(f"  {run_id}  interrupted, resumable (agentsmith resume {run_id})")
    return "\n".join(lines)


def run_status(run_id: str) -> dict[str, Any]:
    """One run's state: running (a live driver), interrupted (resumable), awaiting-review, or how it ended."""
    from agentsmith.graph.runner import checkpoint, pending_review

    snapshot = checkpoint(run_id)
    values, next_nodes = snapshot.values or {}, list(snapshot.next or ())
    events = AuditLog(audit_db()).events(run_id, kinds=("run-started", "run-finished"))
    driver = current_driver(run_id)
    if not values and not events and driver is None:
        raise UserError(f"no run with id {run_id}", "run `agentsmith report` to list runs")
    started = next((e.data for e in events if e.kind == "run-started"), {})
    finished = next((e.data for e in reversed(events) if e.kind == "run-finished"), None)
    gone = driver.gone_reason() if driver else None
    status: dict[str, Any] = {
        "run_id": run_id,
        "task": values.get("task") or started.get("task", ""),
        "branch": values.get("branch"),
        "commit": values.get("commit"),
        "next": next_nodes,
        "driver": driver.to_dict() if driver else None,
        "resumable": False,
        "reason": values.get("reason", ""),
        "hint": "",
    }
    if values and not next_nodes:  # the graph reached its end: the checkpoint says how
        status |= {
            "state": values.get("status", "failed"),
            "branch": values.get("branch") if values.get("commit") else None,
        }
    elif driver and gone is None:
        status |= {"state": "running", "hint": f"driven by {driver.describe()}; wait, or stop that process"}
    elif next_nodes and pending_review(snapshot) is not None:
        status |= {
            "state": "awaiting-review",
            "resumable": True,
            "hint": f"`agentsmith resume {run_id}` shows the change for review",
        }
    elif next_nodes:
        status |= {
            "state": "interrupted",
            "resumable": True,
            "hint": (
                "its driver "
                + (f"{driver.describe()} is gone ({gone})" if driver else "has exited")
                + f"; `agentsmith resume {run_id}` continues it, `agentsmith discard {run_id}` throws it away"
            ),
        }
    elif finished:  # known to the audit log only (its checkpoints were removed)
        status |= {
            "state": finished.get("status", "failed"),
            "reason": finished.get("reason", ""),
            "branch": finished.get("branch"),
            "commit": finished.get("commit"),
        }
    else:
        status |= {
            "state": "interrupted",
            "hint": "it stopped before its first checkpoint; start it again with `agentsmith run`",
        }
    return status


def render_status(status: dict[str, Any]) -> str:
    where = f" before {', '.join(status['next'])}" if status["next"] and status["state"] != "committed" else ""
    lines = [f"run {status['run_id']}: {status['state']}{where}" + (", resumable" if status["resumable"] else "")]
    if status["branch"]:
        lines.append(f"branch {status['branch']}" + (f" commit {status['commit']}" if status["commit"] else ""))
    if status["reason"]:
        lines.append(f"reason: {status['reason']}")
    if status["hint"]:
        lines.append(status["hint"])
    if status["task"]:
        lines.append(f"task: {status['task']}")
    return "\n".join(lines)
