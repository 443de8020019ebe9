"""Constant-product pool math: hand-checked tables, validation and hypothesis properties."""

from decimal import Decimal, localcontext

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent.domain.amm import (
    constant_product_amounts,
    constant_product_out,
    rebalance_towards,
    slippage_threshold,
)

SOL = 10**9  # lamports per SOL
USDC = 10**6  # micro-USDC per USDC
POOL = (1_000 * SOL, 150_000 * USDC)  # 1000 SOL / 150_000 USDC: spot 150 USDC per SOL

# Derandomized and database-free so CI runs are reproducible and leave no files behind.
PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)

reserves = st.integers(min_value=1, max_value=10**20)
fees = st.integers(min_value=0, max_value=9_999)


def close_to(value: Decimal, numerator: int, denominator: int) -> bool:
    """True when value equals numerator / denominator to 40 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 80
        exact = Decimal(numerator) / Decimal(denominator)
        return abs(value - exact) <= abs(exact) * Decimal("1e-40")


# Worked example (row "10 SOL, 25 bps"): sell 10 SOL into 1000 SOL / 150_000 USDC.
#   k            = 1e12 * 1.5e11                     = 1.5e23
#   in_after_fee = 10_000_000_000 * 9975 // 10000    = 9_975_000_000  (fee 25_000_000 = 0.025 SOL)
#   out_after    = ceil(1.5e23 / 1_009_975_000_000)  = ceil(148_518_527_686.33) = 148_518_527_687
#   expected_out = 150_000_000_000 - 148_518_527_687 = 1_481_472_313  (~1481.47 USDC)
#   impact       = (1 - (1_481_472_313 / 9_975_000_000) / 0.15) * 1e4 = 98.7648... bps; the
#                  ideal curve gives 9.975 / 1009.975 * 1e4 = 98.7648 bps, the integer output only
#                  adds its sub-unit rounding loss.
# Row "1500 USDC, 25 bps" is the reverse trade on the same pool:
#   in_after_fee = 1_500_000_000 * 9975 // 10000    = 1_496_250_000  (fee 3_750_000 = 3.75 USDC)
#   out_after    = ceil(1.5e23 / 151_496_250_000)   = 990_123_517_909
#   expected_out = 1e12 - 990_123_517_909           = 9_876_482_091  (~9.876 SOL)
@pytest.mark.parametrize(
    ("reserve_in", "reserve_out", "amount_in", "fee_bps", "out", "fee", "after", "impact"),
    [
        pytest.param(
            *POOL,
            10 * SOL,
            25,
            1_481_472_313,
            25_000_000,
            (1_010 * SOL, 148_518_527_687),
            (10_000 * (9_975_000_000 * 150 - 1_481_472_313 * 1_000), 9_975_000_000 * 150),
            id="10 SOL, 25 bps",
        ),
        # out_after = ceil(1.5e23 / 1_010_000_000_000) = 148_514_851_486
        pytest.param(
            *POOL,
            10 * SOL,
            0,
            1_485_148_514,
            0,
            (1_010 * SOL, 148_514_851_486),
            (10_000 * (10 * SOL * 150 - 1_485_148_514 * 1_000), 10 * SOL * 150),
            id="10 SOL, fee 0",
        ),
        pytest.param(
            *reversed(POOL),
            1_500 * USDC,
            25,
            9_876_482_091,
            3_750_000,
            (151_500 * USDC, 990_123_517_909),
            (4_691_329, 47_500),
            id="1500 USDC, 25 bps",
        ),
        pytest.param(*POOL, 0, 25, 0, 0, POOL, (0, 1), id="zero amount"),
        # 1 * 9975 // 10000 = 0: the whole unit is fee and nothing reaches the curve.
        pytest.param(*POOL, 1, 25, 0, 1, (POOL[0] + 1, POOL[1]), (0, 1), id="unit eaten by fee"),
        # ceil(1000 * 10 / 1001) = 10, so the output rounds to 0: a 100% realised impact.
        pytest.param(1_000, 10, 1, 0, 0, 0, (1_001, 10), (10_000, 1), id="dust rounds to 0"),
        # ceil(100 * 100 / (1e18 + 100)) = 1: even an enormous trade leaves one unit behind.
        pytest.param(
            100,
            100,
            10**18,
            0,
            99,
            0,
            (10**18 + 100, 1),
            (10_000 * (10**18 - 99), 10**18),
            id="drain attempt",
        ),
        # in_after_fee = 1000 * 1 // 10000 = 0 at the largest allowed fee.
        pytest.param(
            *POOL, 1_000, 9_999, 0, 1_000, (POOL[0] + 1_000, POOL[1]), (0, 1), id="max fee"
        ),
    ],
)
def test_constant_product_out_table(
    reserve_in: int,
    reserve_out: int,
    amount_in: int,
    fee_bps: int,
    out: int,
    fee: int,
    after: tuple[int, int],
    impact: tuple[int, int],
) -> None:
    """constant_product_out matches hand-computed quotes, including rounding edge cases."""
    quote = constant_product_out(reserve_in, reserve_out, amount_in, fee_bps)
    assert (quote.amount_in, quote.expected_out, quote.fee_paid) == (amount_in, out, fee)
    assert quote.reserves_after == after
    assert close_to(quote.price_impact_bps, *impact)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 10, 1, 0), "reserve_in must be > 0"),
        ((10, -1, 1, 0), "reserve_out must be > 0"),
        ((10, 10, -1, 0), "amount_in must be >= 0"),
        ((10, 10, 1, -1), r"fee_bps must be in \[0, 10000\)"),
        ((10, 10, 1, 10_000), r"fee_bps must be in \[0, 10000\)"),
    ],
)
def test_constant_product_out_rejects_bad_inputs(
    args: tuple[int, int, int, int], message: str
) -> None:
    """Non-positive reserves, negative amounts and out-of-range fees raise ValueError."""
    with pytest.raises(ValueError, match=message):
        constant_product_out(*args)


@pytest.mark.parametrize("bad", [1.5, Decimal(10), True, "10"])
def test_constant_product_out_rejects_non_int_amounts(bad: object) -> None:
    """Amounts must be ints (never floats, Decimals or bools) so base units stay exact."""
    with pytest.raises(TypeError, match="amount_in must be an int"):
        constant_product_out(10, 10, bad, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expected_out", "slippage_bps", "threshold"),
    [
        (1_481_472_313, 50, 1_474_064_951),  # 1_481_472_313 * 9950 // 10000 (…951.43 rounded down)
        (100, 0, 100),
        (100, 10_000, 0),
        (99, 1, 98),  # 99 * 9999 / 10000 = 98.9901
        (0, 300, 0),
    ],
)
def test_slippage_threshold_table(expected_out: int, slippage_bps: int, threshold: int) -> None:
    """slippage_threshold is floor(expected * (10000 - bps) / 10000)."""
    assert slippage_threshold(expected_out, slippage_bps) == threshold


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 10), "expected_out must be >= 0"),
        ((10, -1), r"slippage_bps must be in \[0, 10000\]"),
        ((10, 10_001), r"slippage_bps must be in \[0, 10000\]"),
    ],
)
def test_slippage_threshold_rejects_bad_inputs(args: tuple[int, int], message: str) -> None:
    """Negative outputs and slippage outside [0, 10000] bps raise ValueError."""
    with pytest.raises(ValueError, match=message):
        slippage_threshold(*args)


# Prices are quote base units per base base-unit: 150 USDC/SOL = 0.15 micro-USDC per lamport.
# fraction 1 to 0.165: base = round(sqrt(1.5e23 / 0.165)) = round(953_462_589_245.59)
#                      quote = ceil(1.5e23 / 953_462_589_246) = ceil(157_321_327_225.46)
# fraction 0.5: new price 0.15 + 0.5 * 0.015 = 0.1575
#                      base = round(sqrt(1.5e23 / 0.1575)) = round(975_900_072_948.53)
#                      quote = ceil(1.5e23 / 975_900_072_949) = ceil(153_704_261_489.32)
# fraction 0.5 to 0.135: new price 0.1425, base = round(sqrt(1.5e23 / 0.1425))
#                      = round(1_025_978_352_085.15), quote = ceil(146_201_915_172.16)
@pytest.mark.parametrize(
    ("target", "fraction", "expected"),
    [
        (Decimal("0.165"), Decimal(1), (953_462_589_246, 157_321_327_226)),
        (Decimal("0.165"), Decimal("0.5"), (975_900_072_949, 153_704_261_490)),
        (Decimal("0.135"), Decimal("0.5"), (1_025_978_352_085, 146_201_915_173)),
        (Decimal("0.165"), Decimal(0), POOL),
        (Decimal("0.15"), Decimal(1), POOL),
    ],
)
def test_rebalance_towards_table(
    target: Decimal, fraction: Decimal, expected: tuple[int, int]
) -> None:
    """rebalance_towards moves the 1000 SOL / 150k USDC pool to hand-computed reserves."""
    assert rebalance_towards(*POOL, target, fraction) == expected


def test_rebalance_towards_keeps_at_least_one_base_unit() -> None:
    """An absurd target price cannot empty the base reserve; k is then held by the quote side."""
    assert rebalance_towards(10, 10, Decimal("1e30"), Decimal(1)) == (1, 100)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((0, 10, Decimal(1), Decimal(1)), ValueError, "reserve_base must be > 0"),
        ((10, 0, Decimal(1), Decimal(1)), ValueError, "reserve_quote must be > 0"),
        ((10, 10, Decimal(0), Decimal(1)), ValueError, "target_price must be > 0"),
        ((10, 10, Decimal("NaN"), Decimal(1)), ValueError, "target_price must be finite"),
        ((10, 10, Decimal(1), Decimal("1.01")), ValueError, r"fraction must be in \[0, 1\]"),
        ((10, 10, Decimal(1), Decimal("-0.1")), ValueError, r"fraction must be in \[0, 1\]"),
        ((10, 10, 1.0, Decimal(1)), TypeError, "target_price must be a decimal.Decimal"),
    ],
)
def test_rebalance_towards_rejects_bad_inputs(
    args: tuple[int, int, Decimal, Decimal], error: type[Exception], message: str
) -> None:
    """Bad reserves, non-positive or float prices and fractions outside [0, 1] are rejected."""
    with pytest.raises(error, match=message):
        rebalance_towards(*args)


@PROPERTY
@given(reserves, reserves, st.integers(min_value=0, max_value=10**22), fees)
def test_swap_never_decreases_k_or_empties_pool(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> None:
    """A swap keeps k, never pays out the whole reserve and never beats the spot price."""
    quote = constant_product_out(reserve_in, reserve_out, amount_in, fee_bps)
    in_after, out_after = quote.reserves_after
    assert in_after * out_after >= reserve_in * reserve_out
    assert 0 <= quote.expected_out < reserve_out
    assert out_after == reserve_out - quote.expected_out
    assert in_after == reserve_in + amount_in
    # Effective price including the fee is at most spot: out / in <= reserve_out / reserve_in.
    assert quote.expected_out * reserve_in <= amount_in * reserve_out
    assert 0 <= quote.price_impact_bps <= 10_000


@PROPERTY
@given(reserves, reserves, st.integers(0, 10**22), st.integers(0, 10**22), fees)
def test_swap_output_is_monotone_in_amount(
    reserve_in: int, reserve_out: int, a: int, b: int, fee_bps: int
) -> None:
    """Selling more never yields less output."""
    small, large = sorted((a, b))
    out_small = constant_product_out(reserve_in, reserve_out, small, fee_bps).expected_out
    out_large = constant_product_out(reserve_in, reserve_out, large, fee_bps).expected_out
    assert out_small <= out_large


@PROPERTY
@given(reserves, reserves, st.integers(0, 10**22), fees, fees)
def test_swap_output_is_monotone_in_fee(
    reserve_in: int, reserve_out: int, amount_in: int, fee_a: int, fee_b: int
) -> None:
    """A higher fee never yields more output."""
    low, high = sorted((fee_a, fee_b))
    out_low = constant_product_out(reserve_in, reserve_out, amount_in, low).expected_out
    out_high = constant_product_out(reserve_in, reserve_out, amount_in, high).expected_out
    assert out_high <= out_low


@PROPERTY
@given(st.integers(0, 10**30), st.integers(0, 10_000), st.integers(0, 10_000))
def test_slippage_threshold_bounds(expected_out: int, bps_a: int, bps_b: int) -> None:
    """The threshold never exceeds the expected output and shrinks as tolerance grows."""
    low, high = sorted((bps_a, bps_b))
    assert 0 <= slippage_threshold(expected_out, high) <= slippage_threshold(expected_out, low)
    assert slippage_threshold(expected_out, low) <= expected_out


prices = st.integers(min_value=1, max_value=10**8).map(lambda n: Decimal(n).scaleb(-4))
fractions = st.integers(min_value=0, max_value=1_000).map(lambda n: Decimal(n).scaleb(-3))


@PROPERTY
@given(
    st.integers(10**6, 10**18),
    st.integers(10**6, 10**18),
    st.integers(-200, 200),
    fractions,
)
def test_rebalance_moves_price_part_way_and_keeps_k(
    reserve_base: int, reserve_quote: int, log_ratio_percent: int, fraction: Decimal
) -> None:
    """Rebalancing keeps k within rounding and lands on the requested price within rounding."""
    with localcontext() as ctx:
        ctx.prec = 80
        spot = Decimal(reserve_quote) / Decimal(reserve_base)
        # Targets within a factor of ~7 of spot keep both new reserves large enough for the
        # rounding tolerance below to be meaningful.
        target = spot * Decimal(10) ** (Decimal(log_ratio_percent) / 240)
        base_after, quote_after = rebalance_towards(reserve_base, reserve_quote, target, fraction)
        assume(min(base_after, quote_after) >= 1_000)
        k = reserve_base * reserve_quote
        assert k <= base_after * quote_after < k + base_after
        wanted = spot + fraction * (target - spot)
        landed = Decimal(quote_after) / Decimal(base_after)
        tolerance = Decimal(2) / base_after + Decimal(2) / quote_after
        assert abs(landed / wanted - 1) <= tolerance


@PROPERTY
@given(reserves, reserves, st.integers(0, 10**22), fees)
def test_amounts_function_matches_the_full_quote(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> None:
    """The solver's per-pool output function equals constant_product_out's expected_out."""
    amount_out = constant_product_amounts(reserve_in, reserve_out, fee_bps)
    expected = constant_product_out(reserve_in, reserve_out, amount_in, fee_bps).expected_out
    assert amount_out(amount_in) == expected


def test_amounts_function_checks_the_pool_once() -> None:
    """A pool with an empty reserve or a fee of 100% has no output function."""
    with pytest.raises(ValueError, match="reserve_out must be > 0"):
        constant_product_amounts(10, 0, 30)
    with pytest.raises(ValueError, match="fee_bps must be in"):
        constant_product_amounts(10, 10, 10_000)
