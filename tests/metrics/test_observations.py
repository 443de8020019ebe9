"""The figures each outcome contributes to the metrics: size buckets, USD volume, slippage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agent.domain.policy import TradeTerms
from agent.domain.tokens import Token
from agent.ledger.leg_reports import LegReport
from agent.metrics.observations import leg_figures, pair_label, size_bucket, utilisation

SOL = Token("SOL", "So11111111111111111111111111111111111111112", 9)
USDC = Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6)

# 10 SOL at $150: $1,500 notional, 1,500 USDC at the mid.
TERMS = TradeTerms(SOL, USDC, 10 * 10**9, 1_480 * 10**6, 50, Decimal(1_500), 1_500 * 10**6)


def _leg(status: str, amount_in: int, expected_out: int, **extra: Any) -> LegReport:
    values: dict[str, Any] = {
        "index": 0,
        "venue": "otc",
        "source": "otc-sol-usdc",
        "amount_in": amount_in,
        "expected_out": expected_out,
        "guaranteed_out": expected_out,
        "status": status,
        "reason": None,
        "detail": "",
        "realised_out": None,
        "realised_slippage_bps": None,
        **extra,
    }
    return LegReport(**values)


@pytest.mark.parametrize(
    ("notional", "bucket"),
    [
        (Decimal(0), "0-1k"),
        (Decimal("999.99"), "0-1k"),
        (Decimal(1_000), "1k-10k"),
        (Decimal("9999.999"), "1k-10k"),
        (Decimal(10_000), "10k-100k"),
        (Decimal(100_000), "100k+"),
        (Decimal(10) ** 9, "100k+"),
    ],
)
def test_size_bucket_bounds_are_lower_inclusive(notional: Decimal, bucket: str) -> None:
    """Each bucket holds its lower bound and stops short of the next one."""
    assert size_bucket(notional) == bucket


@pytest.mark.parametrize(
    ("held", "target", "expected"),
    [
        (100, 100, Decimal(0)),
        (150, 100, Decimal(0)),
        (25, 100, Decimal("0.75")),
        (0, 100, Decimal(1)),
        (5, 0, Decimal(0)),
    ],
    ids=["at-target", "above-target", "three-quarters-out", "empty", "no-target"],
)
def test_utilisation_is_the_paid_out_share_of_the_target(
    held: int, target: int, expected: Decimal
) -> None:
    """Utilisation is 1 - held/target, kept between 0 and 1."""
    assert utilisation(held, target) == expected


def test_filled_leg_is_valued_at_its_share_of_the_notional() -> None:
    """A leg selling 4 of 10 SOL carries 40% of the USD notional and its own slippage vs the mid."""
    # 4 SOL is worth 600 USDC at the mid; quoted 597 USDC: 50 bps short.
    leg = _leg(
        "filled",
        4 * 10**9,
        597 * 10**6,
        price_impact_bps=Decimal("12.5"),
        realised_out=597 * 10**6,
        realised_slippage_bps=Decimal(0),
        chain={"fee_lamports": 10_000, "units_consumed": 42_000},
    )
    (figures,) = leg_figures(TERMS, [leg])
    assert figures.pair == "SOL/USDC" and figures.size == "1k-10k"
    assert figures.volume_usd == Decimal(600)
    assert figures.quoted_slippage_bps == Decimal(50)
    assert figures.price_impact_bps == Decimal("12.5")
    assert (figures.fee_lamports, figures.units_consumed) == (10_000, 42_000)


def test_better_than_mid_quote_has_negative_slippage() -> None:
    """A quote above the mid output reports negative quoted slippage."""
    (figures,) = leg_figures(TERMS, [_leg("filled", 10 * 10**9, 1_503 * 10**6)])
    assert figures.quoted_slippage_bps == Decimal(-20)


@pytest.mark.parametrize("status", ["failed", "cancelled", "built", "executing"])
def test_unfilled_legs_carry_no_volume_slippage_or_fee(status: str) -> None:
    """Only a filled leg moves volume, quoted slippage, price impact and fees."""
    leg = _leg(status, 10 * 10**9, 1_490 * 10**6, chain={"fee_lamports": 5_000})
    (figures,) = leg_figures(TERMS, [leg])
    assert figures.status == status
    assert (figures.volume_usd, figures.quoted_slippage_bps, figures.price_impact_bps) == (
        None,
        None,
        None,
    )
    assert figures.fee_lamports is None


def test_without_terms_only_venue_and_status_are_known() -> None:
    """An outcome read back from SQL (no terms) is labelled unknown, never guessed."""
    (figures,) = leg_figures(None, [_leg("filled", 10 * 10**9, 1_490 * 10**6)])
    assert (figures.pair, figures.size, figures.volume_usd) == ("unknown", "unknown", None)
    assert figures.quoted_slippage_bps is None


def test_terms_without_a_mid_leave_quoted_slippage_unknown() -> None:
    """Terms rebuilt from SQL have no reference output: quoted slippage stays None."""
    rebuilt = TradeTerms(SOL, USDC, 10 * 10**9, 1_480 * 10**6, 50, Decimal(1_500), 0)
    (figures,) = leg_figures(rebuilt, [_leg("filled", 10 * 10**9, 1_490 * 10**6)])
    assert figures.volume_usd == Decimal(1_500)
    assert figures.quoted_slippage_bps is None


def test_pair_label_is_sold_then_bought() -> None:
    """The pair label names the sold token first."""
    reverse = TradeTerms(USDC, SOL, 10**6, 1, 50, Decimal(1), 1)
    assert (pair_label(TERMS), pair_label(reverse)) == ("SOL/USDC", "USDC/SOL")
