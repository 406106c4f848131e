"""A run's totals, computed in one place: tokens, API and compute cost, wall time and its split, attempts
and escalations. The run-finished event, `run --json`, the bench records, the report and the TUI's
meter all read them from `run_totals`, so no two of them can add a run up differently."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The nodes whose own wall time (less any model time in them) is one part of a run's time split.
TIMED_PARTS = {"verify": "sandbox", "gate": "gate"}


@dataclass
class TierTotals:
    """One tier's share of the calls (the bench record's `tokens_by_tier` entry, in its key order)."""

    prompt: int = 0
    completion: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    compute_usd: float = 0.0


@dataclass(frozen=True)
class RunTotals:
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float  # API spend: tokens at the tiers' prices
    compute_usd: float  # the tiers' wall time at their price_per_hour
    all_in_usd: float  # both
    redactions: int
    seconds: float  # wall time
    split: dict[str, Any]  # the wall time as model, sandbox, gate, waiting, orchestration
    attempts: int
    escalations: int
    by_tier: dict[str, TierTotals] = field(default_factory=dict)  # in the order the tiers were first called

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def tiers_used(self) -> list[str]:
        return sorted(self.by_tier)


def run_totals(values: Mapping[str, Any], *, now: float | None = None) -> RunTotals:
    """The totals of a run's state, or of any mapping holding its `calls` (and `routes`, `timings`,
    `history`, `started_at`, `finished_at` where known: an unfinished run's wall time runs to `now`)."""
    now = time.time() if now is None else now
    calls = values.get("calls") or []
    by_tier: dict[str, TierTotals] = {}
    for call in calls:
        tier = by_tier.setdefault(call.get("tier") or "?", TierTotals())
        tier.prompt += int(call.get("prompt_tokens") or 0)
        tier.completion += int(call.get("completion_tokens") or 0)
        tier.calls += 1
        tier.cost_usd += float(call.get("cost_usd") or 0.0)
        tier.compute_usd += float(call.get("compute_usd") or 0.0)
    api_usd = sum(t.cost_usd for t in by_tier.values())
    compute_usd = sum(t.compute_usd for t in by_tier.values())
    for tier in by_tier.values():
        tier.cost_usd, tier.compute_usd = round(tier.cost_usd, 6), round(tier.compute_usd, 6)
    wall = (values.get("finished_at") or now) - (values.get("started_at") or now)
    return RunTotals(
        calls=len(calls),
        prompt_tokens=sum(t.prompt for t in by_tier.values()),
        completion_tokens=sum(t.completion for t in by_tier.values()),
        cost_usd=round(api_usd, 6),
        compute_usd=round(compute_usd, 6),
        all_in_usd=round(api_usd + compute_usd, 6),
        redactions=sum(int(c.get("redactions") or 0) for c in calls),
        seconds=round(wall, 2),
        split=time_split(values, wall),
        attempts=len(values.get("history") or []),
        escalations=_escalations(values.get("routes") or []),
        by_tier=by_tier,
    )


def _escalations(routes: list[dict[str, Any]]) -> int:
    """Route decisions that moved a step to a different tier than its previous attempt."""
    escalations, previous = 0, {}
    for route in routes:
        tier, step = route.get("tier"), route.get("step", "")
        if tier is None:
            continue
        if step in previous and previous[step] != tier:
            escalations += 1
        previous[step] = tier
    return escalations


def time_split(values: Mapping[str, Any], wall: float) -> dict[str, Any]:
    """A run's wall seconds as model, sandbox, gate and orchestration (everything else: planning, prompt
    assembly, applying edits, checkpoints, git), from the per-node `timings` the graph records.
    `waiting` (for a reviewer, or for `resume` after the driver died) is no one's work: set apart."""
    parts = {"model": 0.0, "sandbox": 0.0, "gate": 0.0, "waiting": 0.0}
    previous: dict[str, Any] | None = None
    for timing in values.get("timings") or []:
        model = timing.get("model", 0.0)
        parts["model"] += model
        part = TIMED_PARTS.get(timing.get("node", ""))
        if part:
            parts[part] += timing.get("seconds", 0.0) - model
        if (
            previous
            and "started" in timing
            and "started" in previous
            and (timing["node"] == "review" or timing.get("pid") != previous.get("pid"))
        ):
            parts["waiting"] += max(0.0, timing["started"] - previous["started"] - previous.get("seconds", 0.0))
        previous = timing
    parts["orchestration"] = max(0.0, wall - sum(parts.values()))
    active = wall - parts["waiting"]
    return {k: round(v, 2) for k, v in parts.items()} | {
        "orchestration_share": round(parts["orchestration"] / active, 3) if active > 0 else None
    }
