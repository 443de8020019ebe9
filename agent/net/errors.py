"""Errors of the HTTP plumbing every adapter shares, grouped by what the caller does next.

::

    NetError
     ├── RateLimited(retry_after_s, reset_at) the service throttled us (429): wait for the
     │                                        reset, or go elsewhere
     ├── BudgetExhausted(wait_s, max_wait_s)  this process's own request budget has no slot
     │                                        within the caller's deadline: go elsewhere now
     └── CircuitOpen(retry_in_s)              the breaker is open; nothing was sent: go elsewhere

The strict JSON readers raise :class:`onchain.wire.BadPayload` (a body violates the
documented schema: alert), which :mod:`agent.net` re-exports. None of these errors names a
service: the adapter that raised them knows which one it asked (the price sources' own
RateLimited and BadPayload extend these with the source's name). None ever carries a
credential.
"""

from __future__ import annotations

__all__ = ["BudgetExhausted", "CircuitOpen", "NetError", "RateLimited"]


class NetError(Exception):
    """Base of the errors raised by :mod:`agent.net`."""


class RateLimited(NetError):
    """The service throttled us. ``retry_after_s`` is how long to wait (None when it gave no
    hint); ``reset_at`` is the unix time its quota resets, when it says."""

    def __init__(self, retry_after_s: float | None, reset_at: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        self.reset_at = reset_at
        hint = "no reset given" if retry_after_s is None else f"retry in {retry_after_s:.3f}s"
        super().__init__(f"rate limited: {hint}")


class BudgetExhausted(NetError):
    """The request budget cannot grant a request within the caller's deadline: the service
    is budget-limited now; go elsewhere or come back after ``wait_s``."""

    def __init__(self, wait_s: float, max_wait_s: float) -> None:
        self.wait_s = wait_s
        self.max_wait_s = max_wait_s
        super().__init__(
            f"request budget exhausted: next slot in {wait_s:.3f}s > {max_wait_s:.3f}s"
        )


class CircuitOpen(NetError):
    """The circuit breaker is open after repeated failures; no request was sent."""

    def __init__(self, retry_in_s: float) -> None:
        self.retry_in_s = retry_in_s
        super().__init__(f"circuit open, next probe in {retry_in_s:.3f}s")
