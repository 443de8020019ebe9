"""Strict readers for price-source bodies, shared by the parsers in :mod:`agent.pricing.parsers`.

JSON is always decoded with ``parse_float=Decimal`` so no price ever passes through a binary
float. Prices must be finite and positive; ``change_24h`` is a percentage. Every reader raises
:class:`~agent.pricing.errors.BadPayload` naming the source and the field, never a builtin
exception, whatever the body holds.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

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


# Far beyond any real price, percentage, exponent or timestamp, and small enough that no later
# Decimal operation (scaleb, a division, float()) can overflow or trap.
MAX_DIGITS = 100


def read_price(source: str, value: object, what: str) -> Decimal:
    """A finite, positive Decimal from a JSON number or numeric string."""
    number = read_decimal(source, value, what)
    if not number.is_finite() or number <= 0:
        raise BadPayload(source, f"{what} is {number}, not a positive finite price")
    return number


def read_decimal(source: str, value: object, what: str) -> Decimal:
    """A Decimal from a JSON number or numeric string, within ``MAX_DIGITS`` digits and exponent."""
    # bool is an int subclass, and Decimal(True) == 1: a JSON `true` must not become a price.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise BadPayload(source, f"{what} is {value!r:.60}, not a number")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise BadPayload(source, f"{what} is {value!r:.60}, not a number") from exc
    if number.is_finite() and (
        len(number.as_tuple().digits) > MAX_DIGITS or abs(number.adjusted()) > MAX_DIGITS
    ):
        raise BadPayload(source, f"{what} is out of range ({value!r:.60})")
    return number


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
    if not isinstance(value, dict):
        raise BadPayload(source, f"{what} is {type(value).__name__}, not an object")
    return value
