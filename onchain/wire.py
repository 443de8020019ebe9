"""What every JSON-over-HTTP client of the project shares: strict JSON field readers, the one
reading of a ``Retry-After`` header, and the one retry policy.

Each reader returns the typed value or raises :class:`BadPayload` naming the field's path
(``where``); nothing here raises a builtin error whatever the answer holds. The RPC client of
:mod:`onchain.rpc_cluster` reads its answers with them, and so do Jupiter's client and the
price sources in ``agent``, through ``agent.net``, which re-exports this module: it lives here,
below ``agent``, because ``onchain`` never imports ``agent``.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any, Final

from solders.pubkey import Pubkey

__all__ = [
    "EMPTY",
    "MAX_DIGITS",
    "MAX_RETRY_AFTER_S",
    "BadPayload",
    "RetryPolicy",
    "as_amount",
    "as_bool",
    "as_decimal",
    "as_list",
    "as_number",
    "as_object",
    "as_pubkey",
    "as_str",
    "as_uint",
    "extra_fields",
    "is_finite_float",
    "load_object",
    "optional",
    "parse_retry_after",
    "required",
]


class BadPayload(Exception):
    """An answer does not have the documented shape: a bug or an API change; alert."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"response violates the schema: {detail}")


# --- Retry-After ---------------------------------------------------------------------------

# The longest pause a documented service asks for (Binance's automated IP ban lasts up to
# three days); a longer one is a bug, not a plan, and the caller asks again after it anyway.
MAX_RETRY_AFTER_S: Final = 3 * 24 * 3600.0
# RFC 9110 delta-seconds, and the fractional seconds some rate limiters send.
_DELTA_SECONDS = re.compile(r"(\d+)(\.\d+)?")
# An integer part this long is far beyond the cap; float() is not asked to read it.
_MAX_DIGITS = 12


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header, relative to the wall clock ``now`` (epoch
    seconds), held to :data:`MAX_RETRY_AFTER_S`; None when absent or unreadable.

    Delta-seconds (fractions accepted) or an HTTP date, which is always GMT: a date without a
    zone, a negative number or any other text is not one.
    """
    if value is None:
        return None
    text = value.strip()
    delta = _DELTA_SECONDS.fullmatch(text)
    if delta is not None:
        if len(delta.group(1)) > _MAX_DIGITS:
            return MAX_RETRY_AFTER_S
        return min(MAX_RETRY_AFTER_S, float(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    try:
        seconds = when.timestamp() - now
    except (OverflowError, ValueError, OSError):
        return None
    if not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


# --- retries -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one call is retried while its service is unavailable:
    ``attempts`` tries in all, the first included, with a doubling pause capped at
    ``max_delay_s``; a Retry-After from the service wins over the computed pause."""

    attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if not 0 <= self.base_delay_s <= self.max_delay_s:
            raise ValueError(
                f"need 0 <= base_delay_s <= max_delay_s, got {self.base_delay_s} and "
                f"{self.max_delay_s}"
            )

    def backoff_s(self, retry: int, rng: random.Random | None = None) -> float:
        """The pause before retry number ``retry`` (0 first): doubling, capped, jittered."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** min(retry, 32))
        # Jitter in the upper half keeps clients apart without collapsing the pause to ~0.
        return (rng or random).uniform(ceiling / 2, ceiling)

    def delay_s(
        self, retry: int, retry_after_s: float | None, rng: random.Random | None = None
    ) -> float:
        """The pause before retry number ``retry``: the service's Retry-After when it gave
        one, else :meth:`backoff_s`."""
        return retry_after_s if retry_after_s is not None else self.backoff_s(retry, rng)


# --- strict JSON field readers -------------------------------------------------------------

EMPTY: Mapping[str, Any] = MappingProxyType({})


def required(d: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise BadPayload(f"{where}.{key} is missing")
    return d[key]


def optional(d: Mapping[str, Any], key: str) -> Any:
    """The value of an optional key; absent and null are the same."""
    return d.get(key)


def as_object(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise BadPayload(f"{where} must be an object, got {type(v).__name__}")
    return v


def as_list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise BadPayload(f"{where} must be an array, got {type(v).__name__}")
    return v


def as_str(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise BadPayload(f"{where} must be a string, got {type(v).__name__}")
    return v


_U64_MAX = 2**64 - 1
_U64_DIGITS = len(str(_U64_MAX))


def as_amount(v: Any, where: str) -> int:
    """A uint64 carried as a decimal string."""
    s = as_str(v, where)
    if not s.isascii() or not s.isdigit():
        raise BadPayload(f"{where} must be a decimal integer string, got {s[:40]!r}")
    # Checked on the text first: int() refuses strings of thousands of digits with ValueError.
    if len(s) > _U64_DIGITS or int(s) > _U64_MAX:
        raise BadPayload(f"{where} is beyond u64: {s[:40]}")
    return int(s)


def as_uint(v: Any, where: str) -> int:
    """A JSON integer (not a bool, not a float, not a string), zero or more."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise BadPayload(f"{where} must be a non-negative integer, got {v!r:.40}")
    return v


def as_bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise BadPayload(f"{where} must be a boolean, got {type(v).__name__}")
    return v


def as_decimal(v: Any, where: str) -> Decimal:
    """A finite Decimal carried as a decimal string."""
    s = as_str(v, where)
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise BadPayload(f"{where} must be a decimal string, got {s[:40]!r}") from None
    if not d.is_finite():
        raise BadPayload(f"{where} must be finite")
    return d


# Far beyond any real price, percentage, exponent or timestamp, and small enough that no later
# Decimal operation (scaleb, a division, float()) can overflow or trap.
MAX_DIGITS: Final = 100


def as_number(v: Any, where: str) -> Decimal:
    """A Decimal from a JSON number (decoded with ``parse_float=Decimal``), an integer or a
    numeric string, within :data:`MAX_DIGITS` digits and exponent. NaN and infinities pass
    (a caller that needs a finite value says so in its own words)."""
    # bool is an int subclass, and Decimal(True) == 1: a JSON `true` must not become a number.
    if isinstance(v, bool) or not isinstance(v, Decimal | int | str):
        raise BadPayload(f"{where} is {v!r:.60}, not a number")
    try:
        number = Decimal(v)
    except InvalidOperation as exc:
        raise BadPayload(f"{where} is {v!r:.60}, not a number") from exc
    if number.is_finite() and (
        len(number.as_tuple().digits) > MAX_DIGITS or abs(number.adjusted()) > MAX_DIGITS
    ):
        raise BadPayload(f"{where} is out of range ({v!r:.60})")
    return number


def as_pubkey(v: Any, where: str) -> str:
    s = as_str(v, where)
    try:
        Pubkey.from_string(s)
    except ValueError:
        raise BadPayload(f"{where} is not a base58 public key: {s[:60]!r}") from None
    return s


def extra_fields(d: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    rest = {k: v for k, v in d.items() if k not in known}
    return MappingProxyType(rest) if rest else EMPTY


def is_finite_float(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond float range
        return False


def load_object(body: bytes | str) -> dict[str, Any]:
    """A JSON object from a body; anything else (or no JSON at all) is a BadPayload."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadPayload(f"not JSON: {type(exc).__name__}") from None
    return as_object(doc, "body")
