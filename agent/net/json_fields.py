"""Strict readers of JSON fields, for every HTTP adapter: each returns the typed value or raises
:class:`BadPayload` naming the field's path (``where``); amounts are integer strings."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from solders.pubkey import Pubkey

from agent.net.errors import BadPayload

__all__ = [
    "EMPTY",
    "as_amount",
    "as_bool",
    "as_decimal",
    "as_list",
    "as_object",
    "as_pubkey",
    "as_str",
    "as_uint",
    "extra_fields",
    "is_finite_float",
    "load_object",
    "optional",
    "required",
]

EMPTY: Mapping[str, Any] = MappingProxyType({})


def required(d: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise BadPayload(f"{where}.{key} is missing")
    return d[key]


def as_object(v: Any, where: str) -> Mapping[str, Any]:
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
    """A JSON integer (not a bool, not a float, not a string)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise BadPayload(f"{where} must be a non-negative integer, got {v!r:.40}")
    return v


def as_bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise BadPayload(f"{where} must be a boolean, got {type(v).__name__}")
    return v


def as_decimal(v: Any, where: str) -> Decimal:
    s = as_str(v, where)
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise BadPayload(f"{where} must be a decimal string, got {s[:40]!r}") from None
    if not d.is_finite():
        raise BadPayload(f"{where} must be finite")
    return d


def as_pubkey(v: Any, where: str) -> str:
    s = as_str(v, where)
    try:
        Pubkey.from_string(s)
    except ValueError:
        raise BadPayload(f"{where} is not a base58 public key: {s[:60]!r}") from None
    return s


def optional(d: Mapping[str, Any], key: str) -> Any:
    """The value of an optional key; absent and null are the same."""
    return d.get(key)


def extra_fields(d: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    rest = {k: v for k, v in d.items() if k not in known}
    return MappingProxyType(rest) if rest else EMPTY


def is_finite_float(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond float range
        return False


def load_object(body: bytes | str) -> Mapping[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadPayload(f"not JSON: {type(exc).__name__}") from None
    return as_object(doc, "body")
