"""Which tier tries a step next: sensitivity first (a hard filter), then the cascade.

The cascade, with the sandbox as the verifier: local attempt -> local retry with the failing
output (optionally several sampled candidates) -> external attempt from the original files with the
trimmed failure log, or under routing.escalation = fresh (the default) exactly as frontier-only would
start, so an escalated task costs what frontier-only pays (never the local draft: a weaker tier's draft
anchors the stronger one) -> one external retry -> stop and report. Hard steps go to the external tier
first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentsmith.policy.schema import Policy
from agentsmith.records import Attempt, RouteDecision


def stop(reason: str) -> RouteDecision:
    return RouteDecision(tier=None, reason=reason, stop=True, samples=0)


@dataclass
class RoutingFacts:
    """What the router knows besides the step: the tiers, the pin, and why the external tier is out."""

    policy: Policy
    local: str | None  # the cheap in-house tier
    external: str | None  # the frontier tier
    pinned: str | None  # a tier name under --tier local/frontier/NAME, None under auto
    pinned_external: bool = False
    external_unavailable: str | None = None  # None when usable; else why (unconfigured, breaker, budget)
    attempts_left: int = 1
    tokens_left: int = 1
    tier_external: dict[str, bool] = field(default_factory=dict)


def retry_sampling(policy: Policy, tier_name: str) -> tuple[int, float]:
    """Candidates and temperature for a retry on this tier: the tier's own measured numbers, else the
    routing defaults for a local tier, else one greedy candidate (an external tier's extras cost money)."""
    tier = next((t for t in policy.tiers if t.name == tier_name), None)
    routing = policy.routing
    external = tier is not None and tier.external
    samples = (
        tier.retry_samples if tier and tier.retry_samples else (1 if external else 1 + max(0, routing.local_samples))
    )
    if tier and tier.retry_temperature is not None:
        temperature = tier.retry_temperature
    else:
        temperature = 0.0 if external and samples == 1 else routing.sample_temperature
    return samples, temperature


def route_step(step: dict, history: list[Attempt], sensitive: bool, facts: RoutingFacts) -> RouteDecision:
    routing = facts.policy.routing
    difficulty = int(step.get("difficulty") or 1)
    if any(a.passed for a in history):
        return stop("step already passed verification")
    if facts.attempts_left <= 0:
        return stop(f"attempt cap reached: budget.max_attempts_per_task = {facts.policy.budget.max_attempts_per_task}")
    if facts.tokens_left <= 0:
        return stop(f"token budget spent: budget.max_tokens_per_task = {facts.policy.budget.max_tokens_per_task}")

    external_used = sum(1 for a in history if facts.tier_external.get(a.tier, False))
    local_used = len(history) - external_used
    failures = f"{len(history)} failed attempt(s)" if history else "first attempt"

    def local_attempt(
        why: str, *, degraded: bool = False, allowed: int = routing.local_attempts, tier: str | None = facts.local
    ) -> RouteDecision:
        if tier is None:
            return stop(f"{why}, but the policy defines no local tier")
        if local_used >= allowed:
            return stop(f"{why}, but {local_used} local attempt(s) already failed (limit {allowed})")
        number = local_used + 1
        if number == 1:
            return RouteDecision(tier=tier, reason=f"{why}: local attempt 1/{allowed}", degraded=degraded)
        # A greedy retry of a small model mostly repeats its first answer word for word (seen here with
        # the failing output in the prompt): retries sample.
        samples, temperature = retry_sampling(facts.policy, tier)
        extra = f", {samples} sampled candidates" if samples > 1 else ""
        return RouteDecision(
            tier=tier,
            temperature=temperature,
            samples=samples,
            degraded=degraded,
            reason=f"{why}: local retry {number}/{allowed} with the failing output{extra}",
        )

    def external_attempt(tier: str, why: str) -> RouteDecision:
        if external_used >= routing.external_attempts:
            return stop(
                f"{why}, but {external_used} attempt(s) on {tier} already failed "
                f"(limit {routing.external_attempts}); stopping"
            )
        if facts.external_unavailable:
            total_allowed = routing.local_attempts + routing.external_attempts
            if routing.frontier_unavailable == "degrade" and facts.local is not None:
                return local_attempt(
                    f"{why}, but {facts.external_unavailable}; policy says degrade to local",
                    degraded=True,
                    allowed=total_allowed,
                )
            return stop(
                f"{why}, but {facts.external_unavailable}; policy routing.frontier_unavailable = "
                f"{routing.frontier_unavailable}"
            )
        number = external_used + 1
        fresh = bool(local_used) and routing.escalation == "fresh"
        given = ""
        if local_used:
            given = (
                " as if it were the step's first tier (routing.escalation = fresh)"
                if fresh
                else " from the original files with the failure log"
            )
        samples, temperature = retry_sampling(facts.policy, tier) if number > 1 else (1, 0.0)
        extra = f", {samples} sampled candidates" if samples > 1 else ""
        return RouteDecision(
            tier=tier,
            external=True,
            temperature=temperature,
            samples=samples,
            fresh=fresh,
            reason=f"{why}: {tier} attempt {number}/{routing.external_attempts}{given}{extra}",
        )

    if facts.pinned is not None:
        if facts.pinned_external:
            if sensitive:
                return stop(
                    f"step touches data the policy marks sensitive and the tier is pinned to external "
                    f"tier {facts.pinned}; sensitive data never leaves this machine (use --tier local)"
                )
            return external_attempt(facts.pinned, f"--tier pins {facts.pinned} ({failures})")
        return local_attempt(f"--tier pins {facts.pinned} ({failures})", tier=facts.pinned)

    if sensitive:
        if facts.local is None:
            return stop(
                "step touches data the policy marks sensitive and only an external tier could do it; "
                "sensitive data never leaves this machine"
            )
        decision = local_attempt("sensitive data: local tiers only")
        if decision.stop:
            return stop(
                f"step touches data the policy marks sensitive; {local_used} local attempt(s) failed and "
                "it is never escalated to an external tier"
            )
        return decision

    if facts.external and difficulty >= routing.frontier_difficulty:
        return external_attempt(
            facts.external, f"difficulty {difficulty} >= {routing.frontier_difficulty}, frontier first ({failures})"
        )
    if facts.local and local_used < routing.local_attempts:
        return local_attempt(f"difficulty {difficulty} < {routing.frontier_difficulty} ({failures})")
    if facts.external:
        return external_attempt(facts.external, f"escalating after {local_used} failed local attempt(s)")
    return stop(f"cascade exhausted: {local_used} local attempt(s) failed and the policy has no external tier")
