"""What a price is, on top of the shared strict JSON readers, for :mod:`agent.pricing.parsers`.

JSON is always decoded with ``parse_float=Decimal`` so no price ever passes through a binary
float. Numbers and objects are read by :mod:`agent.net`'s readers; here prices must be finite
and positive, ``change_24h`` a finite percentage and timestamps positive. Every reader raises
:class:`~agent.pricing.errors.BadPayload` naming the source and the field, never a builtin
exception, whatever the body holds.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from agent.net import MAX_DIGITS, as_number, as_object
from agent.net import BadPayload as WireBadPayload
from agent.pricing.errors import BadPayload

__all__ = [
    "MAX_DIGITS",
    "load_json",
    "read_change",
    "read_decimal",
    "read_object",
    "read_price",
    "read_timestamp",
]


def load_json(source: str, body: bytes | str) -> Any:
    """Decode JSON with Decimal numbers; NaN/Infinity literals become Decimals and fail later."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except RecursionError:
        raise BadPayload(source, "body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        text = body if isinstance(body, str) else body[:200].decode("utf-8", "replace")
        kind = "an HTML page" if text.lstrip().startswith("<") else "not JSON"
        raise BadPayload(source, f"body is {kind}") from exc


def read_price(source: str, value: object, what: str) -> Decimal:
    """A finite, positive Decimal from a JSON number or numeric string."""
    number = read_decimal(source, value, what)
    if not number.is_finite() or number <= 0:
        raise BadPayload(source, f"{what} is {number}, not a positive finite price")
    return number


def read_decimal(source: str, value: object, what: str) -> Decimal:
    """A Decimal from a JSON number or numeric string, within ``MAX_DIGITS`` digits and exponent."""
    try:
        return as_number(value, what)
    except WireBadPayload as exc:
        raise BadPayload(source, exc.detail) from None


def read_change(source: str, value: object, what: str) -> Decimal | None:
    """A finite percentage, or None when the source sends none."""
    if value is None:
        return None
    number = read_decimal(source, value, what)
    if not number.is_finite():
        raise BadPayload(source, f"{what} is {number}")
    return number


def read_timestamp(source: str, value: object, what: str, *, scale: int = 1) -> float | None:
    """Epoch seconds from a positive timestamp in units of ``1/scale`` s; None when absent."""
    if value is None:
        return None
    number = read_decimal(source, value, what)
    if not number.is_finite() or number <= 0:
        raise BadPayload(source, f"{what} is {number}, not a timestamp")
    return float(number) / scale


def read_object(source: str, value: object, what: str) -> dict[str, Any]:
    """The value itself when it is a JSON object."""
    try:
        return as_object(value, what)
    except WireBadPayload as exc:
        raise BadPayload(source, exc.detail) from None
