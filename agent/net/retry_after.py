"""The one reading of a ``Retry-After`` header, for every HTTP adapter.

RFC 9110: delta-seconds, or an HTTP date, which is always GMT; a date without a zone is
not one. A wait longer than :data:`MAX_RETRY_AFTER_S` is held to it: the longest pause a
documented service asks for (Binance's automated IP ban lasts up to three days); anything
longer is a bug, not a plan, and the caller asks again after the cap anyway.
"""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["MAX_RETRY_AFTER_S", "parse_retry_after"]

MAX_RETRY_AFTER_S: Final = 3 * 24 * 3600.0


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (relative to the wall clock ``now``), held to
    :data:`MAX_RETRY_AFTER_S`; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        try:
            seconds = when.timestamp() - now
        except (OverflowError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))
