"""Jupiter impact model: virtual constant-product pools fitted to quotes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.domain.amm import constant_product_out
from agent.domain.impact import ImpactModel, Observation, fit_from_impact, fit_from_two

PAIR = ("SOL", "USDC")
R_IN, R_OUT = 400_000 * 10**9, 60_000_000 * 10**6  # a deep SOL/USDC pool at 150


def _pool_out(amount: int) -> tuple[int, Decimal]:
    """Output and impact (a fraction) of the reference pool, fee-free."""
    quote = constant_product_out(R_IN, R_OUT, amount, 0)
    return quote.expected_out, quote.price_impact_bps / 10_000


@pytest.mark.parametrize("fitted_at", [10**9, 10**11, 10**13])
def test_fit_from_impact_recovers_the_pool(fitted_at: int) -> None:
    """Fitted at one size from its impact, the curve matches the true pool at other sizes within 0.1 bp."""
    out, impact = _pool_out(fitted_at)
    pool = fit_from_impact(fitted_at, out, impact)
    assert pool.out(fitted_at) in (out - 1, out, out + 1)
    for size in (10**8, 10**10, 10**12, 5 * 10**13):
        true, _ = _pool_out(size)
        assert abs(pool.out(size) - true) * 10**5 <= true  # 0.1 bp


@pytest.mark.parametrize("impact", [Decimal(0), Decimal(-1), Decimal(1)])
def test_no_usable_impact_means_a_line(impact: Decimal) -> None:
    """Without an impact in (0, 1) the estimate is linear at the quoted average price."""
    pool = fit_from_impact(1_000, 150_000, impact)
    assert pool.reserve_in is None and pool.out(2_000) == 300_000 and pool.out(0) == 0


def test_fit_from_impact_refuses_empty_quotes() -> None:
    """A quote with no input or no output cannot be fitted."""
    with pytest.raises(ValueError):
        fit_from_impact(0, 1, Decimal("0.1"))


def test_two_quotes_fix_the_pool() -> None:
    """Two sizes of one pair pin down both virtual reserves."""
    small, large = 10**10, 10**13
    pool = fit_from_two(
        Observation(0, small, _pool_out(small)[0]), Observation(1, large, _pool_out(large)[0])
    )
    assert pool is not None
    true, _ = _pool_out(10**12)
    assert abs(pool.out(10**12) - true) * 10**4 <= true  # 1 bp


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Observation(0, 100, 150), Observation(1, 100, 149)),  # same size
        (Observation(0, 100, 150), Observation(1, 200, 301)),  # bigger size, better price
        (Observation(0, 0, 150), Observation(1, 200, 290)),
    ],
)
def test_two_quotes_that_describe_no_pool(a: Observation, b: Observation) -> None:
    """Equal sizes or improving prices with size describe no constant-product pool."""
    assert fit_from_two(a, b) is None


def test_model_falls_back_to_a_recent_quote_then_to_a_line() -> None:
    """Without impact, the model fits through the latest fresh quote of the pair, else a line."""
    model = ImpactModel(max_age_s=60.0)
    small = 10**10
    model.observe(PAIR, Observation(0.0, small, _pool_out(small)[0]))
    big = 10**13
    out_big, _ = _pool_out(big)
    shaped = model.curve(PAIR, 30.0, big, out_big, Decimal(0))
    assert shaped.reserve_in is not None
    stale = model.curve(PAIR, 120.0, big, out_big, Decimal(0))
    assert stale.reserve_in is None and stale.out(big) == out_big
    other = model.curve(("SOL", "USDT"), 30.0, big, out_big, Decimal(0))
    assert other.reserve_in is None
