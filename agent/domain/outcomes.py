"""Terminal states of a submission and the reasons behind them.

Every file or stream entry the agent receives ends in exactly one of these states, with a
reason code from :class:`Reason` when it did not fill. Reason codes are stable: result
files, SQL rows, metrics labels and the manual (docs/protocol.md) all use them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["IntentRejected", "Reason", "Status"]


class Status(StrEnum):
    ACCEPTED = "accepted"  # verified; id and nonce consumed; not yet terminal
    EXECUTING = (
        "executing"  # fill reserved in the books; its transaction is being simulated or sent
    )
    FILLED = "filled"  # executed (paper fill, simulated or confirmed transaction)
    REJECTED = "rejected"  # refused before anything executed
    FAILED = "failed"  # accepted, but execution did not complete

    @property
    def terminal(self) -> bool:
        return self not in (Status.ACCEPTED, Status.EXECUTING)


class Reason(StrEnum):
    # The file itself
    TOO_LARGE = "too_large"
    SYMLINK = "symlink"
    NOT_REGULAR_FILE = "not_regular_file"
    HARD_LINK = "hard_link"
    UNREADABLE = "unreadable"
    # The envelope and the signed message
    MALFORMED_JSON = "malformed_json"
    BAD_FORMAT = "bad_format"
    BAD_SCHEMA = "bad_schema"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_SIGNATURE = "bad_signature"
    # Who, where and when
    UNKNOWN_WALLET = "unknown_wallet"
    WRONG_CLUSTER = "wrong_cluster"
    EXPIRED = "expired"
    TTL_TOO_LONG = "ttl_too_long"
    REPLAYED_ID = "replayed_id"
    REPLAYED_NONCE = "replayed_nonce"
    # What
    UNKNOWN_MINT = "unknown_mint"
    SAME_MINT = "same_mint"
    ZERO_AMOUNT = "zero_amount"
    AMOUNT_OVERFLOW = "amount_overflow"
    SLIPPAGE_TOO_HIGH = "slippage_too_high"
    NO_PRICE = "no_price"
    # Policy
    PAIR_NOT_ALLOWED = "pair_not_allowed"
    VENUE_NOT_ALLOWED = "venue_not_allowed"
    NOTIONAL_LIMIT = "notional_limit"
    DAILY_LIMIT = "daily_limit"
    # Routing
    MIN_OUT_UNREACHABLE = "min_out_unreachable"
    NO_ROUTE = "no_route"
    # Execution (status failed)
    LAST_LOOK_REJECTED = "last_look_rejected"
    INVENTORY_EXHAUSTED = "inventory_exhausted"
    SLIPPAGE_EXCEEDED = "slippage_exceeded"
    QUOTE_EXPIRED = "quote_expired"
    DEADLINE_PASSED = "deadline_passed"
    SIMULATION_FAILED = "simulation_failed"
    TRANSACTION_FAILED = "transaction_failed"
    TRANSACTION_EXPIRED = "transaction_expired"
    CLUSTER_UNAVAILABLE = "cluster_unavailable"
    WALLET_KEY_MISSING = "wallet_key_missing"
    # An API-built transaction failed a check before signing (the detail names the check).
    TRANSACTION_REFUSED = "transaction_refused"
    TRANSACTION_TOO_LARGE = "transaction_too_large"
    VENUE_UNAVAILABLE = "venue_unavailable"
    INTERNAL_ERROR = "internal_error"


class IntentRejected(Exception):
    """A submission cannot proceed; ``reason`` says why in a stable code, ``detail`` for people."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
