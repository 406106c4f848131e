"""The report over past runs as one typed model, built from the audit log alone.

`agentsmith report` renders it as text, JSON or HTML (reporting.render_report, Report.to_dict,
report_html.render_html); all three read these fields, none recomputes a figure. The log is read
through AuditLog.events(), so the same code serves the SQLite file and the shared PostgreSQL store."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any

from agentsmith.audit import AuditLog, Event
from agentsmith.config import audit_db
from agentsmith.errors import UserError
from agentsmith.graph.lease import all_drivers
from agentsmith.graph.totals import RunTotals, run_totals

# The incident taxonomy (seams.Incident.kind), in the order the weekly review reads it.
INCIDENT_KINDS = {
    "factual-error": "factual error",
    "policy-breach": "policy breach",
    "tool-misuse": "tool misuse",
    "sensitive-data": "sensitive-data mishandling",
    "sandbox-limit": "sandbox limit",
}
SPLIT_PARTS = ("model", "sandbox", "gate", "waiting", "orchestration")


@dataclass
class AuditChain:
    intact: bool
    detail: str


@dataclass
class RunRow:
    run_id: str
    status: str
    reason: str
    task: str
    branch: str | None
    commit: str | None
    cost_usd: float
    seconds: float
    tokens: int
    attempts: int
    incidents: int
    split: dict[str, Any] | None
    started: float | None
    finished: float


@dataclass
class Running:
    run_id: str
    driver: str


@dataclass
class Latency:
    p50: float | None
    p95: float | None
    mean: float | None


@dataclass
class TimeSplit:
    """The runs' splits added up (runs recorded before the split existed have none)."""

    model: float
    sandbox: float
    gate: float
    waiting: float
    orchestration: float
    orchestration_share: float | None
    runs: int


@dataclass
class Share:
    """One tier's (or one side's: local, external) model calls and their cost, and their shares of all."""

    name: str
    external: bool
    calls: int
    call_share: float
    cost_usd: float
    cost_share: float | None  # None when nothing cost anything (all-local runs)


@dataclass
class RuleCount:
    rule: str
    findings: int
    blocking: bool


@dataclass
class IncidentRow:
    run_id: str
    kind: str
    detail: str
    node: str


@dataclass
class Day:
    day: str  # YYYY-MM-DD, local time, of the runs' finish
    runs: int
    succeeded: int
    cost_usd: float
    cost_per_success_usd: float | None


@dataclass
class Report:
    since: str | None  # ISO timestamp; None: every run in the log
    run_id: str | None
    audit_chain: AuditChain
    runs: int
    succeeded: int
    success_rate: float | None
    cost_usd: float
    # Failed runs' cost counts too: it is what the successes really cost.
    cost_per_success_usd: float | None
    latency_s: Latency
    time_split: TimeSplit | None
    tokens: int
    redactions: int
    calls_by_tier: dict[str, int]
    routes_by_tier: dict[str, int]
    route_reasons: dict[str, int]
    routing: list[Share]  # per tier, most calls first
    locality: list[Share]  # "local" then "external"
    findings: list[RuleCount]  # most frequent first
    incidents_by_kind: dict[str, int]  # every kind of the taxonomy, 0 included
    incidents: list[IncidentRow]
    days: list[Day]
    history: list[RunRow]  # the newest 50
    in_progress: list[str] = field(default_factory=list)
    running: list[Running] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_since(text: str) -> float:
    """YYYY-MM-DD (local midnight) or an ISO timestamp (local time unless it names a zone), as epoch seconds."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), clock()).timestamp()
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise UserError(
            f"--since {text!r} is not a date", "give YYYY-MM-DD or an ISO timestamp such as 2025-01-06T09:00"
        ) from None


def build_report(run_id: str | None = None, since: str | None = None) -> Report:
    start = parse_since(since) if since else None
    log = AuditLog(audit_db())
    intact, chain = log.verify()
    events = log.events(run_id)
    if run_id and not events:
        raise UserError(f"no run with id {run_id}", "run `agentsmith report` to list runs")
    started = {e.run_id: e for e in events if e.kind == "run-started"}
    finished = [e for e in events if e.kind == "run-finished" and (start is None or e.ts >= start)]
    runs = [_run_row(e, started.get(e.run_id)) for e in finished]
    if start is not None:  # the window's runs, all their events (calls made before DATE included)
        window = {r.run_id for r in runs}
        events = [e for e in events if e.run_id in window or (e.kind == "run-started" and e.ts >= start)]
    successes = [r for r in runs if r.status == "committed"]
    total_cost = sum(r.cost_usd for r in runs)
    seconds = [r.seconds for r in runs]
    calls = [e for e in events if e.kind == "call"]
    call_totals = run_totals({"calls": [e.data for e in calls]})
    route_events = [e for e in events if e.kind == "route"]
    unfinished = sorted(
        {e.run_id for e in events if e.kind == "run-started"} - {e.run_id for e in events if e.kind == "run-finished"}
    )
    drivers = all_drivers()
    running = [r for r in unfinished if r in drivers and drivers[r].gone_reason() is None]
    incidents = [
        IncidentRow(e.run_id, e.data.get("kind", ""), e.data.get("detail", ""), e.data.get("node", ""))
        for e in events
        if e.kind == "incident"
    ]
    routing, locality = _routing(calls, call_totals, route_events)
    return Report(
        since=datetime.fromtimestamp(start).isoformat(timespec="minutes") if start is not None else None,
        run_id=run_id,
        audit_chain=AuditChain(intact, chain),
        runs=len(runs),
        in_progress=unfinished,
        running=[Running(r, drivers[r].describe()) for r in running],
        interrupted=[r for r in unfinished if r not in running],
        succeeded=len(successes),
        success_rate=round(len(successes) / len(runs), 3) if runs else None,
        cost_usd=round(total_cost, 6),
        cost_per_success_usd=round(total_cost / len(successes), 6) if successes else None,
        latency_s=Latency(
            p50=_percentile(seconds, 50),
            p95=_percentile(seconds, 95),
            mean=round(statistics.mean(seconds), 2) if seconds else None,
        ),
        time_split=_total_split([r.split for r in runs if r.split]),
        tokens=call_totals.tokens,
        redactions=call_totals.redactions,
        calls_by_tier=dict(Counter(e.data.get("tier") for e in calls)),
        routes_by_tier=dict(Counter((e.data.get("tier") or "stop") for e in route_events)),
        route_reasons=dict(Counter(e.data.get("reason", "") for e in route_events).most_common(10)),
        routing=routing,
        locality=locality,
        findings=_findings([e for e in events if e.kind == "gate"]),
        incidents_by_kind=_incidents_by_kind(incidents),
        incidents=incidents,
        days=_days(runs, start),
        history=runs[-50:],
    )


def _run_row(finished: Event, started: Event | None) -> RunRow:
    d = finished.data
    return RunRow(
        run_id=finished.run_id,
        status=d.get("status", "failed"),
        reason=d.get("reason", ""),
        task=d.get("task", ""),
        branch=d.get("branch"),
        commit=d.get("commit"),
        cost_usd=d.get("cost_usd", 0.0),
        seconds=d.get("seconds", 0.0),
        tokens=d.get("tokens", 0),
        attempts=d.get("attempts", 0),
        incidents=d.get("incidents", 0),
        split=d.get("split"),
        started=started.ts if started else None,
        finished=finished.ts,
    )


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _total_split(splits: list[dict[str, Any]]) -> TimeSplit | None:
    if not splits:
        return None
    total = {k: round(sum(s.get(k, 0.0) for s in splits), 2) for k in SPLIT_PARTS}
    active = sum(total.values()) - total["waiting"]
    share = round(total["orchestration"] / active, 3) if active > 0 else None
    return TimeSplit(**total, orchestration_share=share, runs=len(splits))


def _routing(calls: list[Event], totals: RunTotals, routes: list[Event]) -> tuple[list[Share], list[Share]]:
    """Calls and cost per tier (`totals`, of the `calls`) and per side. A call event names its tier; whether
    that tier is external is what the run's route to it said (a tier local in one policy may be external
    in another)."""
    external = {(e.run_id, e.data.get("tier")): bool(e.data.get("external")) for e in routes if e.data.get("tier")}
    count = Counter({tier: t.calls for tier, t in totals.by_tier.items()})
    cost = {tier: t.cost_usd for tier, t in totals.by_tier.items()}
    sides: dict[str, bool] = {}
    for e in calls:
        tier = e.data.get("tier") or "?"
        sides[tier] = sides.get(tier, False) or external.get((e.run_id, tier), False)
    total_calls, total_cost = totals.calls, totals.cost_usd

    def share(name: str, is_external: bool, calls: int, spent: float) -> Share:
        return Share(
            name=name,
            external=is_external,
            calls=calls,
            call_share=round(calls / total_calls, 3) if total_calls else 0.0,
            cost_usd=round(spent, 6),
            cost_share=round(spent / total_cost, 3) if total_cost > 0 else None,
        )

    tiers = [share(t, sides[t], n, cost[t]) for t, n in count.most_common()]
    locality = [
        share(
            side,
            side == "external",
            sum(t.calls for t in tiers if t.external == (side == "external")),
            sum(cost[t.name] for t in tiers if t.external == (side == "external")),
        )
        for side in ("local", "external")
    ]
    return tiers, locality


def _findings(gates: list[Event]) -> list[RuleCount]:
    """Rules by how often the gate found them. Gate events carry `rules` (every finding's rule); older
    ones only `blocking_rules`, which then count once per gate."""
    counts: Counter[str] = Counter()
    blocking: set[str] = set()
    for e in gates:
        rules = e.data.get("rules") or dict.fromkeys(e.data.get("blocking_rules", []), 1)
        counts.update(rules)
        blocking.update(e.data.get("blocking_rules", []))
    return [RuleCount(rule, n, rule in blocking) for rule, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _incidents_by_kind(incidents: list[IncidentRow]) -> dict[str, int]:
    counted = Counter(i.kind for i in incidents)
    return {kind: counted.pop(kind, 0) for kind in INCIDENT_KINDS} | dict(counted.most_common())


def _days(runs: list[RunRow], start: float | None) -> list[Day]:
    """One row per local calendar day from the window's start (or the first run) to the last run, gaps as 0."""
    if not runs:
        return []
    by_day: defaultdict[date, list[RunRow]] = defaultdict(list)
    for run in runs:
        by_day[datetime.fromtimestamp(run.finished).date()].append(run)
    first = datetime.fromtimestamp(start).date() if start is not None else min(by_day)
    days = []
    for offset in range((max(by_day) - first).days + 1):
        day = first + timedelta(days=offset)
        rows = by_day.get(day, [])
        cost = sum(r.cost_usd for r in rows)
        won = sum(1 for r in rows if r.status == "committed")
        days.append(Day(day.isoformat(), len(rows), won, round(cost, 6), round(cost / won, 6) if won else None))
    return days
