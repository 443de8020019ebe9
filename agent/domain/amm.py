"""Constant-product (x * y = k) pool math: what a Jupiter-like AMM quote gives.

All amounts are integers in token base units; prices are ``decimal.Decimal``. Every output is
rounded in the pool's favour, so ``k`` never decreases through a swap.

Swap (exact in)::

    fee_paid          = amount_in - amount_in * (10_000 - fee_bps) // 10_000
    in_after_fee      = amount_in - fee_paid
    reserve_out_after = ceil(k / (reserve_in + in_after_fee))
    expected_out      = reserve_out - reserve_out_after
    reserves_after    = (reserve_in + amount_in, reserve_out_after)

The fee stays in the pool (it is added to ``reserve_in`` in full), and rounding the new output
reserve up means ``reserve_in_after * reserve_out_after >= k``. Because ``k > 0`` the output
reserve never drops below 1, so ``expected_out < reserve_out``.

Price impact excludes the fee, like Jupiter's ``priceImpactPct``::

    spot            = reserve_out / reserve_in
    effective       = expected_out / in_after_fee
    price_impact_bps = (1 - effective / spot) * 10_000

It is measured on the integer output, so it also carries the (tiny) loss from rounding down; it
is 0 when nothing reaches the curve (``in_after_fee == 0``).

No I/O, no floats, no randomness: the same inputs always give the same result.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from math import isqrt
from typing import Final

BPS: Final = 10_000

# A private context keeps results independent of whatever the caller set as the thread's
# decimal context; 60 digits is far beyond any on-chain amount's precision.
_CTX: Final = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


@dataclass(frozen=True)
class AmmQuote:
    """Result of selling ``amount_in`` into a constant-product pool."""

    amount_in: int  # base units of the sold token
    expected_out: int  # base units of the bought token
    fee_paid: int  # base units of the sold token
    price_impact_bps: Decimal  # >= 0, excludes the fee (see module docstring)
    reserves_after: tuple[int, int]  # (reserve_in_after, reserve_out_after)


def _require_int(name: str, value: object) -> None:
    # bool is an int subclass; letting True through as "1 unit" would hide caller bugs.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _require_reserve(name: str, value: int) -> None:
    _require_int(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _require_bps(name: str, value: int, *, upper: int, inclusive: bool) -> None:
    _require_int(name, value)
    in_range = 0 <= value <= upper if inclusive else 0 <= value < upper
    if not in_range:
        bracket = "]" if inclusive else ")"
        raise ValueError(f"{name} must be in [0, {upper}{bracket}, got {value}")


def _require_decimal(name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a decimal.Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _reserve_out_after(reserve_in: int, reserve_out: int, in_after_fee: int) -> int:
    # Rounds in the pool's favour: k never shrinks.
    return _ceil_div(reserve_in * reserve_out, reserve_in + in_after_fee)


def constant_product_amounts(
    reserve_in: int, reserve_out: int, fee_bps: int
) -> Callable[[int], int]:
    """``constant_product_out(...).expected_out`` as a function of ``amount_in``, for one pool.

    The reserves and fee are checked once, here; the returned function expects an int
    ``amount_in >= 0`` and skips the impact figure: the allocation solver asks one pool about
    dozens of sizes per intent and needs only the output.
    """
    _require_reserve("reserve_in", reserve_in)
    _require_reserve("reserve_out", reserve_out)
    _require_bps("fee_bps", fee_bps, upper=BPS, inclusive=False)
    keep = BPS - fee_bps

    def amount_out(amount_in: int) -> int:
        return reserve_out - _reserve_out_after(reserve_in, reserve_out, amount_in * keep // BPS)

    return amount_out


def constant_product_out(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> AmmQuote:
    """Quote selling ``amount_in`` of the input token into an ``x * y = k`` pool (exact in).

    Raises ``ValueError`` when a reserve is not positive, ``amount_in`` is negative or
    ``fee_bps`` is outside ``[0, 10_000)``.
    """
    _require_reserve("reserve_in", reserve_in)
    _require_reserve("reserve_out", reserve_out)
    _require_int("amount_in", amount_in)
    if amount_in < 0:
        raise ValueError(f"amount_in must be >= 0, got {amount_in}")
    _require_bps("fee_bps", fee_bps, upper=BPS, inclusive=False)

    in_after_fee = amount_in * (BPS - fee_bps) // BPS
    reserve_out_after = _reserve_out_after(reserve_in, reserve_out, in_after_fee)
    expected_out = reserve_out - reserve_out_after

    if in_after_fee == 0:
        impact = Decimal(0)
    else:
        # (1 - (out / in) / (reserve_out / reserve_in)) * BPS over one common denominator, so
        # there is a single rounding step.
        spot_out = in_after_fee * reserve_out
        impact = _CTX.divide(
            Decimal(BPS * (spot_out - expected_out * reserve_in)), Decimal(spot_out)
        )

    return AmmQuote(
        amount_in=amount_in,
        expected_out=expected_out,
        fee_paid=amount_in - in_after_fee,
        price_impact_bps=impact,
        reserves_after=(reserve_in + amount_in, reserve_out_after),
    )


def slippage_threshold(expected_out: int, slippage_bps: int) -> int:
    """Minimum acceptable output for an exact-in swap (Jupiter's ``otherAmountThreshold``).

    ``floor(expected_out * (10_000 - slippage_bps) / 10_000)``.
    """
    _require_int("expected_out", expected_out)
    if expected_out < 0:
        raise ValueError(f"expected_out must be >= 0, got {expected_out}")
    _require_bps("slippage_bps", slippage_bps, upper=BPS, inclusive=True)
    return expected_out * (BPS - slippage_bps) // BPS


def rebalance_towards(
    reserve_base: int, reserve_quote: int, target_price: Decimal, fraction: Decimal
) -> tuple[int, int]:
    """Reserves after arbitrage moves the spot price ``fraction`` of the way to ``target_price``.

    Prices are quote base units per base base-unit (``reserve_quote / reserve_base``). The new
    price is ``p + fraction * (target_price - p)``, reached along the curve::

        base_after  = round(sqrt(k / new_price))   (at least 1)
        quote_after = ceil(k / base_after)

    so ``k <= base_after * quote_after < k + base_after``: k only grows by the rounding of the
    quote reserve. Arithmetic is exact (integer ratios), so the result is deterministic.

    Raises ``ValueError`` when a reserve is not positive, ``target_price`` is not positive or
    ``fraction`` is outside ``[0, 1]``.
    """
    _require_reserve("reserve_base", reserve_base)
    _require_reserve("reserve_quote", reserve_quote)
    target = _require_decimal("target_price", target_price)
    if target <= 0:
        raise ValueError(f"target_price must be > 0, got {target}")
    step = _require_decimal("fraction", fraction)
    if not 0 <= step <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {step}")

    t_num, t_den = target.as_integer_ratio()
    f_num, f_den = step.as_integer_ratio()
    # new_price = (q / b) * (1 - f) + f * t, kept as one exact fraction.
    price_num = reserve_quote * (f_den - f_num) * t_den + f_num * t_num * reserve_base
    price_den = reserve_base * f_den * t_den
    k = reserve_base * reserve_quote

    # base_after**2 = k / new_price; round the square root to nearest with integers only:
    # sqrt(x) >= n + 1/2  <=>  4 * x >= (2n + 1)**2.
    sq_num, sq_den = k * price_den, price_num
    # floor(sqrt(x)) == isqrt(floor(x)) for x >= 0, so integer floor division loses nothing.
    base_after = isqrt(sq_num // sq_den)
    if 4 * sq_num >= (2 * base_after + 1) ** 2 * sq_den:
        base_after += 1
    base_after = max(base_after, 1)
    return base_after, _ceil_div(k, base_after)


@dataclass(frozen=True, slots=True)
class AmmReserves:
    pool_id: str
    base: int
    quote: int
    version: int
