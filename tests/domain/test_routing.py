"""Router v1: net output, eligibility, tie-breaking, the no-route reasons and savings."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss
from agent.domain.routing import Decision, Verdict, decide_single_venue, savings_bps

NOW = 1_000.0
COST_PER_SIGNATURE = 10  # units of the bought token per transaction signature


def quote(venue: str, expected: int, guaranteed: int | None = None, **changes: object) -> Quote:
    base = Quote(
        venue=venue, source=f"{venue}-pool", amount_in=1_000, expected_out=expected,
        guaranteed_out=expected if guaranteed is None else guaranteed, fee_bps=Decimal(0),
        price_impact_bps=Decimal(0), quoted_at=NOW, expires_at=NOW + 10, signatures=1, firm=True,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def decide(quotes: list[Quote], min_out: int = 0, misses: tuple[QuoteMiss, ...] = ()) -> Decision:
    return decide_single_venue(
        quotes,
        misses,
        min_out=min_out,
        network_cost_out=lambda q: q.signatures * COST_PER_SIGNATURE,
        now=NOW,
    )


def test_net_output_is_expected_less_network_cost() -> None:
    """Each candidate's net output is its expected output less the fill's network cost."""
    decision = decide([quote("otc", 1_000, signatures=3)])
    chosen = decision.chosen
    assert chosen is not None
    assert (chosen.network_cost_out, chosen.net_out) == (30, 970)


@pytest.mark.parametrize(
    ("candidate", "min_out", "verdict"),
    [
        pytest.param(quote("otc", 1_000), 1_000, Verdict.CHOSEN, id="exactly min_out"),
        pytest.param(
            quote("otc", 1_000, expires_at=NOW + 0.001), 0, Verdict.CHOSEN, id="expires soon"
        ),
        pytest.param(quote("otc", 1_000, expires_at=NOW), 0, Verdict.EXPIRED, id="expires now"),
        pytest.param(quote("otc", 1_000, expires_at=NOW - 1), 0, Verdict.EXPIRED, id="expired"),
        pytest.param(quote("otc", 999), 1_000, Verdict.BELOW_MIN_OUT, id="one unit short"),
        pytest.param(
            quote("localdex", 1_100, guaranteed=990),
            1_000,
            Verdict.BELOW_MIN_OUT,
            id="guarantee below min_out",
        ),
        pytest.param(
            quote("localdex", 990, guaranteed=1_000),
            1_000,
            Verdict.BELOW_MIN_OUT,
            id="expectation below min_out",
        ),
        # The network cost lowers the net output but min_out binds the venue's output.
        pytest.param(
            quote("otc", 1_000, signatures=5), 1_000, Verdict.CHOSEN, id="cost does not count"
        ),
        pytest.param(
            quote("otc", 500, expires_at=NOW - 1), 1_000, Verdict.EXPIRED, id="expiry first"
        ),
    ],
)
def test_eligibility(candidate: Quote, min_out: int, verdict: Verdict) -> None:
    """A quote is eligible when live and both its guarantee and expectation meet min_out."""
    decision = decide([candidate], min_out=min_out)
    assert [c.verdict for c in decision.candidates] == [verdict]
    assert (decision.chosen is not None) is (verdict is Verdict.CHOSEN)


@pytest.mark.parametrize(
    ("quotes", "winner"),
    [
        pytest.param(
            [quote("otc", 1_000), quote("localdex", 1_001)], "localdex", id="higher net output"
        ),
        # otc: 1_010 - 3 * 10 = 980; localdex: 1_000 - 10 = 990.
        pytest.param(
            [quote("otc", 1_010, signatures=3), quote("localdex", 1_000)],
            "localdex",
            id="network cost changes the winner",
        ),
        pytest.param(
            [quote("localdex", 1_000, guaranteed=900), quote("otc", 1_000, guaranteed=950)],
            "otc",
            id="net tie goes to the higher guarantee",
        ),
        pytest.param(
            [quote("a", 1_000, firm=False), quote("b", 1_000, firm=True)],
            "b",
            id="then to the firm quote",
        ),
        pytest.param(
            [quote("otc", 1_000), quote("jupiter", 1_000), quote("localdex", 1_000)],
            "jupiter",
            id="then to the venue name",
        ),
        pytest.param(
            [quote("otc", 1_000, source="pool-b"), quote("otc", 1_000, source="pool-a")],
            "pool-a",
            id="then to the source name",
        ),
    ],
)
def test_ranking(quotes: list[Quote], winner: str) -> None:
    """The highest net output wins; ties go to guarantee, firmness, venue, then source."""
    for order in (quotes, list(reversed(quotes))):
        chosen = decide(order).chosen
        assert chosen is not None
        assert winner in (chosen.quote.venue, chosen.quote.source)


def test_ranked_lists_eligible_candidates_best_first() -> None:
    """ranked holds every eligible quote best first; only the first is CHOSEN."""
    quotes = [quote("a", 1_000), quote("b", 1_200), quote("c", 1_100), quote("d", 500)]
    decision = decide(quotes, min_out=600)
    assert [(c.quote.venue, c.verdict) for c in decision.ranked] == [
        ("b", Verdict.CHOSEN),
        ("c", Verdict.LOWER_NET_OUTPUT),
        ("a", Verdict.LOWER_NET_OUTPUT),
    ]
    assert {c.quote.venue for c in decision.candidates} == {"a", "b", "c", "d"}


@pytest.mark.parametrize(
    ("quotes", "misses", "reason"),
    [
        pytest.param([], (), Reason.NO_ROUTE, id="no quotes"),
        pytest.param(
            [], (QuoteMiss("otc", "otc-sol-usdc", "too_small"),), Reason.NO_ROUTE, id="only misses"
        ),
        pytest.param([quote("otc", 10)], (), Reason.MIN_OUT_UNREACHABLE, id="below min_out"),
        pytest.param(
            [quote("otc", 10), quote("localdex", 2_000, guaranteed=10)],
            (),
            Reason.MIN_OUT_UNREACHABLE,
            id="none guaranteed",
        ),
        pytest.param([quote("otc", 2_000)], (), None, id="routed"),
    ],
)
def test_reason(quotes: list[Quote], misses: tuple[QuoteMiss, ...], reason: Reason | None) -> None:
    """No quotes is no_route; quotes that cannot meet min_out are min_out_unreachable."""
    decision = decide(quotes, min_out=1_000, misses=misses)
    assert decision.reason is reason
    assert decision.misses == misses


@pytest.mark.parametrize(
    ("quotes", "runner_up"),
    [
        pytest.param([quote("otc", 1_000)], None, id="alone"),
        pytest.param([quote("otc", 1_000), quote("localdex", 900)], "localdex", id="eligible"),
        pytest.param(
            [quote("otc", 1_000), quote("localdex", 900), quote("jupiter", 950)],
            "jupiter",
            id="best of the others",
        ),
        pytest.param(
            [quote("otc", 1_000), quote("localdex", 1_100, guaranteed=400)],
            None,
            id="below min_out is no alternative",
        ),
        pytest.param(
            [quote("otc", 1_000), quote("localdex", 1_100, guaranteed=400), quote("jupiter", 800)],
            "jupiter",
            id="the best that could fill",
        ),
        pytest.param(
            [quote("otc", 1_000), quote("localdex", 1_100, expires_at=NOW)],
            None,
            id="expired does not count",
        ),
        pytest.param([quote("otc", 400), quote("localdex", 300)], None, id="nothing could fill"),
    ],
)
def test_runner_up(quotes: list[Quote], runner_up: str | None) -> None:
    """The runner-up is the best other quote that could have filled: valid and meeting min_out."""
    candidate = decide(quotes, min_out=500).runner_up
    assert (candidate.quote.venue if candidate else None) == runner_up


@pytest.mark.parametrize(
    ("chosen", "baseline", "expected"),
    [
        pytest.param(1_010, 1_000, Decimal("100.00"), id="1 percent better"),
        pytest.param(1_000, 1_000, Decimal("0.00"), id="equal"),
        pytest.param(990, 1_000, Decimal("-100.00"), id="worse"),
        pytest.param(1_000_001, 1_000_000, Decimal("0.01"), id="one hundredth of a bp"),
        # 1 / 3 * 10_000 = 3333.333... -> 3333.33; 2 / 3 -> 6666.67 (half-even at 2 places).
        pytest.param(4, 3, Decimal("3333.33"), id="thirds round"),
        pytest.param(5, 3, Decimal("6666.67"), id="two thirds round"),
        pytest.param(5, 0, Decimal(0), id="zero baseline"),
        pytest.param(5, -10, Decimal(0), id="negative baseline"),
    ],
)
def test_savings_bps(chosen: int, baseline: int, expected: Decimal) -> None:
    """Savings are basis points of the baseline to two places, 0 without a positive baseline."""
    assert savings_bps(chosen, baseline) == expected
