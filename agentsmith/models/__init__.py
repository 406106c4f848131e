"""Model tiers: the portfolio, the router and its cascade, budgets, the circuit breaker, local weights."""

from agentsmith.models.portfolio import Portfolio, print_to_stderr
from agentsmith.records import Attempt, RouteDecision

__all__ = ["Attempt", "Portfolio", "RouteDecision", "print_to_stderr"]
