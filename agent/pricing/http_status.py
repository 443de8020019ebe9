"""What an HTTP status means for a price source: nothing for 2xx, else the error to raise.

Pure: the fetchers hand over the raw status, headers and body. Classification follows the
status; the body is read only for Binance's structured error codes and ban end. A Retry-After
header (delta-seconds or an HTTP date) says how long a throttled or banned source waits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from agent.net import parse_retry_after
from agent.pricing.errors import (
    BadPayload,
    RateLimited,
    SourceDisabled,
    SourceUnavailable,
    UnknownInstrument,
)

__all__ = ["check_status"]


# Binance states the ban end in its 418 body; used only when the Retry-After header is missing.
_BANNED_UNTIL = re.compile(r"banned until (\d{10,16})")


def check_status(
    source: str, status: int, headers: Mapping[str, str], body: bytes, now: float
) -> None:
    """Raise the error an HTTP status means for a price source; return for 2xx.

    The body is consulted only for Binance's structured error codes (-1121 unknown symbol) and
    the ban end of a 418 without Retry-After: classification follows the status, never prose.
    """
    if 200 <= status < 300:
        return
    retry_after = parse_retry_after(headers.get("retry-after"), now)
    if status == 429:
        raise RateLimited(source, "HTTP 429", retry_after)
    if status == 418:  # Binance: automated IP ban after ignoring 429s, 2 minutes to 3 days
        if retry_after is None:
            retry_after = _ban_from_body(body, now)
        raise SourceDisabled(source, "HTTP 418 IP ban", retry_after)
    if status == 451:
        raise SourceDisabled(source, "HTTP 451 unavailable from this location")
    if status in (401, 403):
        raise SourceDisabled(source, f"HTTP {status} (API key missing or rejected, or WAF block)")
    if status >= 500:
        raise SourceUnavailable(source, f"HTTP {status}")
    if status == 400 and _error_code(body) == -1121:
        raise UnknownInstrument(source, "HTTP 400 invalid symbol (-1121)")
    if 300 <= status < 400:
        location = headers.get("location", "?")
        raise BadPayload(source, f"unexpected redirect HTTP {status} to {location}")
    raise BadPayload(source, f"HTTP {status}")


def _ban_from_body(body: bytes, now: float) -> float | None:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    message = payload.get("msg") if isinstance(payload, dict) else None
    match = _BANNED_UNTIL.search(message) if isinstance(message, str) else None
    if match is None:
        return None
    return max(0.0, int(match.group(1)) / 1000 - now)


def _error_code(body: bytes) -> int | None:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    code = payload.get("code") if isinstance(payload, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None
