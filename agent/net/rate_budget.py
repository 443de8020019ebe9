"""A request budget for one account of an HTTP service (Jupiter counts per account, so every
Jupiter call of the process, swaps and prices alike, shares one).

:class:`TokenBucket` is a token bucket written as GCRA (a "theoretical arrival time"): each
grant reserves the next slot, so concurrent acquirers are served in order and never exceed
``burst + rate * t`` requests in any window of length ``t``. Keep ``burst`` at 1 for
Jupiter: its limit is a 60-second *sliding* window (portal/rate-limits, 2026: keyless 0.5
RPS = 30/min, free key 1 RPS = 60/min), so any burst above the rate can still trip a 429.

Server feedback (only ever tightens; never loosens the configured rate):

* ``x-ratelimit-remaining`` (signed, may go negative) with ``x-ratelimit-reset`` (unix
  seconds): when remaining <= 0, no slot is granted before the reset. Jupiter sends both on
  200 and 429 only; ``x-ratelimit-current`` is informational and ignored.
* ``x-ratelimit-limit`` is not documented by Jupiter; it is ignored too.
* ``Retry-After`` or the reset of a 429 goes through :meth:`TokenBucket.pause_for`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping

from agent.net.errors import BudgetExhausted

__all__ = ["BudgetExhausted", "TokenBucket"]

# A server asking for a longer pause of the budget is held to this; a circuit breaker covers
# a service that stays away.
MAX_PAUSE_S = 3600.0
# When a 429 gives no hint, wait this many slot intervals before the next request.
DEFAULT_PENALTY_SLOTS = 2.0
# Far below any interval a budget uses, far above float error on monotonic seconds.
_EPSILON_S = 1e-9


class TokenBucket:
    """A process-wide asyncio request budget.

    :param rate_per_s: sustained requests per second (keyless 0.5, free key 1).
    :param burst: requests that may go back to back after idling (>= 1).
    :param clock: monotonic seconds; ``wall_clock`` converts ``x-ratelimit-reset``.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        *,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._interval = 1.0 / rate_per_s
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._tat = clock()  # theoretical arrival time of the next request
        self.granted = 0
        # Requests that had to wait for their slot, and the seconds they waited (for metrics).
        self.waits = 0
        self.waited_s = 0.0

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self.rate_per_s}, burst={self.burst})"

    def _wait(self, now: float) -> float:
        wait = max(self._tat, now) - self._tolerance - now
        # Float error in the tolerance sum must not turn a free slot into a 1e-13 s wait.
        return wait if wait > _EPSILON_S else 0.0

    def _reserve(self, now: float) -> None:
        self._tat = max(self._tat, now) + self._interval
        self.granted += 1

    def try_acquire(self) -> float:
        """Take a slot if one is free now and return 0; otherwise return the seconds until
        the next free slot and take nothing."""
        now = self._clock()
        wait = self._wait(now)
        if wait > 0:
            return wait
        self._reserve(now)
        return 0.0

    async def acquire(self, max_wait_s: float = float("inf")) -> float:
        """Reserve the next slot and sleep until it; return the time waited.

        :raises BudgetExhausted: when the slot is more than ``max_wait_s`` away (nothing is
            reserved): the venue is budget-limited now.
        """
        now = self._clock()
        wait = self._wait(now)
        if wait > max_wait_s:
            raise BudgetExhausted(wait, max_wait_s)
        self._reserve(now)  # synchronous: concurrent acquirers each get their own slot
        if wait > 0:
            self.waits += 1
            self.waited_s += wait
            await self._sleep(wait)
        return wait

    def next_slot_in(self) -> float:
        """Seconds until a slot would be granted (0 if one is free now)."""
        return self._wait(self._clock())

    def available(self) -> int:
        """Requests that would be granted back to back right now (0 to ``burst``)."""
        now = self._clock()
        headroom = now + self._tolerance - max(self._tat, now)
        if headroom < -_EPSILON_S:
            return 0
        # The epsilon absorbs float error (0.6 // 0.2 is 2.0), which would hide a free slot.
        return min(self.burst, int((headroom + _EPSILON_S) // self._interval) + 1)

    def pause_for(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` (after a 429 or a depleted budget), held to
        :data:`MAX_PAUSE_S`."""
        if seconds <= 0:
            return
        seconds = min(seconds, MAX_PAUSE_S)
        self._tat = max(self._tat, self._clock() + seconds + self._tolerance)

    def penalise(self, retry_after_s: float | None) -> None:
        """Back off after a 429: honour the server's hint, else a couple of slot intervals."""
        self.pause_for(
            retry_after_s if retry_after_s is not None else DEFAULT_PENALTY_SLOTS * self._interval
        )

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Tighten from ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` when present.

        ``headers`` must be case-insensitive (httpx.Headers) or lower-cased.
        """
        try:
            remaining = float(headers.get("x-ratelimit-remaining", ""))
            reset_at = float(headers.get("x-ratelimit-reset", ""))
        except ValueError:
            return
        if not (math.isfinite(remaining) and math.isfinite(reset_at)):
            return  # an infinite reset would shut the venue out until restart
        if remaining <= 0:
            self.pause_for(reset_at - self._wall_clock())
