"""Split routing: when splits must and must not happen, edges, min_out, and the oracle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.domain.allocation import (
    Allocation,
    Curve,
    Leg,
    allocate,
    brute_force,
    min_out_shares,
)
from agent.domain.amm import constant_product_out, slippage_threshold
from agent.domain.otc_pricing import OtcInventory, OtcPoolParams, OtcRejection, Side, quote_otc

SOL = 10**9  # lamports per SOL
USDC = 10**6  # micro-USDC per USDC
MID = Decimal(150)  # USDC per SOL
BIG = 10**18  # "no max_in"
Outputs = Callable[[int], tuple[int, int] | None]

# Derandomized and database-free so CI runs are reproducible.
PROPERTY = settings(max_examples=40, derandomize=True, database=None, deadline=None)


def curve(venue: str, source: str, outputs: Outputs, fields: dict[str, Any]) -> Curve:
    """A curve accepting 1..BIG unless ``fields`` (min_in, max_in, costs) say otherwise."""
    return replace(Curve(venue, source, 1, BIG, outputs), **fields)


def amm(
    source: str,
    base_reserve: int,
    fee_bps: int,
    *,
    slippage_bps: int = 0,
    venue: str = "localdex",
    **fields: Any,
) -> Curve:
    """Selling SOL into a SOL/USDC constant-product pool priced at MID."""
    reserve_in, reserve_out = base_reserve * SOL, base_reserve * 150 * USDC

    def outputs(size: int) -> tuple[int, int] | None:
        out = constant_product_out(reserve_in, reserve_out, size, fee_bps).expected_out
        return None if out <= 0 else (out, slippage_threshold(out, slippage_bps))

    return curve(venue, source, outputs, fields)


def otc(
    source: str,
    params: OtcPoolParams,
    inventory: OtcInventory,
    **fields: Any,
) -> Curve:
    """Selling SOL to an RFQ pool at MID: firm, so guaranteed equals expected."""

    def outputs(size: int) -> tuple[int, int] | None:
        try:
            out = quote_otc(params, inventory, MID, Side.SELL_BASE, size).amount_out
        except OtcRejection:
            return None
        return out, out

    return curve("otc", source, outputs, fields)


def firm(source: str, spread_bps: int, **fields: Any) -> Curve:
    """A linear firm quote: MID less a flat spread at every size."""

    def outputs(size: int) -> tuple[int, int] | None:
        out = size * 150 * USDC * (10_000 - spread_bps) // (10_000 * SOL)
        return None if out <= 0 else (out, out)

    return curve("otc", source, outputs, fields)


def refusing(venue: Curve, refuses: Callable[[int], bool]) -> Curve:
    """The same curve, answering None for the sizes ``refuses`` picks."""
    inner = venue.outputs
    return replace(venue, outputs=lambda size: None if refuses(size) else inner(size))


def otc_params(**changes: Any) -> OtcPoolParams:
    base = OtcPoolParams(
        base_decimals=9, quote_decimals=6, base_spread_bps=Decimal(8),
        size_spread_bps=Decimal(60), skew_spread_bps=Decimal(20), min_spread_bps=Decimal(3),
        min_base=SOL, max_base=2_500 * SOL,
    )  # fmt: skip
    return replace(base, **changes)


BALANCED = OtcInventory(base=5_000 * SOL, quote=750_000 * USDC)
LONG_QUOTE = OtcInventory(base=1_000 * SOL, quote=1_350_000 * USDC)  # wants SOL: skew discount
FLAT_5BPS = otc_params(
    base_spread_bps=Decimal(5),
    size_spread_bps=Decimal(0),
    skew_spread_bps=Decimal(0),
    min_spread_bps=Decimal(0),
    min_base=1,
    max_base=BIG,
)
RICH = OtcInventory(base=10**6 * SOL, quote=10**9 * USDC)


def gap_bps(found: Allocation | None, oracle: Allocation | None) -> Decimal:
    """How far the solver is below the oracle, in bps of the oracle (negative when above)."""
    assert found is not None
    assert oracle is not None
    return Decimal(oracle.value_out - found.value_out) * 10_000 / Decimal(oracle.value_out)


def sizes(found: Allocation | None) -> dict[str, int]:
    assert found is not None
    return {leg.source: leg.amount_in for leg in found.legs}


def assert_well_formed(found: Allocation, curves: list[Curve], amount: int, min_out: int) -> None:
    """Exact sums, min_out met, every leg inside its curve's bounds and priced as it says."""
    by_name = {(c.venue, c.source): c for c in curves}
    assert sum(leg.amount_in for leg in found.legs) == amount
    assert found.guaranteed_out >= min_out
    assert found.value_out == sum(leg.value_out for leg in found.legs)
    assert found.expected_out == sum(leg.expected_out for leg in found.legs)
    assert found.guaranteed_out == sum(leg.guaranteed_out for leg in found.legs)
    for leg in found.legs:
        venue = by_name[(leg.venue, leg.source)]
        assert venue.min_in <= leg.amount_in <= venue.max_in
        assert venue.outputs(leg.amount_in) == (leg.expected_out, leg.guaranteed_out)


class TestWhenToSplit:
    @pytest.mark.parametrize("amount", [10 * SOL, 500 * SOL, 3_000 * SOL + 7])
    def test_two_equal_deep_amms_share_the_trade(self, amount: int) -> None:
        """Two identical pools each take half (to 0.1%), halving the price impact."""
        curves = [amm("a", 10_000, 30), amm("b", 10_000, 30)]
        found = allocate(curves, amount, 0)
        assert found is not None
        assert set(sizes(found)) == {"a", "b"}
        for size in sizes(found).values():
            assert abs(2 * size - amount) <= amount // 1_000
        alone = allocate(curves[:1], amount, 0)
        assert alone is not None
        assert found.value_out > alone.value_out

    @pytest.mark.parametrize(
        ("curves", "winner"),
        [
            pytest.param(
                [otc("flat", FLAT_5BPS, RICH), amm("pool", 10_000, 30)],
                "flat",
                id="firm quote better at every size",
            ),
            pytest.param(
                [amm("deep", 50_000, 5), amm("tiny", 2, 5, fixed_cost_out=USDC)],
                "deep",
                id="tiny venue's fixed cost exceeds its gain",
            ),
            pytest.param(
                [firm("cheap", 10), firm("dear", 11)],
                "cheap",
                id="two linear quotes: the better takes all",
            ),
            pytest.param(
                [firm("quoted", 10, haircut_bps=Decimal(5)), firm("sure", 14)],
                "sure",
                id="haircut turns the better quote into the worse",
            ),
        ],
    )
    def test_no_split_when_one_venue_wins_everywhere(
        self, curves: list[Curve], winner: str
    ) -> None:
        """A single venue takes everything when splitting cannot add value."""
        assert sizes(allocate(curves, 200 * SOL, 0)) == {winner: 200 * SOL}

    def test_the_tiny_venue_is_used_when_it_is_free(self) -> None:
        """Control for the fixed-cost row: without the fixed cost the tiny pool gets a leg."""
        curves = [amm("deep", 50_000, 5), amm("tiny", 2, 5)]
        assert set(sizes(allocate(curves, 200 * SOL, 0))) == {"deep", "tiny"}

    @pytest.mark.parametrize("max_legs", [1, 2, 3, 4])
    def test_max_legs_is_respected(self, max_legs: int) -> None:
        """Identical pools would all take a share; only max_legs of them get one."""
        curves = [amm(name, 5_000, 30) for name in "abcd"]
        found = allocate(curves, 2_000 * SOL, 0, max_legs=max_legs)
        assert found is not None
        assert len(found.legs) == max_legs


class TestSizeEdges:
    @pytest.mark.parametrize(
        ("otc_curve", "cap"),
        [
            pytest.param(
                otc("flat", FLAT_5BPS, RICH, max_in=100 * SOL), 100 * SOL, id="declared max_in"
            ),
            pytest.param(
                otc("flat", replace(FLAT_5BPS, max_base=100 * SOL + 1), RICH),
                100 * SOL + 1,
                id="max_base refusal",
            ),
            pytest.param(
                otc("flat", FLAT_5BPS, OtcInventory(0, 15_000 * USDC)),
                # 15_000 USDC pays for about 100.05 SOL at 5 bps: the largest size with
                # floor(size * 150e6 * 9_995 / 1e13) <= 15_000e6.
                ((15_000 * USDC + 1) * 10**13 - 1) // (150 * USDC * 9_995),
                id="inventory refusal",
            ),
        ],
    )
    def test_capped_firm_quote_fills_to_its_cap(self, otc_curve: Curve, cap: int) -> None:
        """The better venue is filled up to its cap (to 0.1% when only refusals mark it)."""
        curves = [otc_curve, amm("pool", 10_000, 30)]
        found = allocate(curves, 300 * SOL, 0)
        assert found is not None
        assert_well_formed(found, curves, 300 * SOL, 0)
        slack = 0 if otc_curve.max_in == cap else cap // 1_000
        assert cap - slack <= sizes(found)["flat"] <= cap
        assert sizes(found)["pool"] == 300 * SOL - sizes(found)["flat"]

    def test_venue_whose_min_in_exceeds_the_amount_never_appears(self) -> None:
        """A far better venue that needs more than the whole amount is not used."""
        curves = [firm("big-only", 0, min_in=200 * SOL + 1), amm("pool", 10_000, 30)]
        assert sizes(allocate(curves, 200 * SOL, 0)) == {"pool": 200 * SOL}

    @pytest.mark.parametrize("min_share", [1, 30, 50, 70, 90])
    def test_no_leg_is_below_its_min_in(self, min_share: int) -> None:
        """With min_in at a share of the amount, the leg is absent or at least min_in."""
        amount = 1_000 * SOL
        curves = [amm("a", 10_000, 30), amm("b", 20_000, 30, min_in=amount * min_share // 100)]
        found = allocate(curves, amount, 0)
        assert found is not None
        assert_well_formed(found, curves, amount, 0)
        assert gap_bps(found, brute_force(curves, amount, 0)) <= Decimal("0.5")

    @pytest.mark.parametrize("amount", [7, 97, 10**4 + 1, 10**9 + 7, 999_999_999_989, 7 * 10**12])
    def test_legs_sum_exactly_to_the_amount(self, amount: int) -> None:
        """Integer legs sum exactly to the amount and none is zero, at awkward amounts too."""
        curves = [
            amm("a", 10_000, 30),
            amm("b", 3_000, 5, fixed_cost_out=10),
            otc("rfq", otc_params(min_base=1), BALANCED),
            firm("lin", 40, max_in=10**12),
        ]
        found = allocate(curves, amount, 0)
        assert found is not None
        assert_well_formed(found, curves, amount, 0)
        assert all(leg.amount_in > 0 for leg in found.legs)


class TestMinOut:
    def test_binding_min_out_buys_guarantee_with_value(self) -> None:
        """When the best split guarantees too little, the result meets min_out, at least cost."""
        amount = 500 * SOL
        curves = [
            amm("pool", 2_000_000, 5, slippage_bps=100),
            otc("rfq", otc_params(min_base=1), BALANCED),
        ]
        free = allocate(curves, amount, 0)
        assert free is not None
        min_out = amount * 150 * USDC * 9_960 // (10_000 * SOL)
        assert free.guaranteed_out < min_out
        found = allocate(curves, amount, min_out)
        assert found is not None
        assert_well_formed(found, curves, amount, min_out)
        assert set(sizes(found)) == {"pool", "rfq"}
        assert found.value_out <= free.value_out
        assert gap_bps(found, brute_force(curves, amount, min_out)) <= Decimal("0.5")

    @pytest.mark.parametrize(
        "min_out",
        [
            pytest.param(100 * 150 * USDC, id="above mid"),
            pytest.param(10**30, id="far above"),
        ],
    )
    def test_unreachable_min_out_gives_none(self, min_out: int) -> None:
        """No allocation guarantees more than mid less spreads: both searches say None."""
        curves = [amm("pool", 10_000, 30), otc("rfq", otc_params(), BALANCED)]
        assert allocate(curves, 100 * SOL, min_out) is None
        assert brute_force(curves, 100 * SOL, min_out, steps=50) is None

    def test_min_out_met_exactly_is_feasible(self) -> None:
        """min_out equal to the best guarantee is met, not refused."""
        curves = [firm("only", 10)]
        answer = curves[0].outputs(100 * SOL)
        assert answer is not None
        expected, guaranteed = answer
        found = allocate(curves, 100 * SOL, guaranteed)
        assert found is not None
        assert found.guaranteed_out == guaranteed == expected


class TestRefusals:
    def test_refused_band_is_avoided(self) -> None:
        """A venue refusing 40-60% of the amount never gets a leg in that band."""
        amount = 1_000 * SOL
        curves = [
            amm("a", 10_000, 30),
            refusing(amm("b", 10_000, 30), lambda size: 400 * SOL <= size <= 600 * SOL),
        ]
        found = allocate(curves, amount, 0)
        assert found is not None
        assert_well_formed(found, curves, amount, 0)
        assert not 400 * SOL <= sizes(found)["b"] <= 600 * SOL
        assert gap_bps(found, brute_force(curves, amount, 0)) <= Decimal("0.5")

    def test_a_venue_refusing_everything_is_ignored(self) -> None:
        """A curve that refuses every size is never a leg."""
        curves = [amm("a", 10_000, 30), refusing(amm("b", 10_000, 5), lambda size: True)]
        assert sizes(allocate(curves, 100 * SOL, 0)) == {"a": 100 * SOL}

    def test_nothing_usable_gives_none(self) -> None:
        """No curve accepting any size in range means no allocation."""
        curves = [firm("big-only", 0, min_in=10 * SOL), firm("capped", 0, max_in=0)]
        assert allocate(curves, SOL, 0) is None


# Cases for the oracle comparison: (curves, amount, min_out).
ORACLE_CASES = {
    "amm + rfq": (
        [amm("pool", 20_000, 5), otc("rfq", otc_params(), BALANCED)],
        1_500 * SOL,
        0,
    ),
    "rfq skew discount at the spread floor": (
        [
            amm("pool", 8_000, 25),
            otc("rfq", otc_params(skew_spread_bps=Decimal(40)), LONG_QUOTE),
        ],
        2_000 * SOL,
        0,
    ),
    "three venues, fixed costs and haircut": (
        [
            amm("localdex", 20_000, 5, fixed_cost_out=2 * USDC),
            amm("jupiter", 400_000, 4, venue="jupiter", fixed_cost_out=USDC),
            otc("rfq", otc_params(), BALANCED, haircut_bps=Decimal("0.5")),
        ],
        6_000 * SOL,
        0,
    ),
    "pools of different depth and fee": (
        [amm("a", 3_000, 1), amm("b", 10_000, 30), amm("c", 50_000, 100)],
        5_000 * SOL,
        0,
    ),
    "binding min_out": (
        [
            amm("pool", 2_000_000, 5, slippage_bps=80),
            amm("jupiter", 4_000_000, 4, slippage_bps=60, venue="jupiter"),
            otc("rfq", otc_params(min_base=1), BALANCED),
        ],
        800 * SOL,
        800 * 150 * USDC * 9_955 // 10_000,
    ),
    "min_in in the middle": (
        [amm("a", 5_000, 30), amm("b", 5_000, 30, min_in=700 * SOL), firm("c", 60)],
        1_000 * SOL,
        0,
    ),
    "refusal above a hidden inventory limit": (
        [
            amm("pool", 5_000, 30),
            otc("rfq", otc_params(max_base=BIG), OtcInventory(0, 40_000 * USDC)),
        ],
        700 * SOL,
        0,
    ),
    "small trade, fixed costs dominate": (
        [
            amm("pool", 20_000, 5, fixed_cost_out=2_000),
            amm("other", 20_000, 6, fixed_cost_out=2_000),
            firm("rfq", 8, fixed_cost_out=4_000),
        ],
        SOL // 2,
        0,
    ),
}


@pytest.mark.parametrize(("curves", "amount", "min_out"), ORACLE_CASES.values(), ids=ORACLE_CASES)
def test_within_half_a_basis_point_of_brute_force(
    curves: list[Curve], amount: int, min_out: int
) -> None:
    """The solver's value is within 0.5 bp of an exhaustive 400-step grid search."""
    found = allocate(curves, amount, min_out)
    assert found is not None
    assert_well_formed(found, curves, amount, min_out)
    assert gap_bps(found, brute_force(curves, amount, min_out)) <= Decimal("0.5")


class TestContract:
    def test_value_out_is_haircut_expected_less_fixed_cost(self) -> None:
        """A leg's value is floor(expected * (1 - haircut)) less its fixed cost."""
        curve = firm("q", 10, haircut_bps=Decimal("2.5"), fixed_cost_out=7)
        found = allocate([curve], 3 * SOL + 1, 0)
        assert found is not None
        (leg,) = found.legs
        assert leg.value_out == leg.expected_out * 99_975 // 100_000 - 7

    def test_same_input_gives_the_same_allocation(self) -> None:
        """Deterministic: repeated calls and any order of the curves give one answer."""
        curves = [
            amm("b", 10_000, 30),
            amm("a", 10_000, 30),
            otc("rfq", otc_params(), BALANCED),
        ]
        first = allocate(curves, 700 * SOL, 0)
        assert first == allocate(curves, 700 * SOL, 0)
        assert first == allocate(curves[::-1], 700 * SOL, 0)
        assert first is not None
        assert [leg.source for leg in first.legs] == sorted(leg.source for leg in first.legs)

    def test_ties_go_to_the_first_venue_by_name(self) -> None:
        """Two identical linear quotes: the whole trade goes to the lower (venue, source)."""
        assert sizes(allocate([firm("zeta", 10), firm("alpha", 10)], 50 * SOL, 0)) == {
            "alpha": 50 * SOL
        }

    def test_outputs_is_asked_once_per_size_and_within_budget(self) -> None:
        """Each size is priced once; calls stay near samples per curve plus a few dozen."""
        asked: list[tuple[str, int]] = []

        def counted(curve: Curve) -> Curve:
            inner = curve.outputs

            def outputs(size: int) -> tuple[int, int] | None:
                asked.append((curve.source, size))
                return inner(size)

            return replace(curve, outputs=outputs)

        curves = [counted(c) for c in ORACLE_CASES["three venues, fixed costs and haircut"][0]]
        found = allocate(curves, 6_000 * SOL, 0, samples=64)
        assert found is not None
        assert found.considered > 0
        assert len(asked) == len(set(asked))
        assert len(asked) <= 64 * len(curves) + 64

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            pytest.param(lambda: allocate([firm("q", 0)], 0, 0), "amount", id="zero amount"),
            pytest.param(lambda: allocate([firm("q", 0)], 1, -1), "min_out", id="negative"),
            pytest.param(lambda: allocate([firm("q", 0)], 1, 0, max_legs=0), "max_legs", id="legs"),
            pytest.param(
                lambda: allocate([firm("q", 0)], 1, 0, samples=1), "samples", id="samples"
            ),
            pytest.param(
                lambda: allocate([firm("q", 0), firm("q", 5)], 1, 0), "twice", id="duplicate"
            ),
            pytest.param(lambda: brute_force([firm("q", 0)], 1, 0, steps=0), "steps", id="steps"),
            pytest.param(lambda: firm("q", 0, min_in=0), "min_in", id="min_in"),
            pytest.param(lambda: firm("q", 0, fixed_cost_out=-1), "fixed_cost", id="cost"),
            pytest.param(lambda: firm("q", 0, haircut_bps=Decimal(10_000)), "haircut", id="cut"),
            pytest.param(
                lambda: allocate([Curve("otc", "q", 1, BIG, lambda size: (size, size + 1))], 9, 0),
                "guaranteed",
                id="guarantee above expectation",
            ),
        ],
    )
    def test_bad_arguments_raise(self, call: Callable[[], object], message: str) -> None:
        """Invalid arguments and impossible outputs raise ValueError naming the problem."""
        with pytest.raises(ValueError, match=message):
            call()

    def test_brute_force_finds_the_hand_computed_split(self) -> None:
        """Two linear quotes capped at 60 units: the better fills 60, the other the rest."""
        curves = [firm("better", 5, max_in=60 * SOL), firm("worse", 20)]
        found = brute_force(curves, 100 * SOL, 0, steps=10)
        assert sizes(found) == {"better": 60 * SOL, "worse": 40 * SOL}

    @PROPERTY
    @given(
        amount=st.integers(min_value=1, max_value=10**13),
        depths=st.lists(st.integers(min_value=1, max_value=100_000), min_size=1, max_size=4),
        slack_bps=st.integers(min_value=0, max_value=500),
    )
    def test_every_answer_is_well_formed(
        self, amount: int, depths: list[int], slack_bps: int
    ) -> None:
        """Any pools, amount and min_out: an answer is well formed, and None means the oracle
        finds nothing either (on a coarse grid)."""
        curves = [
            amm(f"p{i}", depth, 30, slippage_bps=50, fixed_cost_out=i)
            for i, depth in enumerate(depths)
        ]
        single = allocate(curves, amount, 0, max_legs=1)
        min_out = 0 if single is None else single.guaranteed_out * (10_000 + slack_bps) // 10_000
        found = allocate(curves, amount, min_out)
        if found is None:
            assert brute_force(curves, amount, min_out, steps=40, max_legs=2) is None
        else:
            assert_well_formed(found, curves, amount, min_out)


def legs(*guaranteed: int) -> list[Leg]:
    return [Leg("otc", f"l{i}", 1, g, g, g) for i, g in enumerate(guaranteed)]


@pytest.mark.parametrize(
    ("guaranteed", "min_out", "shares"),
    [
        pytest.param((600, 400), 500, [300, 200], id="proportional"),
        pytest.param((5, 3), 7, [4, 3], id="remainder to the largest fraction"),
        pytest.param((1, 1, 1), 2, [1, 1, 0], id="tied remainders to earlier legs"),
        pytest.param((7, 0, 5), 12, [7, 0, 5], id="min_out equal to the total"),
        pytest.param((10, 20), 0, [0, 0], id="zero min_out"),
        pytest.param((), 0, [], id="no legs"),
        pytest.param((999_999_999, 1), 3, [3, 0], id="dust leg gets nothing"),
    ],
)
def test_min_out_shares(guaranteed: tuple[int, ...], min_out: int, shares: list[int]) -> None:
    """Shares follow the guarantees, the remainder goes deterministically, the sum is exact."""
    assert min_out_shares(legs(*guaranteed), min_out) == shares


@pytest.mark.parametrize(
    ("guaranteed", "min_out"),
    [
        pytest.param((1, 2), 4, id="guarantees short of min_out"),
        pytest.param((), 1, id="no legs"),
        pytest.param((5,), -1, id="negative min_out"),
    ],
)
def test_min_out_shares_refuses_the_impossible(guaranteed: tuple[int, ...], min_out: int) -> None:
    """Shares cannot cover a min_out the legs do not guarantee (or a negative one)."""
    with pytest.raises(ValueError, match="min_out"):
        min_out_shares(legs(*guaranteed), min_out)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    guaranteed=st.lists(st.integers(min_value=0, max_value=10**15), min_size=1, max_size=5),
    fraction=st.fractions(min_value=0, max_value=1),
)
def test_min_out_shares_sum_exactly_and_fit(guaranteed: list[int], fraction: Fraction) -> None:
    """For any legs and min_out up to their total: exact sum, each share within its guarantee."""
    total = sum(guaranteed)
    min_out = int(total * fraction)
    shares = min_out_shares(legs(*guaranteed), min_out)
    assert sum(shares) == min_out
    assert all(0 <= share <= g for share, g in zip(shares, guaranteed, strict=True))
