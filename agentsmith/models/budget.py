"""Per-task caps on dollars, tokens and attempts. A call reserves its worst case before it starts,
so concurrent calls (threads sampling candidates, parallel steps) can never overrun a cap."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from agentsmith.errors import ModelUnavailable


class BudgetExceeded(ModelUnavailable):
    pass


@dataclass
class Reservation:
    usd: float
    tokens: int
    settled: bool = False


class BudgetLedger:
    def __init__(self, max_usd: float, max_tokens: int, max_attempts: int) -> None:
        self.max_usd = max_usd
        self.max_tokens = max_tokens
        self.max_attempts = max_attempts
        self._lock = threading.Lock()
        self.spent_usd = 0.0
        self.tokens_used = 0
        self.attempts = 0
        self._reserved_usd = 0.0
        self._reserved_tokens = 0

    def usd_left(self) -> float:
        with self._lock:
            return self.max_usd - self.spent_usd - self._reserved_usd

    def tokens_left(self) -> int:
        with self._lock:
            return self.max_tokens - self.tokens_used - self._reserved_tokens

    def can_afford(self, usd: float, tokens: int) -> bool:
        with self._lock:
            return (
                self.spent_usd + self._reserved_usd + usd <= self.max_usd + 1e-12
                and self.tokens_used + self._reserved_tokens + tokens <= self.max_tokens
            )

    def reserve(self, usd: float, tokens: int) -> Reservation:
        with self._lock:
            if self.spent_usd + self._reserved_usd + usd > self.max_usd + 1e-12:
                raise BudgetExceeded(
                    f"task budget of ${self.max_usd:.2f} would be exceeded (spent ${self.spent_usd:.4f}, "
                    f"reserved ${self._reserved_usd:.4f}, this call up to ${usd:.4f})",
                    "raise budget.max_usd_per_task in the policy, or use --tier local",
                )
            if self.tokens_used + self._reserved_tokens + tokens > self.max_tokens:
                raise BudgetExceeded(
                    f"task token budget of {self.max_tokens} would be exceeded (used {self.tokens_used}, "
                    f"reserved {self._reserved_tokens}, this call up to {tokens})",
                    "raise budget.max_tokens_per_task in the policy, or shorten the task",
                )
            self._reserved_usd += usd
            self._reserved_tokens += tokens
            return Reservation(usd, tokens)

    def settle(self, reservation: Reservation, usd: float, tokens: int) -> None:
        """Replace a reservation by what the call really cost (nothing, if it failed)."""
        with self._lock:
            if reservation.settled:
                return
            reservation.settled = True
            self._reserved_usd -= reservation.usd
            self._reserved_tokens -= reservation.tokens
            self.spent_usd += usd
            self.tokens_used += tokens

    def take_attempt(self) -> bool:
        with self._lock:
            if self.attempts >= self.max_attempts:
                return False
            self.attempts += 1
            return True


class SharedLedger(BudgetLedger):
    """One run's ledger in the shared database: a run resumed by another worker keeps what it already spent.
    Reservations stay in this process (one driver per run, under its lease); settled spending is written
    through, so a crash loses at most the call in flight."""

    def __init__(self, run_id: str, max_usd: float, max_tokens: int, max_attempts: int, shared) -> None:
        super().__init__(max_usd, max_tokens, max_attempts)
        self.run_id, self._store = run_id, shared
        with shared.connect() as db:
            db.execute("INSERT INTO budgets (run_id) VALUES (?) ON CONFLICT (run_id) DO NOTHING", (run_id,))
            row = db.execute(
                "SELECT spent_usd, tokens_used, attempts FROM budgets WHERE run_id = ?", (run_id,)
            ).fetchone()
        self.spent_usd, self.tokens_used, self.attempts = float(row[0]), int(row[1]), int(row[2])

    def settle(self, reservation: Reservation, usd: float, tokens: int) -> None:
        first = not reservation.settled
        super().settle(reservation, usd, tokens)
        if first and (usd or tokens):
            with self._store.connect() as db:
                db.execute(
                    "UPDATE budgets SET spent_usd = spent_usd + ?, tokens_used = tokens_used + ? WHERE run_id = ?",
                    (usd, tokens, self.run_id),
                )

    def take_attempt(self) -> bool:
        taken = super().take_attempt()
        if taken:
            with self._store.connect() as db:
                db.execute("UPDATE budgets SET attempts = attempts + 1 WHERE run_id = ?", (self.run_id,))
        return taken


def shared_ledger(run_id: str, budget) -> BudgetLedger | None:
    """The run's ledger in the shared database (scaled mode), or None for the per-process default."""
    from agentsmith import store

    shared = store.current()
    if not shared.shared:
        return None
    return SharedLedger(
        run_id, budget.max_usd_per_task, budget.max_tokens_per_task, budget.max_attempts_per_task, shared
    )
