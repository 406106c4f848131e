"""What a model call costs: API spend (tokens at per-million prices) and compute (wall time at the
tier's price per hour), split on a real Portfolio whose tiers are scripted OpenAI-wire servers."""

from __future__ import annotations

import threading

import pytest

from agentsmith.graph.runner import summarise
from agentsmith.models import Portfolio
from agentsmith.models.portfolio import api_cost_usd, compute_cost_usd
from agentsmith.policy.schema import Policy
from tests import scripted_model

ASK = [{"role": "user", "content": "Reply with the single word: ok"}]


@pytest.fixture
def servers():
    started = []

    def start(delay: float) -> str:
        server = scripted_model.ScriptedServer(0, [{"answer": "ok"}], delay=delay)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_a_call_carries_api_spend_and_compute_apart(servers, monkeypatch):
    monkeypatch.setenv("AGENTSMITH_FRONTIER_API_KEY", "scripted-key")
    policy = Policy.model_validate(
        {
            "tiers": [
                # A self-hosted model on rented hardware: no token price, an hourly one.
                {
                    "name": "local",
                    "kind": "openai",
                    "model": "scripted-local",
                    "base_url": servers(0.3),
                    "price_per_hour": 7.2,
                },
                {
                    "name": "frontier",
                    "kind": "openai",
                    "model": "scripted-frontier",
                    "base_url": servers(0.0),
                    "external": True,
                    "price_in_per_mtok": 3.0,
                    "price_out_per_mtok": 15.0,
                },
            ]
        }
    )
    portfolio = Portfolio(policy, notify=lambda line: None)

    local = portfolio.complete("local", ASK)
    frontier = portfolio.complete("frontier", ASK)

    assert local.cost_usd == 0.0 and local.seconds >= 0.3
    # 7.2 $/hour is 0.002 $/second.
    assert local.compute_usd == pytest.approx(local.seconds * 0.002, rel=0.01)
    assert frontier.compute_usd == 0.0
    assert frontier.cost_usd == pytest.approx((frontier.prompt_tokens * 3.0 + frontier.completion_tokens * 15.0) / 1e6)
    assert frontier.cost_usd > 0
    # The task budget counts API spend only.
    assert portfolio.spent_usd == pytest.approx(frontier.cost_usd)
    assert portfolio.report()["compute_usd"] == pytest.approx(local.compute_usd)

    # A run's result reports both: cost_usd is the API spend, all_in_usd adds the compute.
    result = summarise({"run_id": "r", "calls": [local.to_dict(), frontier.to_dict()], "history": []})
    assert result["cost_usd"] == pytest.approx(frontier.cost_usd, abs=1e-6)
    assert result["all_in_usd"] == pytest.approx(frontier.cost_usd + local.compute_usd, abs=1e-6)
    assert [c["compute_usd"] for c in result["calls"]] == [local.compute_usd, 0.0]


def test_the_pure_prices():
    tier = Policy.model_validate(
        {
            "tiers": [
                {
                    "name": "t",
                    "kind": "gguf",
                    "price_in_per_mtok": 1.0,
                    "price_out_per_mtok": 4.0,
                    "price_per_hour": 0.08,
                }
            ]
        }
    ).tiers[0]
    assert api_cost_usd(tier, 2_000, 500) == pytest.approx(0.004)
    assert compute_cost_usd(tier, 90) == pytest.approx(0.002)  # 90 s at $0.08/hour
    assert compute_cost_usd(Policy.model_validate({"tiers": [{"name": "f", "kind": "openai"}]}).tiers[0], 90) == 0
