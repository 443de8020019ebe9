"""Jupiter errors, grouped by what the caller does next.

::

    JupiterError
     ├── NoRoute(code)            venue out for this intent (400 + a routing errorCode)
     ├── Rejected(status, code)   our request was refused (other 4xx / composing codes): alert
     ├── Unavailable(reason)      5xx, timeouts, transport errors: retry with backoff
     └── Unauthorised(status)     401/403: disable the venue and alert

The client also raises the shared plumbing's errors (:mod:`agent.net`): ``RateLimited``
(429: wait for the reset or route elsewhere), ``BudgetExhausted``
(our own request budget has no slot within the caller's deadline), ``CircuitOpen`` (the
breaker is open: nothing was sent) and ``BadPayload`` (the body violates the documented
schema: alert). :data:`VENUE_ERRORS` is every error a Jupiter call may raise.

Classification uses the HTTP status and the documented ``errorCode`` values only, never the
message text. Messages never contain the API key (nothing here ever sees it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from agent.net import (
    BadPayload,
    BudgetExhausted,
    CircuitOpen,
    NetError,
    RateLimited,
    parse_retry_after,
)

__all__ = [
    "ERROR_KINDS",
    "NO_ROUTE_CODES",
    "VENUE_ERRORS",
    "JupiterError",
    "NoRoute",
    "Rejected",
    "Unauthorised",
    "Unavailable",
    "classify_response",
    "error_kind",
]

# swap/v1/common-errors: the pair or size cannot be routed now.
NO_ROUTE_CODES = frozenset(
    {
        "NO_ROUTES_FOUND",
        "COULD_NOT_FIND_ANY_ROUTE",
        "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT",
        "MARKET_NOT_FOUND",
        "TOKEN_NOT_TRADABLE",
        "NOT_SUPPORTED",
        "CIRCULAR_ARBITRAGE_IS_DISABLED",
        "CANNOT_COMPUTE_OTHER_AMOUNT_THRESHOLD",
    }
)


class JupiterError(Exception):
    """Base of every error the Jupiter client raises."""


class NoRoute(JupiterError):
    """Jupiter has no route for this pair or size: the venue is out for this intent."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"jupiter has no route: {code}")


class Rejected(JupiterError):
    """Jupiter refused the request itself (a composing error or an unexpected 4xx): alert."""

    def __init__(self, status: int, code: str = "") -> None:
        self.status = status
        self.code = code
        super().__init__(f"jupiter rejected the request: HTTP {status} {code}".rstrip())


class Unavailable(JupiterError):
    """Jupiter is down or slow (5xx, timeout, transport error): transient, retry with backoff."""

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        self.reason = reason
        self.status = status
        self.retry_after_s = retry_after_s
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"jupiter unavailable ({where}): {reason}")


class Unauthorised(JupiterError):
    """401 (unknown or invalid key) or 403 (no access, firewall): disable the venue, alert."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"jupiter refused our credentials: HTTP {status}")


def _reset_at(headers: Mapping[str, str]) -> float | None:
    try:
        reset_at = float(headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None
    return reset_at if math.isfinite(reset_at) else None


def _error_code(body: bytes) -> str:
    """The documented ``errorCode`` of an error body, or "" (HTML, truncated, no code)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    code = doc.get("errorCode") if isinstance(doc, dict) else None
    return code if isinstance(code, str) else ""


def classify_response(
    status: int, headers: Mapping[str, str], body: bytes, now_wall: float
) -> JupiterError | RateLimited | None:
    """The error a response stands for, or None when it is a success to be parsed.

    ``headers`` must be case-insensitive (httpx.Headers) or lower-cased.
    """
    code = _error_code(body)
    if 200 <= status < 300:
        # /swap-instructions documents an ``error`` body; honour a routing code even on 200.
        if code in NO_ROUTE_CODES:
            return NoRoute(code)
        return Rejected(status, code) if code else None
    if status == 429:
        reset_at = _reset_at(headers)
        wait = parse_retry_after(headers.get("retry-after"), now_wall)
        if wait is None and reset_at is not None:
            wait = max(0.0, reset_at - now_wall)
        return RateLimited(wait, reset_at)
    if status in (401, 403):
        return Unauthorised(status)
    if code in NO_ROUTE_CODES:
        return NoRoute(code)
    if status >= 500 or status in (408, 425):
        retry = parse_retry_after(headers.get("retry-after"), now_wall)
        return Unavailable(code or "server error", status=status, retry_after_s=retry)
    return Rejected(status, code)


# Everything a Jupiter call raises, for callers that turn any of it into a miss.
VENUE_ERRORS: tuple[type[Exception], ...] = (JupiterError, NetError, BadPayload)

_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (NoRoute, "no_route"),
    (BudgetExhausted, "budget_exhausted"),
    (RateLimited, "rate_limited"),
    (CircuitOpen, "circuit_open"),
    (Unavailable, "unavailable"),
    (BadPayload, "bad_payload"),
    (Unauthorised, "unauthorised"),
    (Rejected, "rejected"),
)
ERROR_KINDS: tuple[str, ...] = (*(kind for _, kind in _KINDS), "error")


def error_kind(error: Exception) -> str:
    """The stable name of an error's kind: quote misses, logs and metric labels use it."""
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return kind
    return "error"
