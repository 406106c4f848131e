"""The portfolio: the policy's tiers, routed per step, with redaction, budgets and a breaker per tier."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable

from agentsmith.errors import ModelUnavailable, UserError
from agentsmith.models.breaker import CircuitBreaker
from agentsmith.models.budget import BudgetLedger
from agentsmith.models.router import RoutingFacts, route_step
from agentsmith.models.tiers import LocalTier, OpenAITier, TierFailure, fixed_seed
from agentsmith.policy.schema import Policy, Tier
from agentsmith.records import Attempt, RouteDecision
from agentsmith.redact import redact, restore
from agentsmith.seams import Completion, ModelTier

_PARTIAL_PLACEHOLDER = re.compile(r"<(?:<[A-Z0-9_]*>?)?")

# Rough size of one external call, for "is there budget left for the frontier at all?"
TYPICAL_PROMPT_TOKENS = 2000


def print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def estimate_tokens(messages: list[dict]) -> int:
    # Generous (about 3 characters a token) so that a reservation rarely undershoots the real bill.
    return sum(len(str(m.get("content") or "")) for m in messages) // 3 + 8 * len(messages) + 16


def estimate_text_tokens(text: str) -> int:
    """For a prompt budget, where undershooting means a refused call: BPE tokenizers average 3.5-4
    characters a token on Python, so 3.2 overshoots."""
    return int(len(text) / 3.2) + 1


def api_cost_usd(spec: Tier, prompt_tokens: int, completion_tokens: int) -> float:
    """What a call's tokens cost at the tier's per-million-token prices (the API spend)."""
    return (prompt_tokens * spec.price_in_per_mtok + completion_tokens * spec.price_out_per_mtok) / 1e6


def compute_cost_usd(spec: Tier, seconds: float) -> float:
    """What a call's wall time cost on the tier's hardware at its price per hour (zero for a tier
    priced only by the token)."""
    return seconds / 3600 * spec.price_per_hour


class _StreamRestorer:
    """Restores placeholders in streamed text, holding back a chunk tail that may be half a placeholder."""

    def __init__(self, mapping: dict[str, str], sink: Callable[[str], None]) -> None:
        self.mapping, self.sink, self.buffer = mapping, sink, ""

    def feed(self, piece: str) -> None:
        self.buffer += piece
        cut = len(self.buffer)
        start = self.buffer.rfind("<")
        if start > 0 and self.buffer[start - 1] == "<":
            start -= 1
        if start != -1 and _PARTIAL_PLACEHOLDER.fullmatch(self.buffer[start:]):
            cut = start
        ready, self.buffer = self.buffer[:cut], self.buffer[cut:]
        if ready:
            self.sink(restore(ready, self.mapping))

    def flush(self) -> None:
        if self.buffer:
            self.sink(restore(self.buffer, self.mapping))
            self.buffer = ""


class Portfolio:
    def __init__(
        self,
        policy: Policy,
        *,
        tier_flag: str = "auto",
        notify: Callable[[str], None] = print_to_stderr,
        ledger: BudgetLedger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not policy.tiers:
            raise UserError("the policy defines no model tiers", "add a `tiers:` list (see policies/default.yaml)")
        fixed_seed()  # a malformed AGENTSMITH_SEED stops the run before any call, in one line
        self.policy = policy
        self.notify = notify
        self.tiers: dict[str, ModelTier] = {t.name: self._build(t) for t in policy.tiers}
        self.local_name = self._pick(lambda t: not t.external, "local")
        self.external_name = self._pick(lambda t: t.external, "frontier")
        self.tier_flag = tier_flag
        self.pinned = self._resolve_flag(tier_flag)
        routing = policy.routing
        self.breakers = {
            name: CircuitBreaker(routing.breaker_failures, routing.breaker_cooldown_s, clock) for name in self.tiers
        }
        # Why a tier's last call failed, when the tier itself was at fault (unreachable, timed out, 5xx) after
        # the SDK's own retry. A run makes at most `external_attempts` external calls, fewer than the breaker
        # needs to open: without this an unreachable frontier used them all up and never degraded.
        self.down: dict[str, str] = {}
        budget = policy.budget
        self.ledger = ledger or BudgetLedger(
            budget.max_usd_per_task, budget.max_tokens_per_task, budget.max_attempts_per_task
        )
        self.mapping: dict[str, str] = {}  # placeholders, stable for the life of this portfolio (a run)
        self.calls: list[Completion] = []
        # Wall seconds inside the tiers (calls that failed, loading and tokenizing included): the
        # run's time split counts them as model time, not orchestration.
        self.model_seconds = 0.0
        self.decisions: list[RouteDecision] = []
        self._lock = threading.Lock()

    @classmethod
    def from_policy(
        cls, loaded_policy, *, tier_flag: str = "auto", notify: Callable[[str], None] = print_to_stderr, **kwargs
    ) -> Portfolio:
        policy = getattr(loaded_policy, "policy", loaded_policy)
        return cls(policy, tier_flag=tier_flag, notify=notify, **kwargs)

    # ------------------------------------------------------------ set-up

    def _build(self, spec: Tier) -> ModelTier:
        if spec.kind == "openai":
            return OpenAITier(spec)
        model = spec.model
        first_local_gguf = next(t for t in self.policy.tiers if t.kind == "gguf" and not t.external)
        if spec is first_local_gguf and os.environ.get("AGENTSMITH_LOCAL_MODEL"):
            model = os.environ["AGENTSMITH_LOCAL_MODEL"]
        if not model:
            raise UserError(f"tier {spec.name} has no model", "set a model id or a .gguf path in the policy")
        tier = LocalTier(spec, model)
        tier.notify = self.notify
        return tier

    def _pick(self, wanted: Callable[[ModelTier], bool], preferred: str) -> str | None:
        if preferred in self.tiers and wanted(self.tiers[preferred]):
            return preferred
        return next((name for name, tier in self.tiers.items() if wanted(tier)), None)

    def _resolve_flag(self, flag: str) -> str | None:
        valid = ["auto", "local", "frontier", *[n for n in self.tiers if n not in ("local", "frontier")]]
        if flag == "auto":
            return None
        if flag in self.tiers:
            return flag
        if flag == "local" and self.local_name:
            return self.local_name
        if flag == "frontier" and self.external_name:
            return self.external_name
        raise UserError(f"unknown tier {flag!r}", f"use --tier with one of: {', '.join(valid)}")

    # ------------------------------------------------------------ readiness

    def check(self, tier_name: str) -> None:
        """Cheap readiness check at intake. An unconfigured external tier under policy "degrade" is not
        an error here: routing degrades to local with a notice."""
        name = self._resolve_flag(tier_name) if tier_name in ("local", "frontier") else tier_name
        if name is None:  # "auto": what the cascade starts with
            name = self.local_name or self.external_name
        tier = self.tiers.get(name or "")
        if tier is None:
            self._resolve_flag(tier_name)  # raises with the valid names
            return
        if self.pinned == name and tier.external:
            tier.probe()  # the user asked for this tier by name: no silent degrade
            return
        if tier.external and tier.configured() and self.policy.routing.frontier_unavailable == "degrade":
            return
        tier.check()

    def unavailable_reason(self, name: str) -> str | None:
        tier = self.tiers[name]
        problem = tier.configured()
        if problem:
            return problem
        breaker = self.breakers[name]
        if not breaker.available():
            return (
                f"tier {name}'s circuit is open after {breaker.failures_to_open} failures "
                f"(next probe in {breaker.seconds_until_probe():.0f}s)"
            )
        if name in self.down:
            return self.down[name]
        spec = tier.spec
        typical = api_cost_usd(spec, TYPICAL_PROMPT_TOKENS, spec.max_output_tokens)
        if not self.ledger.can_afford(typical, TYPICAL_PROMPT_TOKENS + spec.max_output_tokens):
            return (
                f"tier {name} is over budget (${self.ledger.usd_left():.4f} and "
                f"{self.ledger.tokens_left()} tokens left of the task budget)"
            )
        return None

    # ------------------------------------------------------------ routing

    def route(self, step: dict, history: list[Attempt], *, sensitive: bool) -> RouteDecision:
        external = self.pinned if self.pinned and self.tiers[self.pinned].external else self.external_name
        facts = RoutingFacts(
            policy=self.policy,
            local=self.local_name,
            external=self.external_name,
            pinned=self.pinned,
            pinned_external=bool(self.pinned and self.tiers[self.pinned].external),
            external_unavailable=self.unavailable_reason(external) if external else None,
            attempts_left=self.ledger.max_attempts - self.ledger.attempts,
            tokens_left=self.ledger.tokens_left(),
            tier_external={name: tier.external for name, tier in self.tiers.items()},
        )
        decision = route_step(step, history, sensitive, facts)
        decision.step_id = str(step.get("id", ""))
        if decision.tier is not None:
            decision.external = self.tiers[decision.tier].external
            if not self.ledger.take_attempt():
                decision = RouteDecision(
                    tier=None,
                    stop=True,
                    samples=0,
                    step_id=decision.step_id,
                    reason=f"attempt cap reached: budget.max_attempts_per_task = {self.ledger.max_attempts}",
                )
        if decision.degraded:
            self.notify(f"! degraded to local: {decision.reason}")
        with self._lock:
            self.decisions.append(decision)
        return decision

    # ------------------------------------------------------------ prompt budget

    def prompt_budget(self, tier_name: str) -> int:
        """Prompt tokens a tier can take: its context less the answer's room and a margin for the chat
        template and tokenizer drift (5%, at least 256 tokens)."""
        spec = self.tiers[tier_name].spec
        margin = max(256, spec.context // 20)
        return max(256, spec.context - spec.max_output_tokens - margin)

    def continues_answers(self, tier_name: str) -> bool:
        """Whether the tier can continue an answer begun for it (a local model run token by token)."""
        tier = self.tiers.get(tier_name)
        return bool(tier is not None and getattr(tier, "continues_answers", False))

    def token_counter(self, tier_name: str) -> Callable[[str], int]:
        """The tier's real tokenizer when it is local; else a conservative estimate (no remote tokenizer API)."""
        tier = self.tiers[tier_name]
        if tier.spec.kind != "gguf":
            return tier.count_tokens  # an estimate: no remote tokenizer API

        def count(text: str) -> int:
            start = time.monotonic()
            try:
                return tier.count_tokens(text)  # the first count loads the model
            finally:
                self._add_model_seconds(time.monotonic() - start)

        return count

    def _add_model_seconds(self, seconds: float) -> None:
        with self._lock:
            self.model_seconds += seconds

    # ------------------------------------------------------------ calls

    def complete(
        self,
        tier_name: str,
        messages: list[dict],
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        on_token: Callable[[str], None] | None = None,
        reason: str = "",
        prefill: str = "",
        reason_first: bool = False,
    ) -> Completion:
        """`prefill`: the answer's code block begun, for a tier that can continue a begun answer (a local
        model), after its reasoning when `reason_first`; other tiers get the messages alone, which ask for
        the same in words."""
        tier = self.tiers.get(tier_name)
        if tier is None:
            self._resolve_flag(tier_name)
            raise UserError(f"unknown tier {tier_name!r}", "route first and use the decision's tier")
        spec = tier.spec
        max_tokens = max_tokens or spec.max_output_tokens
        breaker = self.breakers[tier_name]
        redacted_count = 0
        sink = on_token
        restorer = None
        outgoing = messages
        if tier.external:
            tier.check()
            with self._lock:  # the mapping is shared by every thread of one run
                outgoing = []
                for message in messages:
                    result = redact(str(message.get("content") or ""), self.policy, self.mapping)
                    redacted_count += result.count
                    outgoing.append({**message, "content": result.text})
            if on_token is not None:
                restorer = _StreamRestorer(self.mapping, on_token)
                sink = restorer.feed
        prompt_estimate = estimate_tokens(outgoing)
        reserved_usd = api_cost_usd(spec, prompt_estimate, max_tokens)
        reservation = self.ledger.reserve(reserved_usd, prompt_estimate + max_tokens)
        if not breaker.acquire():
            self.ledger.settle(reservation, 0.0, 0)
            raise ModelUnavailable(
                f"tier {tier_name}'s circuit is open after repeated failures",
                f"wait {breaker.seconds_until_probe():.0f}s or use --tier local",
            )
        if tier.external:
            self.notify(f"-> external call: tier={tier_name} model={tier.model} redacted={redacted_count} items")
        start = time.monotonic()
        try:
            begun = (
                {"prefill": prefill, "reason_first": reason_first}
                if prefill and self.continues_answers(tier_name)
                else {}
            )
            answer = tier.chat(outgoing, temperature=temperature, max_tokens=max_tokens, on_token=sink, **begun)
        except TierFailure as err:
            self._add_model_seconds(time.monotonic() - start)
            self.ledger.settle(reservation, 0.0, 0)
            breaker.record_failure() if err.unhealthy else breaker.release()
            if err.unhealthy:
                self.down[tier_name] = err.problem
            raise
        except Exception:
            self._add_model_seconds(time.monotonic() - start)
            self.ledger.settle(reservation, 0.0, 0)
            breaker.record_failure()
            raise
        except BaseException:
            self._add_model_seconds(time.monotonic() - start)
            self.ledger.settle(reservation, 0.0, 0)
            breaker.release()
            raise
        seconds = time.monotonic() - start
        self._add_model_seconds(seconds)
        breaker.record_success()
        self.down.pop(tier_name, None)
        if restorer is not None:
            restorer.flush()
        # The task budget caps API spend; compute is reported beside it, not charged to the budget.
        cost = api_cost_usd(spec, answer.prompt_tokens, answer.completion_tokens)
        self.ledger.settle(reservation, cost, answer.prompt_tokens + answer.completion_tokens)
        text = restore(answer.text, self.mapping) if tier.external else answer.text
        completion = Completion(
            text=text,
            tier=tier_name,
            model=tier.model,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            seconds=round(seconds, 3),
            cost_usd=cost,
            # the wait for the machine's cores is the other run's compute, not this call's
            compute_usd=compute_cost_usd(spec, seconds - answer.queued_s),
            redactions=redacted_count,
            reason=reason,
            prompt_tokens_evaluated=answer.prompt_tokens_evaluated,
            seed=answer.seed,
            cut=answer.cut,
            queued_s=answer.queued_s,
        )
        with self._lock:
            self.calls.append(completion)
        return completion

    # ------------------------------------------------------------ totals

    @property
    def spent_usd(self) -> float:
        return self.ledger.spent_usd

    @property
    def tokens_used(self) -> int:
        return self.ledger.tokens_used

    def report(self) -> dict:
        """Per-call records and totals, as `run --json` reports them."""
        return {
            "calls": [c.to_dict() for c in self.calls],
            "decisions": [d.model_dump(mode="json") for d in self.decisions],
            "spent_usd": self.spent_usd,
            "compute_usd": sum(c.compute_usd for c in self.calls),
            "tokens": self.tokens_used,
            "attempts": self.ledger.attempts,
        }
