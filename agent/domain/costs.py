"""Network costs converted into units of the token a trade buys, so venues compare net."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

__all__ = ["LAMPORTS_PER_SIGNATURE", "lamports_in_token_units"]

LAMPORTS_PER_SIGNATURE = 5_000
LAMPORTS_PER_SOL = Decimal(1_000_000_000)


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
