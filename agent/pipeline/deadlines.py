"""Waiting on a venue no longer than an intent's deadline allows, without cancelling it.

A venue that does not answer (a hung connection, retries with backoff) must not hold an
intent past its ``not_after``: the pipeline stops waiting ``DEADLINE_MARGIN_S`` before it,
which leaves time to decide and record the intent. The call itself is not cancelled but
abandoned: it finishes (or times out) on its own, so that no venue state it was updating (a
circuit breaker's half-open probe, a rate limiter's slot) is left half-done by a cancellation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["DEADLINE_MARGIN_S", "MIN_WAIT_S", "DeadlineWaiter", "TimedOut", "seconds_left"]

T = TypeVar("T")

# Waiting on venues stops this long before an intent's deadline, for deciding and recording.
DEADLINE_MARGIN_S = 1.0
# However close the deadline, a call gets this long: enough for an in-process venue to answer.
MIN_WAIT_S = 0.05


class TimedOut(Exception):
    """The call had not finished when the intent's time ran out (it goes on, abandoned)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"no answer within {seconds:.1f} s, before the intent's deadline")


def seconds_left(not_after: float, now: float) -> float:
    """How long a venue may still be waited on for an intent expiring at ``not_after``."""
    return max(MIN_WAIT_S, not_after - DEADLINE_MARGIN_S - now)


class DeadlineWaiter:
    """Waits on calls no longer than given; the calls it stops waiting for are kept referenced
    until they finish (the event loop itself holds tasks only weakly)."""

    __slots__ = ("_abandoned", "_clock")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._abandoned: set[asyncio.Future[Any]] = set()
        self._clock = clock

    async def until(self, call: Awaitable[T], not_after: float) -> T:
        """``call``'s result, or :class:`TimedOut` once an intent expiring at ``not_after``
        has no time left for it; the time left is read now, when the wait begins."""
        return await self.within(call, seconds_left(not_after, self._clock()))

    @property
    def abandoned(self) -> int:
        """Calls given up on that are still running."""
        return len(self._abandoned)

    async def within(self, call: Awaitable[T], seconds: float) -> T:
        """``call``'s result, or :class:`TimedOut` after ``seconds`` (infinite: no limit)."""
        if seconds == float("inf"):
            return await call
        future = asyncio.ensure_future(call)
        try:
            await asyncio.wait({future}, timeout=seconds)
        except asyncio.CancelledError:
            future.cancel()  # the caller itself is being cancelled (shutdown): so is its call
            raise
        if future.done():
            return future.result()
        self._abandoned.add(future)
        future.add_done_callback(self._forget)
        raise TimedOut(seconds)

    async def aclose(self) -> None:
        """At shutdown: cancel the calls still running after being given up on, and wait for
        them, so none outlives the clients it uses (no venue state matters any more)."""
        abandoned = list(self._abandoned)
        for future in abandoned:
            future.cancel()
        await asyncio.gather(*abandoned, return_exceptions=True)

    def _forget(self, future: asyncio.Future[Any]) -> None:
        self._abandoned.discard(future)
        if not future.cancelled():
            future.exception()  # retrieved: an abandoned call's failure concerns no intent now
