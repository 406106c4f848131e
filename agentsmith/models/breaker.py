"""A circuit breaker per tier: opens after repeated failures, lets one probe through after a cooldown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    def __init__(
        self, failures_to_open: int = 3, cooldown_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures_to_open = max(1, failures_to_open)
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def available(self) -> bool:
        """Would a call be let through now? (Does not take the half-open probe.)"""
        with self._lock:
            state = self._state()
            return state == "closed" or (state == "half-open" and not self._probe_in_flight)

    def acquire(self) -> bool:
        """Take permission for one call; in half-open state only one probe at a time gets it."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probe_in_flight = False

    def release(self) -> None:
        """A call ended without telling anything about the tier's health (a bad request, an interrupt)."""
        with self._lock:
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probe_in_flight or self._failures >= self.failures_to_open:
                self._opened_at = self._clock()  # a failed probe re-opens for a full cooldown
            self._probe_in_flight = False

    def seconds_until_probe(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))
