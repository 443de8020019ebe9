"""Execution risk of a venue, in the units the router weighs it: basis points of its output.

A firm RFQ quote is only as good as the maker's willingness to honour it. Three pieces:

* :class:`FadeEstimate`: the probability that a pool declines on last look, learned from its
  recent fills and declines with exponential forgetting (half-life ``half_life_s``) on top
  of a prior (the configured probability, worth ``prior_weight`` observations), so a new pool
  starts at what it claims and a pool that starts fading is found out within a few trades.
* :func:`delay_penalty_bps`: the price may move while the maker holds the quote; the cost of
  waiting ``delay_s`` is ``z`` standard deviations of the price over that time.
* :class:`CoolDown`: a pool that fades is left out for 15 minutes, doubling at each fade
  within the cool-down's memory, up to a cap; a stretch without fades resets it.

All pure: time is an argument, never read from a clock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import pairwise

__all__ = [
    "CoolDown",
    "CoolDownPolicy",
    "FadeEstimate",
    "VolatilityWindow",
    "delay_penalty_bps",
    "risk_haircut_bps",
    "volatility_bps_per_sqrt_s",
]

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class FadeEstimate:
    """Decayed counts of fills and last-look declines, and the prior they are blended with."""

    prior: Decimal  # the pool's configured reject probability
    prior_weight: Decimal = Decimal(20)  # the prior counts as this many observations
    half_life_s: float = 3_600.0
    fills: Decimal = Decimal(0)
    declines: Decimal = Decimal(0)
    at: float = 0.0  # when the counts were last decayed

    def __post_init__(self) -> None:
        if not 0 <= self.prior <= 1:
            raise ValueError(f"prior must be a probability, got {self.prior}")
        if self.prior_weight <= 0 or self.half_life_s <= 0:
            raise ValueError("prior_weight and half_life_s must be positive")

    def _decayed(self, now: float) -> FadeEstimate:
        if now <= self.at:
            return self
        factor = Decimal(repr(0.5 ** ((now - self.at) / self.half_life_s)))
        return replace(self, fills=self.fills * factor, declines=self.declines * factor, at=now)

    def observe(self, now: float, *, declined: bool) -> FadeEstimate:
        """The estimate after one more fill (``declined=False``) or last-look decline."""
        decayed = self._decayed(now)
        if declined:
            return replace(decayed, declines=decayed.declines + 1)
        return replace(decayed, fills=decayed.fills + 1)

    def probability(self, now: float) -> Decimal:
        """Posterior mean of the decline probability (Beta prior with mean ``prior``)."""
        decayed = self._decayed(now)
        trials = decayed.fills + decayed.declines + self.prior_weight
        return (decayed.declines + self.prior * self.prior_weight) / trials


def volatility_bps_per_sqrt_s(prices: Sequence[tuple[float, Decimal]]) -> Decimal:
    """Realised volatility of a price series, in bps per square root of a second.

    ``prices`` are (time, price) pairs in time order; log returns are scaled by the square
    root of their interval, so irregular sampling (the oracle refreshes when it can) is fine.
    Fewer than two usable points: 0.
    """
    return _volatility([_scaled_return(a, b) for a, b in pairwise(prices)])


def _scaled_return(first: tuple[float, Decimal], second: tuple[float, Decimal]) -> float | None:
    (t0, p0), (t1, p1) = first, second
    if t1 <= t0 or p0 <= 0 or p1 <= 0:
        return None
    return math.log(float(p1 / p0)) / math.sqrt(t1 - t0)


def _volatility(returns: Iterable[float | None]) -> Decimal:
    scaled = [r for r in returns if r is not None]
    if not scaled:
        return Decimal(0)
    variance = sum(r * r for r in scaled) / len(scaled)
    return Decimal(repr(math.sqrt(variance) * 10_000)).quantize(Decimal("0.0001"))


class VolatilityWindow:
    """:func:`volatility_bps_per_sqrt_s` of the last ``size`` prices, one price at a time.

    Each return is worked out once, when its price arrives: the router observes a price and
    asks for the volatility on every decision.
    """

    __slots__ = ("_last", "_returns", "_value")

    def __init__(self, size: int) -> None:
        if size < 2:
            raise ValueError(f"size must be >= 2, got {size}")
        self._last: tuple[float, Decimal] | None = None
        self._returns: deque[float | None] = deque(maxlen=size - 1)
        self._value: Decimal | None = Decimal(0)

    @property
    def last_time(self) -> float | None:
        return None if self._last is None else self._last[0]

    def observe(self, now: float, price: Decimal) -> None:
        if self._last is not None:
            self._returns.append(_scaled_return(self._last, (now, price)))
            self._value = None
        self._last = (now, price)

    def value(self) -> Decimal:
        if self._value is None:
            self._value = _volatility(self._returns)
        return self._value


def delay_penalty_bps(delay_s: float, volatility: Decimal, z: Decimal = Decimal(1)) -> Decimal:
    """What holding a quote for ``delay_s`` risks: ``z`` sigmas of the move over that time."""
    if delay_s <= 0 or volatility <= 0:
        return Decimal(0)
    return (z * volatility * Decimal(repr(math.sqrt(delay_s)))).quantize(Decimal("0.0001"))


def risk_haircut_bps(
    reject_probability: Decimal, delay_penalty: Decimal, fade_cost_bps: Decimal = Decimal(50)
) -> Decimal:
    """The leg's expected output shrinks by the expected cost of a fade and the delay's risk.

    A declined leg is not lost: it is re-routed, at a price ``fade_cost_bps`` worse (the next
    venue's price and the time spent), with the decline's probability.
    """
    return min(BPS, reject_probability * fade_cost_bps + delay_penalty)


@dataclass(frozen=True, slots=True)
class CoolDownPolicy:
    base_s: float = 900.0  # 15 minutes after a fade
    factor: float = 2.0  # each further fade within `memory_s` doubles it
    max_s: float = 4 * 3_600.0
    memory_s: float = 3_600.0  # a pool quiet (no fade) this long after its cool-down starts afresh


@dataclass(frozen=True, slots=True)
class CoolDown:
    """One pool's cool-down state."""

    policy: CoolDownPolicy = field(default_factory=CoolDownPolicy)
    until: float = 0.0
    level: int = 0  # fades in a row (within memory)

    def active(self, now: float) -> bool:
        return now < self.until

    def faded(self, now: float) -> CoolDown:
        """The state after a last-look decline at ``now``."""
        level = self.level + 1 if now < self.until + self.policy.memory_s else 1
        length = min(self.policy.max_s, self.policy.base_s * self.policy.factor ** (level - 1))
        return replace(self, until=now + length, level=level)
