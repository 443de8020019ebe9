"""Each price source's health: backoff after failures, a circuit breaker, and a disabled pause.

After a failure a source waits with exponential backoff and jitter, where a Retry-After from
the source wins over the computed delay. The shared :class:`~agent.net.CircuitBreaker` counts
the failures in a row: it trips after ``failure_threshold`` of them, which holds the source
off for at least ``open_s``, and closes on the first successful probe. 401/403/451 disable the
source until it is rechecked after ``disabled_recheck_s``; a 418 ban disables it for the ban's
length. The failover oracle keeps one :class:`SourceHealth` per network source.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.net import CircuitBreaker
from agent.pricing.errors import PriceSourceError, RateLimited, SourceDisabled

__all__ = ["BreakerSettings", "SourceBackoff", "SourceHealth"]


@dataclass(frozen=True, slots=True)
class SourceBackoff:
    """Backoff after a failed fetch; a source's Retry-After replaces the computed delay."""

    initial_delay_s: float = 30.0
    max_delay_s: float = 1800.0
    multiplier: float = 2.0
    jitter: float = 0.1  # +-10 %, so sources sharing an IP do not retry in lockstep
    # Binance bans last up to three days; a longer Retry-After is a bug, not a plan.
    max_retry_after_s: float = 3 * 24 * 3600.0
    # 401/403/451 rarely fix themselves, but a rotated key or lifted WAF block should be noticed.
    disabled_recheck_s: float | None = 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay_s <= self.max_delay_s:
            raise ValueError("need 0 < initial_delay_s <= max_delay_s")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.max_retry_after_s <= 0:
            raise ValueError("max_retry_after_s must be positive")
        if self.disabled_recheck_s is not None and self.disabled_recheck_s <= 0:
            raise ValueError("disabled_recheck_s must be positive or None (never)")

    def delay(self, failures: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds before the next attempt after ``failures`` consecutive failures."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after_s)
        # The exponent is capped: a source down for weeks must not overflow the float.
        computed = self.initial_delay_s * self.multiplier ** min(max(0, failures - 1), 64)
        jittered = min(computed, self.max_delay_s) * (1 + self.jitter * rng.uniform(-1, 1))
        return min(jittered, self.max_delay_s)


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Trip a source's breaker after this many failures in a row; probe again after ``open_s``."""

    failure_threshold: int = 5
    open_s: float = 900.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.open_s <= 0:
            raise ValueError("open_s must be positive")

    def breaker(self, clock: Callable[[], float]) -> CircuitBreaker:
        """A source's breaker, on the oracle's clock."""
        return CircuitBreaker(self.failure_threshold, self.open_s, clock=clock)


@dataclass(slots=True)
class SourceHealth:
    """One source's mutable health; only the oracle touches it."""

    breaker: CircuitBreaker
    next_attempt: float = 0.0
    disabled: bool = False
    failures: Counter[str] = field(default_factory=Counter)
    last_success_at: float | None = None
    last_error: str | None = None

    @property
    def consecutive(self) -> int:
        """Failures in a row since the source last answered (a disabled pause not counted)."""
        return self.breaker.failures

    def ready(self, now: float) -> bool:
        return now >= self.next_attempt

    def status(self, now: float) -> str:
        if self.disabled:
            return "disabled"
        # A tripped breaker is half-open once the source may be asked again: a Retry-After
        # longer than the breaker's cool-down keeps it open until then.
        if self.breaker.tripped:
            return "open" if now < self.next_attempt else "half_open"
        return "backing_off" if now < self.next_attempt else "up"

    def succeeded(self, now: float) -> None:
        self.breaker.record_success()
        self.next_attempt = now
        self.disabled = False
        self.last_success_at = now

    def failed(
        self,
        error: PriceSourceError,
        now: float,
        retry: SourceBackoff,
        rng: random.Random,
    ) -> float:
        """Record a failure; returns seconds until the source may be asked again."""
        self.failures[error.reason] += 1
        self.last_error = str(error)
        if isinstance(error, SourceDisabled):
            self.disabled = True
            wait = (
                error.retry_after_s if error.retry_after_s is not None else retry.disabled_recheck_s
            )
            wait = math.inf if wait is None else min(wait, retry.max_retry_after_s)
            self.next_attempt = now + wait
            return wait
        self.breaker.record_failure()
        retry_after = error.retry_after_s if isinstance(error, RateLimited) else None
        wait = retry.delay(self.consecutive, retry_after, rng)
        if self.breaker.tripped:
            wait = max(wait, self.breaker.cooldown_s)
        self.next_attempt = now + wait
        return wait
