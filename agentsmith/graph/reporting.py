"""`agentsmith report`: what past runs cost, how long they took, where they routed, what went wrong."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from agentsmith.audit import AuditLog
from agentsmith.config import audit_db
from agentsmith.errors import UserError


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def build_report(run_id: str | None = None) -> dict[str, Any]:
    log = AuditLog(audit_db())
    intact, chain = log.verify()
    events = log.events(run_id)
    if run_id and not events:
        raise UserError(f"no run with id {run_id}", "run `agentsmith report` to list runs")
    finished = [e for e in events if e.kind == "run-finished"]
    started = {e.run_id: e for e in events if e.kind == "run-started"}
    runs = [{"run_id": e.run_id, **e.data, "started": started.get(e.run_id).ts if e.run_id in started else None}
            for e in finished]
    successes = [r for r in runs if r["status"] == "committed"]
    total_cost = sum(r.get("cost_usd", 0.0) for r in runs)
    seconds = [r.get("seconds", 0.0) for r in runs]
    routes = Counter((e.data.get("tier") or "stop") for e in events if e.kind == "route")
    reasons = Counter(e.data.get("reason", "") for e in events if e.kind == "route")
    incidents = [{"run_id": e.run_id, **e.data} for e in events if e.kind == "incident"]
    calls = [e.data for e in events if e.kind == "call"]
    return {
        "audit_chain": {"intact": intact, "detail": chain},
        "runs": len(runs),
        "in_progress": sorted(set(started) - {r["run_id"] for r in runs}),
        "succeeded": len(successes),
        "success_rate": round(len(successes) / len(runs), 3) if runs else None,
        "cost_usd": round(total_cost, 6),
        # Failed runs' cost counts too: it is what the successes really cost.
        "cost_per_success_usd": round(total_cost / len(successes), 6) if successes else None,
        "latency_s": {"p50": _percentile(seconds, 50), "p95": _percentile(seconds, 95),
                      "mean": round(statistics.mean(seconds), 2) if seconds else None},
        "tokens": sum(c.get("prompt_tokens", 0) + c.get("completion_tokens", 0) for c in calls),
        "calls_by_tier": dict(Counter(c.get("tier") for c in calls)),
        "redactions": sum(c.get("redactions", 0) for c in calls),
        "routes_by_tier": dict(routes),
        "route_reasons": dict(reasons.most_common(10)),
        "incidents": incidents,
        "history": runs[-50:],
    }


def render_report(report: dict[str, Any]) -> str:
    lines = [
        f"runs: {report['runs']} finished, {report['succeeded']} committed"
        + (f" ({report['success_rate']:.0%})" if report["success_rate"] is not None else ""),
        f"cost: ${report['cost_usd']:.4f} total, "
        + (f"${report['cost_per_success_usd']:.4f} per successful task" if report["cost_per_success_usd"] is not None
           else "no successful task yet"),
        f"latency: p50 {report['latency_s']['p50']}s, p95 {report['latency_s']['p95']}s",
        f"model calls: {report['calls_by_tier']}; {report['tokens']} tokens; {report['redactions']} redactions",
        f"routing: {report['routes_by_tier']}",
        f"incidents: {len(report['incidents'])}",
        f"audit chain: {report['audit_chain']['detail']}" + ("" if report["audit_chain"]["intact"] else " (TAMPERED)"),
        "",
        "recent runs:",
    ]
    for run in report["history"][-15:]:
        lines.append(f"  {run['run_id']}  {run['status']:<10} ${run.get('cost_usd', 0):.4f}  "
                     f"{run.get('seconds', 0):>7.1f}s  {run.get('branch') or '-'}  {run.get('task', '')[:50]}")
    for run_id in report["in_progress"]:
        lines.append(f"  {run_id}  unfinished (agentsmith resume {run_id})")
    return "\n".join(lines)
