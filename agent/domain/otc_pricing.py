"""Firm RFQ quotes from an OTC market-maker pool holding a base token and a quote token.

Units
-----
Amounts are integers in token base units (lamports, micro-USDC, ...). ``mid`` is quote-token
human units per one base-token human unit (``Decimal(150)`` = 150 USDC per SOL), so one base
unit is worth ``scale = mid * 10**quote_decimals / 10**base_decimals`` quote base units.

Spread model
------------
For a taker sending ``amount_in`` on ``side`` (``SELL_BASE``: taker sends base, gets quote)::

    out_at_mid     = amount_in * scale   (SELL_BASE, quote units)
                   = amount_in / scale   (BUY_BASE, base units)
    size_bps       = size_spread_bps * min(1, out_at_mid / paying_inventory)
    skew_bps       = skew_spread_bps * imbalance_after * direction
    spread_bps     = max(min_spread_bps, base_spread_bps + size_bps + skew_bps)
    amount_out     = floor(out_at_mid * (10_000 - spread_bps) / 10_000)

* ``paying_inventory`` is the pool's holding of the token it pays out.
* ``imbalance(inv) = (V_base - V_quote) / (V_base + V_quote)`` with both legs valued at mid; it is
  in ``[-1, 1]`` and positive when the pool is long base.
* ``direction`` is +1 when the trade adds base to the pool (``SELL_BASE``) and -1 otherwise, so a
  trade that leaves the pool long the token it receives costs more, and one that rebalances the
  pool gets a discount that ``min_spread_bps`` bounds.
* ``imbalance_after`` is the imbalance of the post-trade inventory with the paid-out leg
  approximated by ``out_at_mid`` rather than ``amount_out``. The exact post-trade inventory
  depends on the spread, which depends on the imbalance; the approximation removes that fixed
  point. A trade at mid moves value between legs without changing the total, so
  ``imbalance_after = imbalance_before + direction * 2 * trade_value / total_value``, with the
  paying leg clamped at zero so it stays in ``[-1, 1]``.

``spread_bps`` is the applied (floored) spread; ``size_component_bps`` and
``skew_component_bps`` are reported before the floor. ``amount_out`` is computed exactly from the
reported ``spread_bps``, so a quote can be re-derived from its own fields.

Guarantees
----------
* Never better than mid: ``spread_bps >= min_spread_bps >= 0`` and ``amount_out`` rounds down.
  There is no noise: identical inputs give identical quotes.
* ``amount_out`` is non-decreasing in ``amount_in`` wherever a quote is given. With
  ``u = out_at_mid`` and ``s(u)`` the spread as a fraction, ``d/du [u (1 - s(u))]`` is
  ``1 - min_spread`` on the floor and ``>= 1 - (base + 2 * size + 3 * |skew|) / 10_000``
  elsewhere (``u * s'(u)`` is at most ``size + 2 * max(skew, 0)`` because the size term only
  varies while ``u < paying_inventory`` and the skew term only while ``u`` is below the paying
  leg's value). :class:`OtcPoolParams` requires that bound to be positive.
* With ``skew_spread_bps >= 0`` the spread is non-decreasing in size, so the average price
  worsens (weakly) as the trade grows.

Rejections (:class:`OtcRejection`) are checked in this order: ``bad_price`` (mid not a positive
finite number), ``zero_amount`` (``amount_in <= 0``), ``below_min_size`` / ``above_max_size``
(SELL_BASE: ``amount_in``; BUY_BASE: base received at mid, before spread, compared exactly),
``zero_amount`` again when ``amount_out`` rounds to 0 (a firm quote that keeps the taker's
tokens for nothing is never useful), and ``insufficient_inventory`` when ``amount_out`` exceeds
the paying inventory.

Arithmetic uses ints and ``Decimal`` only: size checks and ``amount_out`` are exact (integer
ratios from ``Decimal.as_integer_ratio``); the reported spread parts are each rounded once to 60
significant digits in a private decimal context.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from enum import StrEnum
from typing import Final

BPS: Final = 10_000
# SPL mints store decimals in a u8.
MAX_DECIMALS: Final = 255

# A private context keeps results independent of the caller's thread-local decimal context.
_CTX: Final = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


class Side(StrEnum):
    """Trade direction from the taker's view."""

    SELL_BASE = "sell_base"  # taker sends base, receives quote
    BUY_BASE = "buy_base"  # taker sends quote, receives base


class RejectReason(StrEnum):
    """Why a pool refused to quote; compares equal to its plain string value."""

    BELOW_MIN_SIZE = "below_min_size"
    ABOVE_MAX_SIZE = "above_max_size"
    INSUFFICIENT_INVENTORY = "insufficient_inventory"
    BAD_PRICE = "bad_price"
    ZERO_AMOUNT = "zero_amount"


class OtcRejection(ValueError):
    """The pool will not quote this trade; ``reason`` is a :class:`RejectReason`."""

    def __init__(self, reason: RejectReason | str, detail: str) -> None:
        self.reason: RejectReason = RejectReason(reason)
        self.detail = detail
        super().__init__(f"OTC quote rejected ({self.reason}): {detail}")

    def __reduce__(self) -> tuple[type["OtcRejection"], tuple[RejectReason, str]]:
        # The default reduce would call __init__ with the formatted message only.
        return type(self), (self.reason, self.detail)


def _require_int(name: str, value: object) -> None:
    # bool is an int subclass; letting True through as "1 unit" would hide caller bugs.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _require_decimal(name: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a decimal.Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")


@dataclass(frozen=True)
class OtcPoolParams:
    """Static configuration of one OTC pool; validated on construction."""

    base_decimals: int
    quote_decimals: int
    base_spread_bps: Decimal  # at zero size and balanced inventory
    size_spread_bps: Decimal  # added when out_at_mid equals the whole paying inventory
    skew_spread_bps: Decimal  # times imbalance_after * direction; may be negative
    min_spread_bps: Decimal  # floor of the total spread
    min_base: int  # trade size bounds in base-token base units
    max_base: int

    def __post_init__(self) -> None:
        for name in ("base_decimals", "quote_decimals"):
            value = getattr(self, name)
            _require_int(name, value)
            if not 0 <= value <= MAX_DECIMALS:
                raise ValueError(f"{name} must be in [0, {MAX_DECIMALS}], got {value}")
        for name in ("base_spread_bps", "size_spread_bps", "skew_spread_bps", "min_spread_bps"):
            _require_decimal(name, getattr(self, name))
        for name in ("base_spread_bps", "size_spread_bps", "min_spread_bps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.min_spread_bps >= BPS:
            raise ValueError(f"min_spread_bps must be < {BPS}, got {self.min_spread_bps}")
        # Keeps d(amount_out)/d(amount_in) > 0 (see module docstring), which also keeps every
        # spread below 100%.
        slope_bound = (
            self.base_spread_bps + 2 * self.size_spread_bps + 3 * abs(self.skew_spread_bps)
        )
        if slope_bound >= BPS:
            raise ValueError(
                "base_spread_bps + 2 * size_spread_bps + 3 * |skew_spread_bps| must be "
                f"< {BPS} for amount_out to grow with amount_in, got {slope_bound}"
            )
        _require_int("min_base", self.min_base)
        _require_int("max_base", self.max_base)
        if not 0 <= self.min_base <= self.max_base:
            raise ValueError(
                f"need 0 <= min_base <= max_base, got min_base={self.min_base}, "
                f"max_base={self.max_base}"
            )


@dataclass(frozen=True)
class OtcInventory:
    """Pool holdings in base units."""

    base: int
    quote: int

    def __post_init__(self) -> None:
        for name in ("base", "quote"):
            value = getattr(self, name)
            _require_int(name, value)
            if value < 0:
                raise ValueError(f"inventory {name} must be >= 0, got {value}")


@dataclass(frozen=True)
class OtcQuote:
    """A firm quote; ``spread_bps`` is applied, the components are before the floor."""

    side: Side
    amount_in: int
    amount_out: int
    mid: Decimal  # quote-token human units per 1 base-token human unit
    spread_bps: Decimal
    size_component_bps: Decimal
    skew_component_bps: Decimal
    inventory_after: OtcInventory


def _check_mid(mid: object) -> Decimal:
    if not isinstance(mid, Decimal):
        raise TypeError(f"mid must be a decimal.Decimal, got {type(mid).__name__}")
    if not mid.is_finite() or mid <= 0:
        raise OtcRejection(
            RejectReason.BAD_PRICE, f"mid must be a positive finite price, got {mid}"
        )
    return mid


def _value_factors(mid: Decimal, params: OtcPoolParams) -> tuple[int, int]:
    """``(m, d)`` with one base unit worth exactly ``m / d`` quote units at mid."""
    mid_num, mid_den = mid.as_integer_ratio()
    return mid_num * 10**params.quote_decimals, mid_den * 10**params.base_decimals


def _ratio(numerator: int, denominator: int) -> Decimal:
    return _CTX.divide(Decimal(numerator), Decimal(denominator))


def _imbalance_of_values(value_base: int, value_quote: int) -> Decimal:
    total = value_base + value_quote
    return Decimal(0) if total == 0 else _ratio(value_base - value_quote, total)


def imbalance(inventory: OtcInventory, mid: Decimal, params: OtcPoolParams) -> Decimal:
    """``(V_base - V_quote) / (V_base + V_quote)`` at mid, in ``[-1, 1]``; 0 for an empty pool.

    Positive when the pool holds more value in base than in quote. Raises
    :class:`OtcRejection` (``bad_price``) when ``mid`` is not a positive finite number.
    """
    m, d = _value_factors(_check_mid(mid), params)
    # Both legs scaled by d (quote units * d) so the ratio is exact before its one rounding.
    return _imbalance_of_values(inventory.base * m, inventory.quote * d)


def _check_size(params: OtcPoolParams, base_num: int, base_den: int) -> None:
    """Reject unless ``min_base <= base_num / base_den <= max_base`` (exact comparison)."""
    if base_num < params.min_base * base_den:
        raise OtcRejection(
            RejectReason.BELOW_MIN_SIZE,
            f"base amount {_ratio(base_num, base_den)} is below min_base {params.min_base}",
        )
    if base_num > params.max_base * base_den:
        raise OtcRejection(
            RejectReason.ABOVE_MAX_SIZE,
            f"base amount {_ratio(base_num, base_den)} is above max_base {params.max_base}",
        )


def quote_otc(
    params: OtcPoolParams, inventory: OtcInventory, mid: Decimal, side: Side, amount_in: int
) -> OtcQuote:
    """Firm quote for sending ``amount_in`` base units on ``side``; see the module docstring.

    Raises :class:`OtcRejection` when the pool will not trade.
    """
    return OtcPricer(params, inventory, mid, side).quote(amount_in)


class OtcPricer:
    """:func:`quote_otc` for one pool state, mid and side, asked about many sizes.

    Everything that does not depend on the size is worked out once: the allocation solver asks
    one pool about dozens of sizes per intent. ``amount_out`` gives what :meth:`quote` would
    report as ``amount_out`` (the same arithmetic), raising :class:`OtcRejection` alike.
    """

    __slots__ = (
        "_d",
        "_direction",
        "_m",
        "_paying_inventory",
        "_paying_value",
        "_size_ratio",
        "_skew_ratio",
        "_value_base",
        "_value_quote",
        "inventory",
        "mid",
        "params",
        "side",
    )

    def __init__(
        self, params: OtcPoolParams, inventory: OtcInventory, mid: Decimal, side: Side
    ) -> None:
        self.side = Side(side)
        self.mid = _check_mid(mid)
        self.params = params
        self.inventory = inventory
        self._m, self._d = _value_factors(mid, params)
        # Values in quote units scaled by d, so every leg and the trade share one exact unit.
        self._value_base, self._value_quote = inventory.base * self._m, inventory.quote * self._d
        if self.side is Side.SELL_BASE:
            self._paying_inventory, self._paying_value = inventory.quote, self._value_quote
            self._direction = 1
        else:
            self._paying_inventory, self._paying_value = inventory.base, self._value_base
            self._direction = -1
        self._size_ratio = params.size_spread_bps.as_integer_ratio()
        self._skew_ratio = params.skew_spread_bps.as_integer_ratio()

    def _priced(self, amount_in: int) -> tuple[int, Decimal, Decimal, Decimal]:
        """``(amount_out, spread, size_component, skew_component)``, checked."""
        _require_int("amount_in", amount_in)
        if amount_in <= 0:
            raise OtcRejection(RejectReason.ZERO_AMOUNT, f"amount_in must be > 0, got {amount_in}")
        params, m, d = self.params, self._m, self._d
        if self._direction == 1:
            trade_value = amount_in * m
            out_num, out_den = trade_value, d  # quote units
            _check_size(params, amount_in, 1)
            value_base_after = self._value_base + trade_value
            value_quote_after = max(0, self._value_quote - trade_value)
        else:
            trade_value = amount_in * d
            out_num, out_den = trade_value, m  # base units
            _check_size(params, out_num, out_den)
            value_base_after = max(0, self._value_base - trade_value)
            value_quote_after = self._value_quote + trade_value

        if trade_value >= self._paying_value:
            size_component = params.size_spread_bps
        else:
            size_num, size_den = self._size_ratio
            size_component = _ratio(size_num * trade_value, size_den * self._paying_value)

        total_after = value_base_after + value_quote_after
        if total_after == 0:
            skew_component = Decimal(0)
        else:
            skew_num, skew_den = self._skew_ratio
            skew_component = _ratio(
                self._direction * skew_num * (value_base_after - value_quote_after),
                skew_den * total_after,
            )

        raw_spread = _CTX.add(_CTX.add(params.base_spread_bps, size_component), skew_component)
        spread = max(params.min_spread_bps, raw_spread)

        spread_num, spread_den = spread.as_integer_ratio()
        amount_out = out_num * (BPS * spread_den - spread_num) // (out_den * BPS * spread_den)
        if amount_out == 0:
            raise OtcRejection(
                RejectReason.ZERO_AMOUNT,
                f"amount_in {amount_in} on {self.side} pays out 0 base units",
            )
        if amount_out > self._paying_inventory:
            raise OtcRejection(
                RejectReason.INSUFFICIENT_INVENTORY,
                f"amount_out {amount_out} exceeds the pool's paying inventory "
                f"{self._paying_inventory}",
            )
        return amount_out, spread, size_component, skew_component

    def amount_out(self, amount_in: int) -> int:
        """What the pool pays for ``amount_in``; raises :class:`OtcRejection` when it will not."""
        return self._priced(amount_in)[0]

    def quote(self, amount_in: int) -> OtcQuote:
        """The firm quote for ``amount_in``; raises :class:`OtcRejection` when it will not."""
        amount_out, spread, size_component, skew_component = self._priced(amount_in)
        inventory = self.inventory
        if self.side is Side.SELL_BASE:
            inventory_after = OtcInventory(
                base=inventory.base + amount_in, quote=inventory.quote - amount_out
            )
        else:
            inventory_after = OtcInventory(
                base=inventory.base - amount_out, quote=inventory.quote + amount_in
            )
        return OtcQuote(
            side=self.side,
            amount_in=amount_in,
            amount_out=amount_out,
            mid=self.mid,
            spread_bps=spread,
            size_component_bps=size_component,
            skew_component_bps=skew_component,
            inventory_after=inventory_after,
        )


@dataclass(frozen=True, slots=True)
class OtcBook:
    pool_id: str
    inventory: OtcInventory
    target: OtcInventory
    fills: int
    last_look_rejects: int
