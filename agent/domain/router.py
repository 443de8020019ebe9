"""Router v2: the allocation of one intent across venues (one venue or a split), net of the
network costs of each leg and of each maker's execution risk.

Every venue describes itself as curves (output as a function of size); each curve is charged
its leg's network cost (signatures and priority fee, in the bought token) and, for an RFQ
pool, a haircut for the chance it declines on last look (learned from its recent fills and
fades) plus the price risk of its execution delay; pools that decline well beyond their
advertised rate are cooled down and left out. :func:`agent.domain.allocation.allocate` then
finds the best split that still guarantees the signed min_out. Learning is per process and in
memory: a restart starts again from each pool's configured reject probability.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from agent.domain.allocation import Allocation, Curve, allocate
from agent.domain.risk import (
    CoolDown,
    CoolDownPolicy,
    FadeEstimate,
    VolatilityWindow,
    delay_penalty_bps,
    risk_haircut_bps,
)

__all__ = ["MakerProfile", "MakerState", "Router", "RouterSettings"]

# Prices kept per pair for the volatility estimate.
PRICES_KEPT = 120
# A pool is fading (and cooled down) once its learned decline probability exceeds twice what
# it claims plus this margin: with the default prior weight, two declines in a row for a pool
# that claims 2%, while one decline in fifty fills is what it said it would do.
FADING_MARGIN = Decimal("0.05")


@dataclass(frozen=True, slots=True)
class RouterSettings:
    split: bool = True  # False: the best single venue only (router v1)
    max_legs: int = 3
    samples: int = 64
    cool_down: CoolDownPolicy = field(default_factory=CoolDownPolicy)


@dataclass(frozen=True, slots=True)
class MakerProfile:
    """What an RFQ pool claims: its reject probability and how long it holds a quote."""

    reject_probability: Decimal
    execution_delay_s: float


@dataclass(frozen=True, slots=True)
class MakerState:
    """What the router has learned about one pool, for metrics and operators."""

    decline_probability: Decimal
    cool_down_s: float  # left in its cool-down; 0 while it is routable


class Router:
    def __init__(
        self,
        settings: RouterSettings,
        makers: Mapping[tuple[str, str], MakerProfile],
    ) -> None:
        self.settings = settings
        self._makers = dict(makers)
        self._fades = {key: FadeEstimate(prior=p.reject_probability) for key, p in makers.items()}
        self._cool = {key: CoolDown(settings.cool_down) for key in makers}
        self._volatility: dict[tuple[str, str], VolatilityWindow] = {}

    # --- what the router learns ---------------------------------------------------------------
    def filled(self, place: tuple[str, str], now: float) -> None:
        if place in self._fades:
            self._fades[place] = self._fades[place].observe(now, declined=False)

    def faded(self, place: tuple[str, str], now: float) -> None:
        """A maker declined on last look: count it; a pool declining well beyond what it
        claims is cooled down. A decline at its advertised rate is priced by the haircut."""
        if place not in self._fades:
            return
        estimate = self._fades[place].observe(now, declined=True)
        self._fades[place] = estimate
        if estimate.probability(now) > estimate.prior * 2 + FADING_MARGIN:
            self._cool[place] = self._cool[place].faded(now)

    def observe_price(self, pair: tuple[str, str], now: float, price: Decimal) -> None:
        window = self._volatility.get(pair)
        if window is None:
            window = self._volatility[pair] = VolatilityWindow(PRICES_KEPT)
        last = window.last_time
        if last is None or now > last:
            window.observe(now, price)

    def cooling(self, place: tuple[str, str], now: float) -> bool:
        cool = self._cool.get(place)
        return cool is not None and cool.active(now)

    def maker_states(self, now: float) -> dict[tuple[str, str], MakerState]:
        return {
            place: MakerState(
                self._fades[place].probability(now), max(0.0, self._cool[place].until - now)
            )
            for place in self._makers
        }

    def haircut_bps(self, place: tuple[str, str], pair: tuple[str, str], now: float) -> Decimal:
        maker = self._makers.get(place)
        if maker is None:
            return Decimal(0)
        window = self._volatility.get(pair)
        volatility = window.value() if window is not None else Decimal(0)
        delay = delay_penalty_bps(maker.execution_delay_s, volatility)
        return risk_haircut_bps(self._fades[place].probability(now), delay)

    # --- the decision -------------------------------------------------------------------------
    def allocate(
        self,
        curves: Sequence[Curve],
        *,
        pair: tuple[str, str],
        amount: int,
        min_out: int,
        leg_cost_out: Callable[[str], int],
        now: float,
        excluded: frozenset[tuple[str, str]] = frozenset(),
    ) -> Allocation | None:
        """The best allocation over the usable curves, each charged its cost and risk."""
        usable = []
        for curve in curves:
            place = (curve.venue, curve.source)
            if place in excluded or self.cooling(place, now) or curve.max_in < curve.min_in:
                continue
            usable.append(
                replace(
                    curve,
                    fixed_cost_out=leg_cost_out(curve.venue),
                    haircut_bps=min(self.haircut_bps(place, pair, now), Decimal("9999")),
                )
            )
        if not usable:
            return None
        max_legs = self.settings.max_legs if self.settings.split else 1
        return allocate(usable, amount, min_out, max_legs=max_legs, samples=self.settings.samples)
