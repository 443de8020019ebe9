"""What a leg costs the wallet beyond the venue's price, converted into units of the token a
trade buys, so venues (and splits across them) compare net.

A leg pays 5,000 lamports per signature of its transaction, plus the priority fee (the
compute-unit limit times the price, in micro-lamports per unit), plus the rent of any token
account it must create (the wallet's account for the bought token, the first time).
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal

__all__ = [
    "LAMPORTS_PER_SIGNATURE",
    "TOKEN_ACCOUNT_RENT_LAMPORTS",
    "lamports_in_token_units",
    "leg_cost_lamports",
    "platform_fee_out",
]

LAMPORTS_PER_SIGNATURE = 5_000
LAMPORTS_PER_SOL = Decimal(1_000_000_000)
# Rent-exempt minimum of a 165-byte SPL token account.
TOKEN_ACCOUNT_RENT_LAMPORTS = 2_039_280


def leg_cost_lamports(
    *,
    signatures: int,
    compute_unit_limit: int = 0,
    unit_price_micro_lamports: int = 0,
    accounts_created: int = 0,
) -> int:
    """Lamports one leg's transaction costs the wallet: fees, priority fee and rent."""
    if min(signatures, compute_unit_limit, unit_price_micro_lamports, accounts_created) < 0:
        raise ValueError("costs are built from non-negative counts")
    priority = math.ceil(compute_unit_limit * unit_price_micro_lamports / 1_000_000)
    return (
        signatures * LAMPORTS_PER_SIGNATURE
        + priority
        + accounts_created * TOKEN_ACCOUNT_RENT_LAMPORTS
    )


def platform_fee_out(expected_out: int, fee_bps: int) -> int:
    """A platform fee of ``fee_bps`` on the output, in output base units (rounded up)."""
    if not 0 <= fee_bps <= 10_000:
        raise ValueError(f"fee_bps must be within [0, 10000], got {fee_bps}")
    return -(-expected_out * fee_bps // 10_000)


def lamports_in_token_units(
    lamports: int, sol_usd: Decimal, token_usd: Decimal, token_decimals: int
) -> int:
    """Convert a lamport cost into base units of a token, rounded up so costs never flatter."""
    if lamports <= 0:
        return 0
    if sol_usd <= 0 or token_usd <= 0:
        raise ValueError("prices must be positive to convert a cost")
    value = Decimal(lamports) / LAMPORTS_PER_SOL * sol_usd / token_usd
    return int(value.scaleb(token_decimals).to_integral_value(rounding=ROUND_CEILING))
