"""The router: sensitivity first, then difficulty, failures, budget and tier health; the cascade's order."""

from __future__ import annotations

import pytest

from agentsmith.errors import UserError
from agentsmith.models import Attempt, Portfolio
from agentsmith.policy import load_policy

STEP = {"id": "s1", "description": "validate parse_port", "difficulty": 2, "files": ["app.py"]}
HARD = {**STEP, "id": "s2", "difficulty": 5}


@pytest.fixture
def frontier_configured(monkeypatch):
    # Routing only needs the frontier to be configured; nothing is called in these tests.
    monkeypatch.setenv("AGENTSMITH_FRONTIER_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("AGENTSMITH_FRONTIER_MODEL", "frontier-model")


@pytest.fixture
def frontier_unconfigured(monkeypatch):
    for var in ("AGENTSMITH_FRONTIER_BASE_URL", "AGENTSMITH_FRONTIER_MODEL"):
        monkeypatch.delenv(var, raising=False)


def portfolio(tier_flag="auto", notices=None, **overrides) -> Portfolio:
    policy = load_policy().policy
    for section, values in overrides.items():
        setattr(policy, section, getattr(policy, section).model_copy(update=values))
    sink = notices.append if notices is not None else (lambda line: None)
    return Portfolio(policy, tier_flag=tier_flag, notify=sink)


def failed(tier: str) -> Attempt:
    return Attempt(tier=tier, passed=False, tokens=100, cost_usd=0.0, error="2 tests failed")


def test_cascade_goes_local_then_local_retry_then_frontier_twice_then_stops(frontier_configured):
    p = portfolio()
    history: list[Attempt] = []
    tiers = []
    while True:
        decision = p.route(STEP, history, sensitive=False)
        if decision.stop:
            break
        tiers.append(decision.tier)
        history.append(failed(decision.tier))
    assert tiers == ["local", "local", "frontier", "frontier"]
    assert "local" in decision.reason and "frontier" in decision.reason
    assert [d.reason for d in p.decisions][2].startswith("escalating after 2 failed local attempt(s)")
    # The default: the frontier is asked what it would be asked alone, its retry shows its own failure only.
    assert "routing.escalation = fresh" in p.decisions[2].reason
    assert [d.fresh for d in p.decisions[:4]] == [False, False, True, True]


def test_escalation_with_failure_shows_the_frontier_the_local_failure(frontier_configured):
    p = portfolio(routing={"escalation": "with-failure"})
    history = [failed("local"), failed("local")]
    decision = p.route(STEP, history, sensitive=False)
    assert decision.tier == "frontier" and not decision.fresh
    assert "from the original files with the failure log" in decision.reason


def test_retry_draws_sampled_candidates_when_the_policy_asks(frontier_configured):
    p = portfolio()
    first = p.route(STEP, [], sensitive=False)
    retry = p.route(STEP, [failed("local")], sensitive=False)
    assert (first.samples, first.temperature) == (1, 0.0)
    assert retry.samples == 4 and retry.temperature == pytest.approx(0.8)  # the default policy's measured numbers
    assert "4 sampled candidates" in retry.reason


def test_a_local_tier_without_its_own_numbers_takes_the_routing_defaults(frontier_configured):
    p = portfolio(routing={"local_samples": 2, "sample_temperature": 0.6})
    p.policy.tiers[0] = p.policy.tiers[0].model_copy(update={"retry_samples": None, "retry_temperature": None})
    retry = p.route(STEP, [failed("local")], sensitive=False)
    assert (retry.samples, retry.temperature) == (3, pytest.approx(0.6))


def test_each_tier_samples_with_its_own_measured_numbers(frontier_configured):
    p = portfolio(routing={"local_samples": 3})
    local, frontier = p.policy.tiers
    p.policy.tiers = [
        local.model_copy(update={"retry_samples": 6, "retry_temperature": 0.5}),
        frontier.model_copy(update={"retry_samples": 2, "retry_temperature": 0.3}),
    ]
    retry = p.route(STEP, [failed("local")], sensitive=False)
    assert (retry.samples, retry.temperature) == (6, pytest.approx(0.5))
    first_external = p.route(STEP, [failed("local"), failed("local")], sensitive=False)
    assert first_external.external and (first_external.samples, first_external.temperature) == (1, 0.0)
    external_retry = p.route(STEP, [failed("local"), failed("local"), failed("frontier")], sensitive=False)
    assert (external_retry.samples, external_retry.temperature) == (2, pytest.approx(0.3))
    assert "2 sampled candidates" in external_retry.reason


def test_an_external_tier_draws_one_greedy_candidate_unless_its_policy_says_more(frontier_configured):
    p = portfolio(routing={"local_samples": 3})
    external_retry = p.route(STEP, [failed("local"), failed("local"), failed("frontier")], sensitive=False)
    assert external_retry.external and (external_retry.samples, external_retry.temperature) == (1, 0.0)


def test_a_passed_step_is_not_routed_again(frontier_configured):
    decision = portfolio().route(STEP, [Attempt(tier="local", passed=True, tokens=10)], sensitive=False)
    assert decision.stop and decision.tier is None


def test_hard_steps_go_to_the_frontier_first(frontier_configured):
    decision = portfolio().route(HARD, [], sensitive=False)
    assert decision.tier == "frontier" and decision.external
    assert "difficulty 5 >= 4" in decision.reason


def test_sensitive_steps_never_reach_an_external_tier(frontier_configured):
    p = portfolio()
    history: list[Attempt] = []
    for _ in range(10):
        decision = p.route(HARD, history, sensitive=True)
        if decision.stop:
            break
        assert decision.tier == "local"
        history.append(failed(decision.tier))
    assert decision.stop
    assert "sensitive" in decision.reason and "never escalated" in decision.reason
    assert all(d.tier != "frontier" for d in p.decisions)


def test_sensitive_step_pinned_to_frontier_stops_and_says_so(frontier_configured):
    decision = portfolio("frontier").route(STEP, [], sensitive=True)
    assert decision.stop and decision.tier is None
    assert "sensitive data never leaves this machine" in decision.reason


def test_sensitive_step_with_only_an_external_tier_stops(frontier_configured):
    policy = load_policy().policy
    policy.tiers = [t for t in policy.tiers if t.external]
    decision = Portfolio(policy, notify=lambda line: None).route(STEP, [], sensitive=True)
    assert decision.stop and "only an external tier could do it" in decision.reason


def test_pinned_tiers(frontier_configured):
    local = portfolio("local")
    assert [local.route(STEP, h, sensitive=False).tier for h in ([], [failed("local")])] == ["local", "local"]
    assert local.route(STEP, [failed("local"), failed("local")], sensitive=False).stop
    frontier = portfolio("frontier")
    assert frontier.route(STEP, [], sensitive=False).tier == "frontier"
    assert frontier.route(STEP, [failed("frontier"), failed("frontier")], sensitive=False).stop


def test_unknown_tier_flag_is_a_one_line_user_error():
    with pytest.raises(UserError) as err:
        portfolio("gpt-99")
    assert "unknown tier 'gpt-99'" in str(err.value) and "auto, local, frontier" in str(err.value)


def test_unconfigured_frontier_degrades_to_local_with_a_notice(frontier_unconfigured):
    notices: list[str] = []
    p = portfolio("auto", notices)
    p.check("auto")  # policy "degrade": not an error at intake
    decision = p.route(STEP | {"difficulty": 5}, [], sensitive=False)  # hard: frontier first, if it could
    assert decision.tier == "local" and decision.degraded
    assert "not configured" in decision.reason
    assert notices and notices[0].startswith("! degraded to local")


def test_a_pinned_frontier_that_is_unconfigured_is_an_error_not_a_silent_swap(frontier_unconfigured):
    # --tier frontier is the user's explicit choice: running another model instead would surprise them.
    with pytest.raises(UserError, match="AGENTSMITH_FRONTIER_BASE_URL"):
        portfolio("frontier").check("frontier")


def test_unconfigured_frontier_stops_when_the_policy_says_stop(frontier_unconfigured):
    p = portfolio("frontier", routing={"frontier_unavailable": "stop"})
    with pytest.raises(UserError, match="AGENTSMITH_FRONTIER_BASE_URL"):
        p.check("frontier")
    decision = p.route(STEP, [], sensitive=False)
    assert decision.stop and "frontier_unavailable = stop" in decision.reason


def test_escalation_degrades_when_the_frontier_circuit_is_open(frontier_configured):
    notices: list[str] = []
    p = portfolio(notices=notices)
    for _ in range(p.policy.routing.breaker_failures):
        p.breakers["frontier"].record_failure()
    decision = p.route(STEP, [failed("local"), failed("local")], sensitive=False)
    assert decision.tier == "local" and decision.degraded
    assert "circuit is open" in decision.reason and notices


def test_escalation_degrades_when_the_task_budget_is_spent(frontier_configured):
    p = portfolio(budget={"max_usd_per_task": 0.01})
    decision = p.route(STEP, [failed("local"), failed("local")], sensitive=False)
    assert decision.tier == "local" and decision.degraded and "over budget" in decision.reason


def test_attempt_cap_per_task_stops_routing(frontier_configured):
    p = portfolio(budget={"max_attempts_per_task": 3})
    decisions = [p.route({**STEP, "id": f"s{i}"}, [], sensitive=False) for i in range(4)]
    assert [d.stop for d in decisions] == [False, False, False, True]
    assert "max_attempts_per_task = 3" in decisions[-1].reason


def test_every_decision_is_logged_with_its_reason(frontier_configured):
    p = portfolio()
    p.route(STEP, [], sensitive=False)
    p.route(HARD, [], sensitive=True)
    logged = p.report()["decisions"]
    assert [d["step_id"] for d in logged] == ["s1", "s2"]
    assert all(d["reason"] for d in logged)
