"""Shares of the signed min_out across a split's legs: firm legs first, AMMs share the rest."""

from __future__ import annotations

import pytest

from agent.domain.allocation import Leg
from agent.pipeline.legs import leg_shares


def leg(venue: str, guaranteed: int) -> Leg:
    return Leg(venue, f"{venue}-pool", 1, guaranteed, guaranteed, guaranteed)


@pytest.mark.parametrize(
    ("legs", "min_out", "shares"),
    [
        pytest.param([leg("otc", 600), leg("localdex", 500)], 1_000, [600, 400], id="firm-held-whole"),
        pytest.param([leg("otc", 1_200), leg("localdex", 500)], 1_000, [1_000, 0], id="firm-covers-all"),
        pytest.param(
            [leg("localdex", 300), leg("jupiter", 700)], 900, [270, 630], id="amms-in-proportion"
        ),
        pytest.param(
            [leg("otc", 100), leg("localdex", 300), leg("jupiter", 600)], 910, [100, 270, 540],
            id="firm-then-proportion",
        ),
        pytest.param([leg("otc", 500)], 450, [450], id="single-firm"),
        pytest.param([leg("localdex", 10)], 0, [0], id="no-min-out"),
    ],
)  # fmt: skip
def test_shares(legs: list[Leg], min_out: int, shares: list[int]) -> None:
    """Shares sum to min_out, never exceed a leg's guarantee, and give AMM legs the slack."""
    assert leg_shares(legs, min_out) == shares
    assert sum(shares) == min_out
    assert all(s <= g.guaranteed_out for s, g in zip(shares, legs, strict=True))
