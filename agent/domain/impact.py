"""Jupiter's output at any size, estimated from the quotes it already gave for the pair.

The router must price a Jupiter leg at sizes it never asked for; a request per candidate size
would spend the rate budget many times over. Jupiter's answer for the full amount already
carries its price impact, and a constant-product pool is the simplest curve that has the
same output and the same impact at that size: with ``x`` in, ``y`` out and impact ``i``
(the fraction by which the average price falls short of the spot price), its virtual
reserves are ``R_in = x (1 - i) / i`` and ``R_out = y / i``. Without a usable impact (0, or
absent), two recent quotes of the pair at different sizes fix the same two unknowns; with
neither, the curve is linear at the quoted price (deep liquidity). The size finally chosen
is confirmed by one real quote before anything is built, so the estimate steers the split
but never sets a price.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["ImpactModel", "Observation", "VirtualPool", "fit_from_impact", "fit_from_two"]

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class VirtualPool:
    """A constant-product curve (no fee: it is in the price) or, without depth, a line."""

    reserve_in: Decimal | None  # None: linear at `price`
    reserve_out: Decimal | None
    price: Decimal  # output per input unit at the observed size (linear case) or spot

    def out(self, amount_in: int) -> int:
        """Estimated output for ``amount_in``, rounded down."""
        if amount_in <= 0:
            return 0
        if self.reserve_in is None or self.reserve_out is None:
            return int(self.price * amount_in)
        return int(self.reserve_out * amount_in / (self.reserve_in + amount_in))


def fit_from_impact(amount_in: int, out: int, impact: Decimal) -> VirtualPool:
    """The constant-product pool that gives ``out`` for ``amount_in`` with this impact
    (a fraction, e.g. 0.0012 for 12 bps)."""
    if amount_in <= 0 or out <= 0:
        raise ValueError("a fit needs a positive amount and output")
    if impact <= 0 or impact >= 1:
        return VirtualPool(None, None, Decimal(out) / amount_in)
    reserve_in = Decimal(amount_in) * (ONE - impact) / impact
    reserve_out = Decimal(out) / impact
    return VirtualPool(reserve_in, reserve_out, reserve_out / reserve_in)


def fit_from_two(a: Observation, b: Observation) -> VirtualPool | None:
    """The constant-product pool through two quotes of one pair, or None when they do not
    describe one (equal sizes, or a larger size with a better average price)."""
    if a.amount_in == b.amount_in or min(a.amount_in, b.amount_in, a.out, b.out) <= 0:
        return None
    small, large = sorted((a, b), key=lambda o: o.amount_in)
    # out/x = R_out / (R_in + x): the reciprocal is linear in x, so two points fix it.
    r_small = Decimal(small.amount_in) / small.out
    r_large = Decimal(large.amount_in) / large.out
    if r_large <= r_small:
        return None
    slope = (r_large - r_small) / (large.amount_in - small.amount_in)  # 1 / R_out
    intercept = r_small - slope * small.amount_in  # R_in / R_out
    if intercept <= 0:
        return None
    reserve_out = ONE / slope
    reserve_in = intercept * reserve_out
    return VirtualPool(reserve_in, reserve_out, reserve_out / reserve_in)


@dataclass(frozen=True, slots=True)
class Observation:
    at: float
    amount_in: int
    out: int


@dataclass
class ImpactModel:
    """Recent Jupiter quotes per pair, and the curve they imply for a new request."""

    max_age_s: float = 120.0
    kept_per_pair: int = 16
    _seen: dict[tuple[str, str], deque[Observation]] = field(default_factory=dict)

    def observe(self, pair: tuple[str, str], observation: Observation) -> None:
        seen = self._seen.setdefault(pair, deque(maxlen=self.kept_per_pair))
        seen.append(observation)

    def recent(self, pair: tuple[str, str], now: float) -> Sequence[Observation]:
        return [o for o in self._seen.get(pair, ()) if now - o.at <= self.max_age_s]

    def curve(
        self, pair: tuple[str, str], now: float, amount_in: int, out: int, impact: Decimal
    ) -> VirtualPool:
        """The curve through the quote just received, shaped by its impact or, failing that,
        by the most recent quote of the pair at another size."""
        fitted = fit_from_impact(amount_in, out, impact)
        if fitted.reserve_in is not None:
            return fitted
        current = Observation(now, amount_in, out)
        for previous in reversed(self.recent(pair, now)):
            two = fit_from_two(current, previous)
            if two is not None:
                return two
        return fitted
