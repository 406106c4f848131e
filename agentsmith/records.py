"""The run's records: what the graph's nodes decide and hand on to each other, checkpointed as they are.

Pydantic models, so they serialise to JSON as they are (an audit event is `model_dump(mode="json")`)
and the LangGraph checkpointer rebuilds them by name from `CHECKPOINT_TYPES`, its allowlist
(agentsmith.store). The router (agentsmith.models) builds a RouteDecision from Attempts and the
nodes (agentsmith.graph) build the rest, so this module imports neither.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    # A misspelt field is an error where the record is built, not a key nobody reads.
    model_config = ConfigDict(extra="forbid")


class RouteDecision(Record):
    """Which tier tries the step next, and why (agentsmith.models.router decides)."""

    tier: str | None  # None: stop
    reason: str
    temperature: float = 0.0
    stop: bool = False
    samples: int = 1  # candidates to draw for this attempt, each verified
    degraded: bool = False  # the wanted external tier was unavailable; a local tier stands in
    step_id: str = ""
    external: bool = False
    # The attempt is shown only its own tier's earlier failures, not a weaker tier's (routing.escalation).
    fresh: bool = False
    # Candidates drawn so far: `edit` counts them, and verify asks for the next while drawn < samples.
    # Not part of the decision the route event records.
    drawn: int = 0


class Attempt(Record):
    """One attempt at a step as verify recorded it: what the router counts and the next prompt shows."""

    tier: str
    passed: bool
    tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    overflow: bool = False  # the tier refused the prompt as too big: its next prompt is smaller
    prompt_tokens: int = 0
    log: str = ""  # the tail of the failure, for the next prompt (not in the verify event)
    # the step's files as this attempt's applied answer left them (tests failed): what a repair shows
    code: dict[str, str] = {}


class VerifyOutcome(Record):
    """What the verifier found: the repo's tests in the sandbox, or why there was nothing to test (the
    model call failed, no edit applied; then `error` is set before verify runs and no test runs)."""

    passed: bool
    error: str | None = None
    log: str = ""
    exit_code: int | None = None
    seconds: float | None = None
    limit: str | None = None  # which sandbox limit fired
    backend: str | None = None  # the sandbox backend
    overflow: bool = False  # the tier refused the prompt as too big
    prompt_tokens: int = 0
    # Failures on the base revision, when this verify measured them; verify moves them to the state.
    baseline: list[str] | None = None
    next_step: bool = False  # the step passed and a later step starts its cascade


class GateSummary(Record):
    """The security gate's verdict on the change (the findings themselves are in the state's `findings`)."""

    findings: int
    blocking: int
    seconds: float
    tools: list[str]
    # Scanners that could not run (the gate failed closed): the change is not at fault, so the run stops
    # with these lines instead of asking the model to fix what it did not break.
    tool_errors: list[str] = []


# What a checkpoint may rebuild besides LangGraph's own safe types (see agentsmith.store.checkpoint_serde).
CHECKPOINT_TYPES: tuple[type[Record], ...] = (RouteDecision, Attempt, VerifyOutcome, GateSummary)
