"""What the allocation solver reads and answers: a venue's output curve, one leg, one allocation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

__all__ = ["BPS", "Allocation", "Curve", "Leg"]

BPS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Curve:
    """One venue (pool/route) as the router sees it: output as a function of input size."""

    venue: str  # "otc" | "localdex" | "jupiter"
    source: str  # pool id or route name; (venue, source) is unique
    min_in: int  # smallest size it accepts (>= 1)
    max_in: int  # largest size it accepts (inventory, pool max, ...); below min_in = unusable
    # size -> (expected_out, guaranteed_out); None = refuses this size. Called at most once per
    # size per solve, so it may be an exact (and slow) quote function.
    outputs: Callable[[int], tuple[int, int] | None]
    # Per leg, in output base units (network fee, rent), paid only if the leg is used.
    fixed_cost_out: int = 0
    # Risk (last look, delay x volatility): expected output counts as expected*(1-haircut/10000).
    haircut_bps: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.min_in < 1:
            raise ValueError(f"{self.venue}/{self.source}: min_in must be >= 1, got {self.min_in}")
        if self.fixed_cost_out < 0:
            raise ValueError(f"{self.venue}/{self.source}: fixed_cost_out must be >= 0")
        if not self.haircut_bps.is_finite() or not 0 <= self.haircut_bps < BPS:
            raise ValueError(f"{self.venue}/{self.source}: haircut_bps must be in [0, {BPS})")


@dataclass(frozen=True, slots=True)
class Leg:
    venue: str
    source: str
    amount_in: int
    expected_out: int
    guaranteed_out: int
    value_out: int  # floor(expected * (1 - haircut)) - fixed_cost


@dataclass(frozen=True, slots=True)
class Allocation:
    legs: tuple[Leg, ...]  # in (venue, source) order; amounts sum to the intent's; none zero
    expected_out: int
    guaranteed_out: int
    value_out: int
    considered: int  # candidate allocations priced exactly, kept for explainability
