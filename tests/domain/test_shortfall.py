"""Implementation shortfall: the arrival value, its four parts and their signs, from tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.domain.shortfall import (
    LegExecution,
    arrival_mid,
    arrival_out,
    intent_shortfall,
    leg_shortfall,
)

# 1 SOL (10^9 lamports) at 150 USDC (10^6 base units each): 0.15 USDC base units per lamport.
MID = Decimal("0.15")
SOL = 10**9


def _exact(text: str) -> Decimal:
    """A figure written as a fraction ("200/3": 1 USDC short of 150, in bps), in Decimal."""
    numerator, _, denominator = text.partition("/")
    return Decimal(numerator) / Decimal(denominator or 1)


def leg(
    amount_in: int = SOL,
    decided: int = 149_000_000,
    quoted: int = 149_000_000,
    delivered: int | None = 149_000_000,
    costs: str = "0",
    *,
    firm: bool = False,
) -> LegExecution:
    return LegExecution(amount_in, decided, quoted, delivered, Decimal(costs), firm)


@pytest.mark.parametrize(
    ("execution", "parts"),
    [
        pytest.param(leg(), ("200/3", "0", "0", "0"), id="spread only"),
        pytest.param(
            leg(decided=150_000_000, quoted=150_000_000, delivered=150_000_000),
            ("0", "0", "0", "0"),
            id="at the mid",
        ),
        pytest.param(
            leg(decided=151_500_000, quoted=151_500_000, delivered=151_500_000),
            ("-100", "0", "0", "0"),
            id="better than the mid is negative",
        ),
        pytest.param(
            leg(quoted=148_250_000, delivered=148_250_000),
            ("200/3", "50", "0", "0"),
            id="a re-quote after a last look",
        ),
        pytest.param(
            leg(delivered=148_850_000),
            ("200/3", "0", "10", "0"),
            id="delivered short of the quote",
        ),
        pytest.param(
            leg(delivered=149_150_000),
            ("200/3", "0", "-10", "0"),
            id="delivered above the quote",
        ),
        pytest.param(
            leg(costs="15000"),
            ("200/3", "0", "0", "1"),
            id="fees in the bought token",
        ),
    ],
)
def test_parts_measure_each_step_against_the_one_before(
    execution: LegExecution, parts: tuple[str, str, str, str]
) -> None:
    """Spread and impact, delay, slippage and costs are each in bps of the arrival value."""
    shortfall = leg_shortfall(execution, MID)
    assert shortfall is not None
    got = (
        shortfall.spread_impact_bps,
        shortfall.delay_bps,
        shortfall.slippage_bps,
        shortfall.costs_bps,
    )
    assert got == tuple(_exact(p) for p in parts)


@pytest.mark.parametrize(
    "execution",
    [
        leg(),
        leg(quoted=148_250_000, delivered=148_100_000, costs="30000"),
        leg(delivered=151_000_000),
    ],
)
def test_total_is_the_delivered_value_less_costs_against_arrival(execution: LegExecution) -> None:
    """The total is (arrival value − delivered + costs) / arrival value, and the parts sum to it."""
    shortfall = leg_shortfall(execution, MID)
    assert shortfall is not None and execution.delivered_out is not None
    value = Decimal(execution.amount_in) * MID
    expected = (value - execution.delivered_out + execution.costs_out) * 10_000 / value
    assert shortfall.total_bps == expected
    parts = shortfall.spread_impact_bps + shortfall.delay_bps + shortfall.costs_bps
    assert abs(parts + (shortfall.slippage_bps or 0) - expected) < Decimal("1e-20")


def test_a_firm_fill_delivered_as_quoted_reports_no_slippage() -> None:
    """A firm RFQ fill that delivered its quote has slippage None (firm), not a measured 0."""
    shortfall = leg_shortfall(leg(firm=True), MID)
    assert shortfall is not None and shortfall.slippage_bps is None


def test_a_firm_fill_the_chain_contradicts_is_measured() -> None:
    """A firm fill whose delivered output differs from its quote is measured like any other."""
    shortfall = leg_shortfall(leg(delivered=148_000_000, firm=True), MID)
    assert shortfall is not None and shortfall.slippage_bps == _exact("200/3")


def test_a_split_is_measured_over_its_delivered_legs() -> None:
    """Two legs add their amounts and outputs; an undelivered leg is left out."""
    legs = [
        leg(SOL, 150_000_000, 150_000_000, 150_000_000),
        leg(SOL, 148_500_000, 148_500_000, 148_350_000, "15000"),
        leg(SOL, 149_000_000, 149_000_000, None),
    ]
    shortfall = intent_shortfall(legs, MID)
    assert shortfall is not None
    assert shortfall.arrival_out == Decimal(300_000_000)
    assert shortfall.spread_impact_bps == Decimal(50)  # 1.5 USDC short of 300 at decision
    assert shortfall.slippage_bps == Decimal(5)  # 0.15 USDC short of the quotes
    assert shortfall.costs_bps == Decimal("0.5")  # 0.015 USDC of fees
    assert shortfall.total_bps == Decimal("55.5")


def test_nothing_delivered_has_no_shortfall() -> None:
    """An intent none of whose legs delivered has no shortfall figure (it is unfilled)."""
    assert intent_shortfall([leg(delivered=None)], MID) is None
    assert intent_shortfall([], MID) is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"amount_in": 0}, "amount_in"),
        ({"delivered": -1}, "negative"),
        ({"costs": "-1"}, "costs_out"),
    ],
)
def test_impossible_legs_are_refused(changes: dict[str, object], problem: str) -> None:
    """A leg with no input, a negative output or negative costs is a caller's bug."""
    with pytest.raises(ValueError, match=problem):
        leg(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("mid", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_the_arrival_mid_must_be_a_price(mid: Decimal) -> None:
    """An arrival mid that is not positive and finite has no value to measure against."""
    with pytest.raises(ValueError, match="mid"):
        arrival_out(SOL, mid)


@pytest.mark.parametrize(
    ("sell_usd", "sell_decimals", "buy_usd", "buy_decimals", "mid"),
    [
        ("150", 9, "1", 6, "0.15"),  # SOL → USDC: a lamport is 0.15 USDC base units
        ("1", 6, "150", 9, "6.666666666666666666666666667"),  # USDC → SOL
        ("1", 6, "1", 6, "1"),
        ("2.5", 6, "150", 9, "16.66666666666666666666666667"),  # RAY (6) → SOL (9)
    ],
)
def test_arrival_mid_converts_usd_prices_into_base_units(
    sell_usd: str, sell_decimals: int, buy_usd: str, buy_decimals: int, mid: str
) -> None:
    """The mid is sell USD over buy USD, scaled by the two tokens' decimals."""
    got = arrival_mid(Decimal(sell_usd), sell_decimals, Decimal(buy_usd), buy_decimals)
    assert got == Decimal(mid)
