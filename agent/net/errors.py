"""Errors of the HTTP plumbing every adapter shares, grouped by what the caller does next.

::

    NetError
     ├── BudgetExhausted(wait_s, max_wait_s)  this process's own request budget has no slot
     │                                        within the caller's deadline: go elsewhere now
     └── CircuitOpen(retry_in_s)              the breaker is open; nothing was sent: go elsewhere

The strict JSON readers raise :class:`onchain.wire.BadPayload` (a body violates the
documented schema: alert), which :mod:`agent.net` re-exports. None of these errors names a
service: the adapter that raised them knows which one it asked. None ever carries a
credential.
"""

from __future__ import annotations

__all__ = ["BudgetExhausted", "CircuitOpen", "NetError"]


class NetError(Exception):
    """Base of the errors raised by :mod:`agent.net`."""


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
