"""Parse and check trade intents: pure functions from bytes and a clock to an Intent or a reason.

An intent file is an envelope ``{"message": ..., "signature": ..., "format": ...}`` whose
``message`` is the signed JSON text. The envelope is parsed here; the signature is checked by
the caller over the exact UTF-8 bytes of ``message`` (never a re-serialisation), and only then
is the message itself parsed with :func:`parse_message`.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, NoReturn

from agent.domain.outcomes import IntentRejected, Reason
from agent.domain.tokens import MAX_AMOUNT

__all__ = [
    "FORMATS",
    "VENUE_NAMES",
    "Envelope",
    "IntentMessage",
    "check_timing",
    "parse_envelope",
    "parse_json_object",
    "parse_message",
]

FORMAT_V1 = "solana-offchain-v1"
FORMAT_V0 = "solana-offchain-v0"
FORMATS = (FORMAT_V1, FORMAT_V0)
VENUE_NAMES = ("jupiter", "otc", "localdex")
CLUSTER_NAMES = ("local", "devnet", "mainnet-beta")
MAX_NONCE = 2**63 - 1
# Matched with fullmatch: "$" would also accept a trailing newline.
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
_DIGITS = re.compile(r"0|[1-9][0-9]*")
_MAX_AMOUNT_DIGITS = len(str(MAX_AMOUNT))
_REQUIRED = ("version", "id", "cluster", "wallet", "sell_mint", "buy_mint", "amount", "nonce",
             "not_after")  # fmt: skip
_OPTIONAL = ("min_out", "max_slippage_bps", "venues")


@dataclass(frozen=True, slots=True)
class Envelope:
    message: str
    signature: str
    format: str
    # v0 messages carry an application domain and format byte the agent cannot guess, so a
    # v0 envelope ships the exact signed bytes (base64) and the agent checks they hold `message`.
    signed_message: str | None = None


@dataclass(frozen=True, slots=True)
class IntentMessage:
    id: str
    cluster: str
    wallet: str
    sell_mint: str
    buy_mint: str
    amount: int
    min_out: int | None
    max_slippage_bps: int | None
    nonce: int
    not_after: int
    venues: tuple[str, ...] | None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r:.60}")
        result[key] = value
    return result


def parse_json_object(text: str | bytes, what: str) -> dict[str, Any]:
    """Strict JSON: one object, no duplicate keys, no NaN or Infinity."""
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise IntentRejected(Reason.MALFORMED_JSON, f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise IntentRejected(Reason.MALFORMED_JSON, f"{what} must be a JSON object")
    return value


def parse_envelope(raw: bytes) -> Envelope:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise IntentRejected(Reason.MALFORMED_JSON, "the file is not UTF-8 text") from None
    document = parse_json_object(text, "the file")
    fmt = document.get("format")
    if fmt not in FORMATS:
        raise IntentRejected(Reason.BAD_FORMAT, f"format must be one of {', '.join(FORMATS)}")
    allowed = {"message", "signature", "format"}
    if fmt == FORMAT_V0:
        allowed.add("signed_message")
    extra = sorted(set(document) - allowed)
    if extra:
        raise IntentRejected(Reason.BAD_FORMAT, f"unexpected envelope field {extra[0]!r:.60}")
    message, signature = document.get("message"), document.get("signature")
    if not isinstance(message, str) or not message:
        raise IntentRejected(Reason.BAD_FORMAT, "message must be a non-empty string")
    if not isinstance(signature, str) or not signature:
        raise IntentRejected(Reason.BAD_FORMAT, "signature must be a base58 string")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate escape (\ud800) parses, but no UTF-8 bytes could have been signed.
        raise IntentRejected(Reason.MALFORMED_JSON, "message is not valid Unicode text") from None
    signed = document.get("signed_message")
    if fmt == FORMAT_V0 and not isinstance(signed, str):
        raise IntentRejected(Reason.BAD_FORMAT, "a v0 envelope needs signed_message (base64)")
    return Envelope(message=message, signature=signature, format=fmt, signed_message=signed)


def signer_of(message: dict[str, Any]) -> str:
    """The wallet that must have signed; checked before anything else in the message is trusted."""
    wallet = message.get("wallet")
    if not isinstance(wallet, str) or not _BASE58.fullmatch(wallet):
        raise IntentRejected(Reason.BAD_SCHEMA, "wallet must be a base58 public key")
    return wallet


def _amount(message: dict[str, Any], key: str) -> int:
    value = message[key]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise IntentRejected(Reason.BAD_SCHEMA, f"{key} must be a decimal string of base units")
    if isinstance(value, int):
        if value < 0:
            raise IntentRejected(Reason.BAD_SCHEMA, f"{key} must be a non-negative integer")
        number = value
    else:
        if not _DIGITS.fullmatch(value):
            raise IntentRejected(
                Reason.BAD_SCHEMA, f"{key} must be a non-negative integer ({value[:50]!r})"
            )
        # Too many digits is an overflow too; checking the length first keeps int() cheap.
        if len(value) > _MAX_AMOUNT_DIGITS:
            raise IntentRejected(Reason.AMOUNT_OVERFLOW, f"{key} exceeds {MAX_AMOUNT}")
        number = int(value)
    if number > MAX_AMOUNT:
        raise IntentRejected(Reason.AMOUNT_OVERFLOW, f"{key} exceeds {MAX_AMOUNT}")
    return number


def _integer(message: dict[str, Any], key: str, upper: int) -> int:
    value = message[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
        raise IntentRejected(Reason.BAD_SCHEMA, f"{key} must be an integer from 0 to {upper}")
    return value


def _pubkey(message: dict[str, Any], key: str) -> str:
    value = message[key]
    if not isinstance(value, str) or not _BASE58.fullmatch(value):
        raise IntentRejected(Reason.BAD_SCHEMA, f"{key} must be a base58 public key")
    return value


def parse_message(message: dict[str, Any]) -> IntentMessage:
    """Check the signed message's schema; amounts stay exact integers."""
    version = message.get("version")
    if type(version) is not int or version != 1:  # not True, not 1.0
        raise IntentRejected(
            Reason.UNSUPPORTED_VERSION, f"version {version!r:.60} is not supported"
        )
    missing = [key for key in _REQUIRED if key not in message]
    if missing:
        raise IntentRejected(Reason.BAD_SCHEMA, f"missing field {missing[0]!r}")
    unknown = sorted(set(message) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise IntentRejected(Reason.BAD_SCHEMA, f"unknown field {unknown[0]!r:.60}")
    intent_id = message["id"]
    try:
        canonical = str(uuid.UUID(intent_id)) if isinstance(intent_id, str) else None
    except ValueError:
        canonical = None
    if canonical is None or canonical != intent_id.lower():
        raise IntentRejected(Reason.BAD_SCHEMA, "id must be a UUID string")
    cluster = message["cluster"]
    if cluster not in CLUSTER_NAMES:
        raise IntentRejected(
            Reason.BAD_SCHEMA, f"cluster must be one of {', '.join(CLUSTER_NAMES)}"
        )
    venues = message.get("venues")
    if venues is not None and (
        not isinstance(venues, list)
        or not venues
        or any(v not in VENUE_NAMES for v in venues)
        or len(set(venues)) != len(venues)
    ):
        raise IntentRejected(
            Reason.BAD_SCHEMA, f"venues must be a non-empty list drawn from {VENUE_NAMES}"
        )
    slippage = message.get("max_slippage_bps")
    min_out = message.get("min_out")
    return IntentMessage(
        id=canonical,
        cluster=cluster,
        wallet=_pubkey(message, "wallet"),
        sell_mint=_pubkey(message, "sell_mint"),
        buy_mint=_pubkey(message, "buy_mint"),
        amount=_amount(message, "amount"),
        min_out=_amount(message, "min_out") if min_out is not None else None,
        max_slippage_bps=(
            _integer(message, "max_slippage_bps", 10_000) if slippage is not None else None
        ),
        nonce=_integer(message, "nonce", MAX_NONCE),
        not_after=_integer(message, "not_after", 2**40),
        venues=tuple(venues) if venues is not None else None,
    )


def check_timing(intent: IntentMessage, now: float, max_ttl_s: int) -> None:
    """An intent is live from now until not_after, which may lie at most max_ttl_s ahead."""
    if intent.not_after < now:
        raise IntentRejected(Reason.EXPIRED, f"not_after {intent.not_after} has passed")
    if intent.not_after - now > max_ttl_s:
        raise IntentRejected(
            Reason.TTL_TOO_LONG, f"not_after is more than {max_ttl_s} s ahead (the limit)"
        )
