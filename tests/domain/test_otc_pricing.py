"""OTC pool RFQ pricing: hand-checked tables, rejections and hypothesis properties."""

import pickle
from decimal import ROUND_UP, Decimal, localcontext

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent.domain.otc_pricing import (
    OtcInventory,
    OtcPoolParams,
    OtcPricer,
    OtcQuote,
    OtcRejection,
    RejectReason,
    Side,
    imbalance,
    quote_otc,
)

SOL = 10**9  # lamports per SOL
USDC = 10**6  # micro-USDC per USDC
MID = Decimal(150)  # USDC per SOL

# Derandomized and database-free so CI runs are reproducible.
PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)

# Expected values for non-terminating ratios (50/120, 1/3) are written at the test's default
# 28-digit precision while the module works at 60, so decimals are compared to this tolerance.
TOLERANCE = Decimal("1e-20")

PARAMS = OtcPoolParams(
    base_decimals=9,
    quote_decimals=6,
    base_spread_bps=Decimal(10),
    size_spread_bps=Decimal(50),
    skew_spread_bps=Decimal(20),
    min_spread_bps=Decimal(5),
    min_base=SOL // 100,  # 0.01 SOL
    max_base=100 * SOL,
)
STEEP_SKEW = OtcPoolParams(9, 6, Decimal(10), Decimal(50), Decimal(200), Decimal(5), 0, 100 * SOL)
# A 5-decimal memecoin quoted at 0.00002 USDC: one base unit is worth 0.0002 micro-USDC.
MEME = OtcPoolParams(5, 6, Decimal(10), Decimal(50), Decimal(20), Decimal(5), 0, 10**20)
NO_MIN = OtcPoolParams(9, 6, Decimal(10), Decimal(50), Decimal(20), Decimal(5), 0, 100 * SOL)

BALANCED = OtcInventory(base=1_000 * SOL, quote=150_000 * USDC)  # 150k USDC each side at mid
LONG_BASE = OtcInventory(base=1_200 * SOL, quote=120_000 * USDC)  # imbalance +0.2
SHORT_QUOTE = OtcInventory(base=1_000 * SOL, quote=1_000 * USDC)


# Worked example (row "sell 10 SOL, balanced"): 10 SOL into 1000 SOL / 150_000 USDC at mid 150.
#   out_at_mid = 10 * 150                       = 1_500 USDC = 1_500_000_000 units
#   size       = 50 * min(1, 1_500 / 150_000)   = 0.5 bps
#   after      = 1010 SOL (151_500 USDC) vs 148_500 USDC -> imbalance (151_500 - 148_500) / 300_000
#              = +0.01; the pool receives base so direction = +1 -> skew = 20 * 0.01 = 0.2 bps
#   spread     = max(5, 10 + 0.5 + 0.2)         = 10.7 bps
#   amount_out = floor(1_500_000_000 * 0.99893) = 1_498_395_000
# Rebalancing example (row "buy with 1500 USDC, long base"): pool 1200 SOL / 120_000 USDC.
#   out_at_mid = 1_500 / 150 = 10 SOL; size = 50 * 10 / 1200 = 0.41666... bps
#   after      = 1190 SOL (178_500) vs 121_500 -> imbalance 0.19; direction -1 -> skew -3.8 bps
#   spread     = 10 + 0.41666... - 3.8 = 6.61666... bps (cheaper than the 10.7 balanced case)
#   amount_out = floor(1e10 * (1 - 0.000661666...)) = floor(9_993_383_333.33) = 9_993_383_333
# With skew 200 bps the same trade would be 10 + 0.41666... - 38 < 5, so the floor applies:
#   amount_out = 1e10 * 0.9995 = 9_995_000_000.
@pytest.mark.parametrize(
    ("params", "inventory", "mid", "side", "amount_in", "expected"),
    [
        pytest.param(
            PARAMS,
            BALANCED,
            MID,
            Side.SELL_BASE,
            10 * SOL,
            (1_498_395_000, "10.7", "0.5", "0.2", (1_010 * SOL, 148_501_605_000)),
            id="sell 10 SOL, balanced",
        ),
        # Mirror image: 1500 USDC buys 10 SOL at mid, size 0.5, imbalance -0.01 * -1 = +0.2.
        pytest.param(
            PARAMS,
            BALANCED,
            MID,
            Side.BUY_BASE,
            1_500 * USDC,
            (9_989_300_000, "10.7", "0.5", "0.2", (990_010_700_000, 151_500 * USDC)),
            id="buy with 1500 USDC, balanced",
        ),
        pytest.param(
            PARAMS,
            LONG_BASE,
            MID,
            Side.BUY_BASE,
            1_500 * USDC,
            (
                9_993_383_333,
                Decimal(10) + Decimal(50) / Decimal(120) - Decimal("3.8"),
                Decimal(50) / Decimal(120),
                "-3.8",
                (1_190_006_616_667, 121_500 * USDC),
            ),
            id="buy with 1500 USDC, long base (rebalancing discount)",
        ),
        # size = 50 * 1_500 / 120_000 = 0.625; after: 1210 SOL (181_500) vs 118_500 -> +0.21,
        # skew = 4.2; spread 14.825 -> 1_500_000_000 * 0.9985175 = 1_497_776_250.
        pytest.param(
            PARAMS,
            LONG_BASE,
            MID,
            Side.SELL_BASE,
            10 * SOL,
            (1_497_776_250, "14.825", "0.625", "4.2", (1_210 * SOL, 118_502_223_750)),
            id="sell 10 SOL, long base (skew surcharge)",
        ),
        pytest.param(
            STEEP_SKEW,
            LONG_BASE,
            MID,
            Side.BUY_BASE,
            1_500 * USDC,
            (
                9_995_000_000,
                "5",
                Decimal(50) / Decimal(120),
                "-38",
                (1_190_005_000_000, 121_500 * USDC),
            ),
            id="rebalancing discount floored at min_spread",
        ),
        # 6_673_333_334 lamports * 0.15 = 1_001_000_000.1 units at mid, more than the 1000 USDC
        # held: size is capped at 50, the quote leg clamps to 0 so imbalance is +1 and skew 20;
        # spread 80 -> floor(1_001_000_000.1 * 0.992) = 992_992_000, which the pool can pay.
        pytest.param(
            PARAMS,
            SHORT_QUOTE,
            MID,
            Side.SELL_BASE,
            6_673_333_334,
            (992_992_000, "80", "50", "20", (1_006_673_333_334, 7_008_000)),
            id="size component capped at size_spread_bps",
        ),
        # max_base exactly: 100 SOL -> 15_000 USDC at mid; size 50 * 0.1 = 5; after 1100 SOL
        # (165_000) vs 135_000 -> +0.1, skew 2; spread 17 -> 1.5e10 * 0.9983.
        pytest.param(
            PARAMS,
            BALANCED,
            MID,
            Side.SELL_BASE,
            100 * SOL,
            (14_974_500_000, "17", "5", "2", (1_100 * SOL, 135_025_500_000)),
            id="sell exactly max_base",
        ),
        # 15_000 USDC buys exactly max_base (100 SOL) at mid; mirror of the row above.
        pytest.param(
            PARAMS,
            BALANCED,
            MID,
            Side.BUY_BASE,
            15_000 * USDC,
            (99_830_000_000, "17", "5", "2", (900_170_000_000, 165_000 * USDC)),
            id="buy exactly max_base",
        ),
        # min_base exactly: 0.01 SOL -> 1.5 USDC; size 50 * 1e-5 = 0.0005; imbalance
        # 3 / 300_000 = 1e-5 -> skew 0.0002; spread 10.0007 -> floor(1_498_499.895).
        pytest.param(
            PARAMS,
            BALANCED,
            MID,
            Side.SELL_BASE,
            SOL // 100,
            (1_498_499, "10.0007", "0.0005", "0.0002", (1_000_010_000_000, 149_998_501_501)),
            id="sell exactly min_base",
        ),
        # 1e8 MEME (1e13 units) at 0.00002 = 2_000 USDC against 200_000 USDC per side: the
        # same 1% trade as the first row, so the same 10.7 bps spread.
        pytest.param(
            MEME,
            OtcInventory(base=10**15, quote=200_000 * USDC),
            Decimal("0.00002"),
            Side.SELL_BASE,
            10**13,
            (1_997_860_000, "10.7", "0.5", "0.2", (10**15 + 10**13, 198_002_140_000)),
            id="different decimals",
        ),
    ],
)
def test_quote_otc_table(
    params: OtcPoolParams,
    inventory: OtcInventory,
    mid: Decimal,
    side: Side,
    amount_in: int,
    expected: tuple[int, Decimal | str, Decimal | str, Decimal | str, tuple[int, int]],
) -> None:
    """quote_otc matches hand-computed outputs, spread parts and post-trade inventory."""
    amount_out, spread, size, skew, (base_after, quote_after) = expected
    quote = quote_otc(params, inventory, mid, side, amount_in)
    assert quote == OtcQuote(
        side=side,
        amount_in=amount_in,
        amount_out=amount_out,
        mid=mid,
        spread_bps=quote.spread_bps,
        size_component_bps=quote.size_component_bps,
        skew_component_bps=quote.skew_component_bps,
        inventory_after=OtcInventory(base=base_after, quote=quote_after),
    )
    parts = (quote.spread_bps, quote.size_component_bps, quote.skew_component_bps)
    for got, want in zip(parts, (spread, size, skew), strict=True):
        assert abs(got - Decimal(want)) < TOLERANCE


@pytest.mark.parametrize(
    ("params", "inventory", "mid", "side", "amount_in", "reason"),
    [
        pytest.param(PARAMS, BALANCED, Decimal(0), Side.SELL_BASE, SOL, "bad_price", id="mid 0"),
        pytest.param(PARAMS, BALANCED, Decimal(-1), Side.BUY_BASE, USDC, "bad_price", id="mid<0"),
        pytest.param(PARAMS, BALANCED, Decimal("NaN"), Side.SELL_BASE, SOL, "bad_price", id="NaN"),
        pytest.param(PARAMS, BALANCED, Decimal("Inf"), Side.SELL_BASE, SOL, "bad_price", id="inf"),
        pytest.param(PARAMS, BALANCED, MID, Side.SELL_BASE, 0, "zero_amount", id="amount 0"),
        pytest.param(PARAMS, BALANCED, MID, Side.BUY_BASE, -5, "zero_amount", id="amount<0"),
        # 1 lamport is worth 0.15 micro-USDC, which rounds down to nothing.
        pytest.param(NO_MIN, BALANCED, MID, Side.SELL_BASE, 1, "zero_amount", id="dust out"),
        pytest.param(
            PARAMS, BALANCED, MID, Side.SELL_BASE, SOL // 100 - 1, "below_min_size", id="sell<min"
        ),
        pytest.param(
            PARAMS, BALANCED, MID, Side.SELL_BASE, 100 * SOL + 1, "above_max_size", id="sell>max"
        ),
        # 1.499999 USDC buys 0.009999993 SOL at mid, just under the 0.01 SOL minimum.
        pytest.param(
            PARAMS, BALANCED, MID, Side.BUY_BASE, 1_499_999, "below_min_size", id="buy<min"
        ),
        # One more micro-USDC than 15_000 USDC buys 100.0000000067 SOL at mid.
        pytest.param(
            PARAMS,
            BALANCED,
            MID,
            Side.BUY_BASE,
            15_000 * USDC + 1,
            "above_max_size",
            id="buy>max",
        ),
        # 10 SOL is worth ~1490 USDC after spread; the pool holds 1000.
        pytest.param(
            PARAMS,
            SHORT_QUOTE,
            MID,
            Side.SELL_BASE,
            10 * SOL,
            "insufficient_inventory",
            id="short quote",
        ),
        pytest.param(
            PARAMS,
            OtcInventory(base=0, quote=150_000 * USDC),
            MID,
            Side.BUY_BASE,
            150 * USDC,
            "insufficient_inventory",
            id="no base",
        ),
    ],
)
def test_quote_otc_rejections(
    params: OtcPoolParams,
    inventory: OtcInventory,
    mid: Decimal,
    side: Side,
    amount_in: int,
    reason: str,
) -> None:
    """Bad prices, zero amounts, size bounds and short inventory raise OtcRejection."""
    with pytest.raises(OtcRejection) as caught:
        quote_otc(params, inventory, mid, side, amount_in)
    assert caught.value.reason == reason
    assert f"({reason})" in str(caught.value)


def test_otc_rejection_is_a_picklable_value_error() -> None:
    """OtcRejection subclasses ValueError and survives pickling with its reason."""
    error = OtcRejection("insufficient_inventory", "pool is empty")
    restored = pickle.loads(pickle.dumps(error))
    assert isinstance(restored, ValueError)
    assert restored.reason is RejectReason.INSUFFICIENT_INVENTORY
    assert (
        str(restored) == str(error) == "OTC quote rejected (insufficient_inventory): pool is empty"
    )


def test_otc_rejection_rejects_unknown_reason() -> None:
    """Only the documented rejection reasons can be raised."""
    with pytest.raises(ValueError, match="not_a_reason"):
        OtcRejection("not_a_reason", "x")


def test_quote_otc_rejects_float_mid() -> None:
    """A float mid is a programming error (TypeError), not a bad quote."""
    with pytest.raises(TypeError, match=r"mid must be a decimal\.Decimal"):
        quote_otc(PARAMS, BALANCED, 150.0, Side.SELL_BASE, SOL)  # type: ignore[arg-type]


def test_quote_otc_accepts_side_as_string_and_is_deterministic() -> None:
    """The side may be given by value, and repeated quotes are identical (no noise)."""
    first = quote_otc(PARAMS, BALANCED, MID, "sell_base", 10 * SOL)  # type: ignore[arg-type]
    assert first.side is Side.SELL_BASE
    assert all(
        quote_otc(PARAMS, BALANCED, MID, Side.SELL_BASE, 10 * SOL) == first for _ in range(5)
    )


def test_quote_otc_ignores_callers_decimal_context() -> None:
    """A caller's low-precision decimal context does not change the quote."""
    reference = quote_otc(PARAMS, LONG_BASE, MID, Side.BUY_BASE, 1_500 * USDC)
    with localcontext() as ctx:
        ctx.prec, ctx.rounding = 3, ROUND_UP
        assert quote_otc(PARAMS, LONG_BASE, MID, Side.BUY_BASE, 1_500 * USDC) == reference


@pytest.mark.parametrize(
    ("inventory", "mid", "expected"),
    [
        (BALANCED, MID, Decimal(0)),
        (LONG_BASE, MID, Decimal("0.2")),  # (180_000 - 120_000) / 300_000
        (OtcInventory(base=1_000 * SOL, quote=0), MID, Decimal(1)),
        (OtcInventory(base=0, quote=5 * USDC), MID, Decimal(-1)),
        (OtcInventory(base=0, quote=0), MID, Decimal(0)),
        # The same holdings look long quote once SOL halves: (75_000 - 150_000) / 225_000.
        (BALANCED, Decimal(75), Decimal(-1) / Decimal(3)),
    ],
)
def test_imbalance_table(inventory: OtcInventory, mid: Decimal, expected: Decimal) -> None:
    """imbalance values both legs at mid and is (V_base - V_quote) / (V_base + V_quote)."""
    assert abs(imbalance(inventory, mid, PARAMS) - expected) < TOLERANCE


def test_imbalance_rejects_bad_mid() -> None:
    """imbalance refuses a non-positive mid with a bad_price rejection."""
    with pytest.raises(OtcRejection) as caught:
        imbalance(BALANCED, Decimal(0), PARAMS)
    assert caught.value.reason == "bad_price"


def _params(**overrides: object) -> OtcPoolParams:
    fields: dict[str, object] = {
        "base_decimals": 9,
        "quote_decimals": 6,
        "base_spread_bps": Decimal(10),
        "size_spread_bps": Decimal(50),
        "skew_spread_bps": Decimal(20),
        "min_spread_bps": Decimal(5),
        "min_base": 0,
        "max_base": 10,
    }
    fields.update(overrides)
    return OtcPoolParams(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"base_decimals": -1}, ValueError, "base_decimals must be in"),
        ({"quote_decimals": 256}, ValueError, "quote_decimals must be in"),
        ({"base_spread_bps": Decimal(-1)}, ValueError, "base_spread_bps must be >= 0"),
        ({"size_spread_bps": Decimal(-1)}, ValueError, "size_spread_bps must be >= 0"),
        ({"min_spread_bps": Decimal(-1)}, ValueError, "min_spread_bps must be >= 0"),
        ({"min_spread_bps": Decimal(10_000)}, ValueError, "min_spread_bps must be < 10000"),
        ({"skew_spread_bps": 0}, TypeError, "skew_spread_bps must be a decimal.Decimal"),
        # 0 + 2 * 5000 + 3 * 20 passes 100%: output could shrink as the trade grows.
        (
            {"base_spread_bps": Decimal(0), "size_spread_bps": Decimal(5_000)},
            ValueError,
            "for amount_out to grow with amount_in",
        ),
        # 10 + 2 * 50 + 3 * 3297 = 10_001: a negative skew counts by its size too.
        ({"skew_spread_bps": Decimal(-3_297)}, ValueError, "for amount_out to grow"),
        ({"base_spread_bps": 10.0}, TypeError, "base_spread_bps must be a decimal.Decimal"),
        ({"size_spread_bps": Decimal("NaN")}, ValueError, "size_spread_bps must be finite"),
        ({"min_base": 11}, ValueError, "need 0 <= min_base <= max_base"),
        ({"min_base": -1}, ValueError, "need 0 <= min_base <= max_base"),
        ({"max_base": 1.5}, TypeError, "max_base must be an int"),
    ],
)
def test_pool_params_validation(
    overrides: dict[str, object], error: type[Exception], message: str
) -> None:
    """OtcPoolParams rejects negative spreads, non-monotone shapes, floats and bad bounds."""
    with pytest.raises(error, match=message):
        _params(**overrides)


@pytest.mark.parametrize(("base", "quote"), [(-1, 0), (0, -1)])
def test_inventory_rejects_negative_holdings(base: int, quote: int) -> None:
    """An inventory cannot hold a negative amount of either token."""
    with pytest.raises(ValueError, match="must be >= 0"):
        OtcInventory(base=base, quote=quote)


# --- properties -------------------------------------------------------------------------


@st.composite
def otc_cases(
    draw: st.DrawFn, *, skew_nonnegative: bool = False
) -> tuple[OtcPoolParams, OtcInventory, Decimal, Side, int, int]:
    """A valid pool, inventory, mid, side and two trade sizes around the pool's capacity."""
    skew_low = 0 if skew_nonnegative else -100_000
    # base <= 900, size <= 3000, |skew| <= 1000 bps: base + 2 size + 3 |skew| <= 9900 < 10000,
    # close to the limit OtcPoolParams enforces for monotonicity.
    params = OtcPoolParams(
        base_decimals=draw(st.integers(0, 12)),
        quote_decimals=draw(st.integers(0, 12)),
        base_spread_bps=draw(st.integers(0, 90_000).map(lambda n: Decimal(n).scaleb(-2))),
        size_spread_bps=draw(st.integers(0, 300_000).map(lambda n: Decimal(n).scaleb(-2))),
        skew_spread_bps=draw(st.integers(skew_low, 100_000).map(lambda n: Decimal(n).scaleb(-2))),
        min_spread_bps=draw(st.integers(0, 50_000).map(lambda n: Decimal(n).scaleb(-2))),
        min_base=0,
        max_base=10**40,
    )
    holdings = st.integers(0, 10**15)
    inventory = OtcInventory(base=draw(holdings), quote=draw(holdings))
    mid = draw(st.integers(1, 10**10).map(lambda n: Decimal(n).scaleb(-4)))
    side = draw(st.sampled_from(Side))
    mid_num, mid_den = mid.as_integer_ratio()
    value_num = mid_num * 10**params.quote_decimals  # one base unit = value_num / value_den quote
    value_den = mid_den * 10**params.base_decimals
    if side is Side.SELL_BASE:
        capacity = inventory.quote * value_den // value_num
    else:
        capacity = inventory.base * value_num // value_den
    # Up to 20% past capacity so the insufficient-inventory edge is exercised too.
    upper = max(2, capacity + capacity // 5)
    first = draw(st.integers(1, upper))
    # Neighbouring sizes probe the rounding step by step; distant ones the curve's shape.
    second = draw(st.integers(1, upper) | st.integers(max(1, first - 3), first + 3))
    return params, inventory, mid, side, first, second


def _try_quote(
    params: OtcPoolParams, inventory: OtcInventory, mid: Decimal, side: Side, amount_in: int
) -> OtcQuote | OtcRejection:
    try:
        return quote_otc(params, inventory, mid, side, amount_in)
    except OtcRejection as rejection:
        return rejection


@PROPERTY
@given(otc_cases())
def test_amount_out_is_monotone_in_amount_in(
    case: tuple[OtcPoolParams, OtcInventory, Decimal, Side, int, int],
) -> None:
    """Sending more never returns less, whatever the sign of the skew spread."""
    params, inventory, mid, side, a, b = case
    small, large = sorted((a, b))
    quote_small = _try_quote(params, inventory, mid, side, small)
    quote_large = _try_quote(params, inventory, mid, side, large)
    if isinstance(quote_small, OtcQuote) and isinstance(quote_large, OtcQuote):
        assert quote_small.amount_out <= quote_large.amount_out
    elif isinstance(quote_large, OtcQuote):
        # Only the lower bounds can reject a smaller trade that a larger one passes.
        assert isinstance(quote_small, OtcRejection)
        assert quote_small.reason in {"zero_amount", "below_min_size"}
    else:
        assume(False)


@PROPERTY
@given(otc_cases(skew_nonnegative=True))
def test_average_price_worsens_with_size(
    case: tuple[OtcPoolParams, OtcInventory, Decimal, Side, int, int],
) -> None:
    """With skew_spread_bps >= 0 the spread grows with size, so output is concave in input."""
    params, inventory, mid, side, a, b = case
    small, large = sorted((a, b))
    quote_small = _try_quote(params, inventory, mid, side, small)
    quote_large = _try_quote(params, inventory, mid, side, large)
    assume(isinstance(quote_small, OtcQuote) and isinstance(quote_large, OtcQuote))
    assert isinstance(quote_small, OtcQuote) and isinstance(quote_large, OtcQuote)
    assert quote_small.spread_bps <= quote_large.spread_bps
    # Average price out / in cannot improve beyond the floor's one-unit rounding:
    # out_large / large <= exact_small / small < (out_small + 1) / small.
    assert quote_large.amount_out * small < (quote_small.amount_out + 1) * large


@PROPERTY
@given(otc_cases())
def test_quote_is_never_better_than_mid(
    case: tuple[OtcPoolParams, OtcInventory, Decimal, Side, int, int],
) -> None:
    """The taker never receives more than the mid value, and the pool's books balance."""
    params, inventory, mid, side, amount_in, _ = case
    quote = _try_quote(params, inventory, mid, side, amount_in)
    assume(isinstance(quote, OtcQuote))
    assert isinstance(quote, OtcQuote)
    mid_num, mid_den = mid.as_integer_ratio()
    value_num = mid_num * 10**params.quote_decimals
    value_den = mid_den * 10**params.base_decimals
    if side is Side.SELL_BASE:
        assert quote.amount_out * value_den <= amount_in * value_num
        assert quote.inventory_after == OtcInventory(
            inventory.base + amount_in, inventory.quote - quote.amount_out
        )
    else:
        assert quote.amount_out * value_num <= amount_in * value_den
        assert quote.inventory_after == OtcInventory(
            inventory.base - quote.amount_out, inventory.quote + amount_in
        )
    assert quote.spread_bps >= params.min_spread_bps >= 0
    raw = params.base_spread_bps + quote.size_component_bps + quote.skew_component_bps
    assert abs(quote.spread_bps - max(params.min_spread_bps, raw)) < TOLERANCE
    assert 0 <= quote.size_component_bps <= params.size_spread_bps
    assert abs(quote.skew_component_bps) <= abs(params.skew_spread_bps)


@PROPERTY
@given(otc_cases())
def test_pricer_amount_out_matches_the_firm_quote(
    case: tuple[OtcPoolParams, OtcInventory, Decimal, Side, int, int],
) -> None:
    """The solver's per-size pricer pays exactly what quote_otc quotes, and refuses alike."""
    params, inventory, mid, side, a, b = case
    pricer = OtcPricer(params, inventory, mid, side)
    for size in (a, b):
        quote = _try_quote(params, inventory, mid, side, size)
        try:
            answer: int | OtcRejection = pricer.amount_out(size)
        except OtcRejection as rejection:
            answer = rejection
        if isinstance(quote, OtcQuote):
            assert answer == quote.amount_out
        else:
            assert isinstance(answer, OtcRejection)
            assert (answer.reason, answer.detail) == (quote.reason, quote.detail)
