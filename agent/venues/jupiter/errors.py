"""Jupiter errors, grouped by what the caller does next.

::

    JupiterError
     ├── NoRoute(code)            venue out for this intent (400 + a routing errorCode)
     ├── Rejected(status, code)   our request was refused (other 4xx / composing codes): alert
     ├── RateLimited(retry_after_s, reset_at)   429: wait for the reset or route elsewhere
     ├── BudgetExhausted(wait_s)  our own limiter has no budget within the caller's deadline
     ├── Unavailable(reason)      5xx, timeouts, transport errors: retry with backoff
     │    └── CircuitOpen(retry_in_s)   the breaker is open: do not even try
     ├── BadPayload(reason)       the body violates the documented schema: alert
     └── Unauthorised(status)     401/403: disable the venue and alert

Classification uses the HTTP status and the documented ``errorCode`` values only, never the
message text. Messages never contain the API key (nothing here ever sees it).
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping

__all__ = [
    "ERROR_KINDS",
    "NO_ROUTE_CODES",
    "BadPayload",
    "BudgetExhausted",
    "CircuitOpen",
    "JupiterError",
    "NoRoute",
    "RateLimited",
    "Rejected",
    "Unauthorised",
    "Unavailable",
    "classify_response",
    "error_kind",
    "parse_retry_after",
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


class RateLimited(JupiterError):
    """HTTP 429. ``retry_after_s`` is how long to wait (None if the server gave no hint);
    ``reset_at`` is the unix time of ``x-ratelimit-reset`` when sent."""

    def __init__(self, retry_after_s: float | None, reset_at: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        self.reset_at = reset_at
        hint = "no reset given" if retry_after_s is None else f"retry in {retry_after_s:.3f}s"
        super().__init__(f"jupiter rate limit hit: {hint}")


class BudgetExhausted(JupiterError):
    """The process-wide limiter cannot grant a request within the caller's deadline: the
    venue is budget-limited now; route elsewhere or come back after ``wait_s``."""

    def __init__(self, wait_s: float, max_wait_s: float) -> None:
        self.wait_s = wait_s
        self.max_wait_s = max_wait_s
        super().__init__(
            f"jupiter request budget exhausted: next slot in {wait_s:.3f}s > {max_wait_s:.3f}s"
        )


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


class CircuitOpen(Unavailable):
    """The circuit breaker is open after repeated failures; no request was sent."""

    def __init__(self, retry_in_s: float) -> None:
        self.retry_in_s = retry_in_s
        super().__init__(f"circuit open, next probe in {retry_in_s:.3f}s", retry_after_s=retry_in_s)


class BadPayload(JupiterError):
    """The response does not follow the documented schema: a bug or an API change; alert."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"jupiter response violates the schema: {reason}")


class Unauthorised(JupiterError):
    """401 (unknown or invalid key) or 403 (no access, firewall): disable the venue, alert."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"jupiter refused our credentials: HTTP {status}")


# A server asking for a longer pause is held to this; the breaker covers a venue that stays away.
MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(MAX_RETRY_AFTER_S, max(0.0, seconds)) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, when.timestamp() - now_wall))


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
) -> JupiterError | None:
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


# Most specific first: CircuitOpen is an Unavailable, and is named for itself.
_KINDS: tuple[tuple[type[JupiterError], str], ...] = (
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


def error_kind(error: JupiterError) -> str:
    """The stable name of an error's kind: quote misses, logs and metric labels use it."""
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return kind
    return "error"
