"""A small circuit breaker: stop calling a service that keeps failing.

closed --(``failure_threshold`` consecutive failures)--> open
open --(``cooldown_s`` elapsed)--> half-open: one probe request is let through
half-open --probe answered--> closed;  --probe failed--> open (a fresh cooldown)

Only an unavailable service (5xx, timeout, transport error) is a failure for the caller to
record: a refusal, a 429 or a 401 proves the service answered, so it is a success.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from agent.net.errors import CircuitOpen

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state!r}, failures={self._failures})"

    @property
    def failures(self) -> int:
        """Failures in a row since the service last answered."""
        return self._failures

    @property
    def tripped(self) -> bool:
        """Open or half-open: the failures reached the threshold and nothing answered since."""
        return self._opened_at is not None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def before_call(self) -> None:
        """Allow a request or raise :class:`CircuitOpen`; in half-open, admit one probe."""
        if self._opened_at is None:
            return
        if self._probing:
            raise CircuitOpen(self.cooldown_s)
        remaining = self._opened_at + self.cooldown_s - self._clock()
        if remaining > 0:
            raise CircuitOpen(remaining)
        self._probing = True

    def record_success(self) -> None:
        """The service answered: close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        """The service was unavailable: count it; open (or re-open) when due."""
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._probing = False

    def release_probe(self) -> None:
        """The admitted probe was never sent (e.g. no request budget): let another one in."""
        self._probing = False
