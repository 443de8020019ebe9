"""JupiterVenue: quotes for the router, misses by kind, and verified swaps for the executor."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.net import TokenBucket
from agent.venues.base import LegFailed
from agent.venues.jupiter import JupiterClient
from agent.venues.jupiter.venue import JupiterVenue, SwapOrder, SwapSettings, swap_slippage_bps
from onchain.cluster import Blockhash
from onchain.transactions import MAX_TRANSACTION_SIZE
from tests.support import jupiter_tamper as tamper
from tests.support.fake_jupiter import SOL, USDC, FakeJupiter, Fault
from tests.support.jupiter_client import FakeClock

MakeClient = Callable[..., JupiterClient]
WALLET = str(Keypair.from_seed(bytes(range(32))).pubkey())
FALLBACK = Blockhash(Hash.new_unique(), 1_000)
NOW = 1_800_000_000.0


def request(amount: int = 10**9, *, min_out: int = 0, slippage_bps: int = 50) -> QuoteRequest:
    return QuoteRequest(SOL, USDC, amount, min_out, slippage_bps, taker=WALLET, not_after=NOW + 60)


def order(quote: Quote, *, min_out: int | None = None, slippage_bps: int = 50) -> SwapOrder:
    return SwapOrder(
        WALLET, SOL, USDC, quote.amount_in,
        quote.guaranteed_out if min_out is None else min_out, slippage_bps,
    )  # fmt: skip


def venue_for(
    client: JupiterClient, **settings: object
) -> tuple[JupiterVenue, list[str], list[str]]:
    errors: list[str] = []
    refusals: list[str] = []
    venue = JupiterVenue(
        client,
        SwapSettings(**settings),  # type: ignore[arg-type]
        on_error=errors.append,
        on_refusal=refusals.append,
        clock=lambda: NOW,
    )
    return venue, errors, refusals


async def one_quote(venue: JupiterVenue, req: QuoteRequest | None = None) -> Quote:
    (answer,) = await venue.quote(req or request(), NOW)
    assert isinstance(answer, Quote), answer
    return answer


async def test_quote_maps_jupiter_fields(make_client: MakeClient) -> None:
    """A quote carries outAmount as expected, otherAmountThreshold as guaranteed, impact in bps."""
    venue, _, _ = venue_for(make_client(), quote_ttl_s=15.0)
    quote = await one_quote(venue)
    assert (quote.venue, quote.amount_in, quote.firm, quote.signatures) == (
        "jupiter",
        10**9,
        False,
        1,
    )
    assert quote.guaranteed_out == quote.expected_out * 9_950 // 10_000
    assert quote.expires_at == NOW + 15.0 and quote.details["route"] == "Meteora DLMM"
    assert Decimal(0) < quote.price_impact_bps < Decimal(1)


async def test_bigger_orders_get_worse_prices(make_client: MakeClient) -> None:
    """The fake's impact model reaches the router: price per unit falls with size."""
    venue, _, _ = venue_for(make_client())
    small, large = await one_quote(venue, request(10**9)), await one_quote(venue, request(10**14))
    assert small.expected_out / small.amount_in > large.expected_out / large.amount_in
    assert large.price_impact_bps > small.price_impact_bps


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault("429"), "rate_limited"),
        (Fault("401"), "unauthorised"),
        (Fault("403"), "unauthorised"),
        (Fault("html"), "unavailable"),
        (Fault("truncated"), "bad_payload"),
    ],
)
async def test_errors_become_misses_by_kind(
    make_client: MakeClient, fake: FakeJupiter, fault: Fault, kind: str
) -> None:
    """Each failure is a quote miss named by its kind, and counted."""
    fake.plan(fault, fault, fault)
    venue, errors, _ = venue_for(make_client())
    (miss,) = await venue.quote(request(), NOW)
    assert isinstance(miss, QuoteMiss) and (miss.venue, miss.reason) == ("jupiter", kind)
    assert errors == [kind]


async def test_unknown_pair_is_no_route(make_client: MakeClient) -> None:
    """A pair Jupiter cannot route is a no_route miss, not an error of the agent."""
    venue, _, _ = venue_for(make_client())
    other = QuoteRequest(SOL, "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU", 10**9, 0, 50)
    (miss,) = await venue.quote(other, NOW)
    assert isinstance(miss, QuoteMiss) and miss.reason == "no_route"


UNROUTABLE = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"


async def test_a_pair_without_route_is_not_asked_again_at_that_size_or_more(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """After no_route at some size, larger requests of the pair are no_route without a request
    until no_route_ttl_s passes; smaller ones are still asked."""
    venue, _, _ = venue_for(make_client(), no_route_ttl_s=30.0)

    async def ask(amount: int, at: float) -> QuoteMiss:
        (miss,) = await venue.quote(QuoteRequest(SOL, UNROUTABLE, amount, 0, 50), at)
        assert isinstance(miss, QuoteMiss) and miss.reason == "no_route"
        return miss

    await ask(10**9, NOW)
    assert len(fake.requests) == 1
    remembered = await ask(5 * 10**9, NOW + 10)
    assert "not asked again" in remembered.detail and len(fake.requests) == 1
    await ask(10**8, NOW + 10)  # smaller than what failed: asked
    assert len(fake.requests) == 2
    await ask(10**9, NOW + 20)  # the smallest failure (10**8) now covers it
    assert len(fake.requests) == 2
    await ask(10**9, NOW + 41)  # learned at NOW, 30 s ago or more: asked again
    assert len(fake.requests) == 3


def _limited_liquidity(fake: FakeJupiter, *, dust_below: int, none_above: int) -> None:
    """SOL/USDC refuses dust with a threshold error and large sizes with no route."""
    quote = fake._quote

    def limited(q: dict[str, str]) -> tuple[int, Any]:
        amount = int(q["amount"])
        if amount < dust_below:
            return 400, {"error": "dust", "errorCode": "CANNOT_COMPUTE_OTHER_AMOUNT_THRESHOLD"}
        if amount > none_above:
            return 400, {"error": "No routes found", "errorCode": "NO_ROUTES_FOUND"}
        return quote(q)

    fake._quote = limited  # type: ignore[method-assign]


async def test_a_dust_refusal_says_nothing_about_larger_sizes(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """A threshold error on a dust amount is not remembered: the next, larger size is asked."""
    _limited_liquidity(fake, dust_below=1_000, none_above=10**15)
    venue, _, _ = venue_for(make_client(), no_route_ttl_s=30.0)
    (miss,) = await venue.quote(request(500), NOW)
    assert isinstance(miss, QuoteMiss) and miss.reason == "no_route"
    await one_quote(venue, request(10**9))
    assert len(fake.requests) == 2


async def test_a_route_found_forgets_what_was_learned_about_the_pair(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """After a smaller size of the pair routes, a size that had no route is asked again."""
    _limited_liquidity(fake, dust_below=1, none_above=10**12)
    venue, _, _ = venue_for(make_client(), no_route_ttl_s=30.0)
    (miss,) = await venue.quote(request(10**13), NOW)
    assert isinstance(miss, QuoteMiss) and miss.reason == "no_route"
    await one_quote(venue, request(10**9))
    await venue.quote(request(10**13), NOW + 1)
    assert len(fake.requests) == 3


async def test_no_route_memory_can_be_switched_off(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """With no_route_ttl_s = 0 every quote is asked."""
    venue, _, _ = venue_for(make_client(), no_route_ttl_s=0.0)
    for _ in range(3):
        await venue.quote(QuoteRequest(SOL, UNROUTABLE, 10**9, 0, 50), NOW)
    assert len(fake.requests) == 3


async def test_unauthorised_switches_the_venue_off(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """After a 401 no further request is sent: every later quote is an unauthorised miss."""
    fake.plan("401")
    venue, _, _ = venue_for(make_client())
    await venue.quote(request(), NOW)
    (miss,) = await venue.quote(request(), NOW)
    assert isinstance(miss, QuoteMiss) and miss.reason == "unauthorised"
    assert len(fake.requests) == 1 and not venue.up


async def test_no_budget_means_sitting_the_intent_out(
    make_client: MakeClient, clock: FakeClock, fake: FakeJupiter
) -> None:
    """With no request budget within max_budget_wait_s, the venue answers budget_exhausted at once."""
    limiter = TokenBucket(0.5, burst=1, clock=clock, wall_clock=clock.wall, sleep=clock.sleep)
    venue, errors, _ = venue_for(make_client(limiter=limiter), max_budget_wait_s=0.5)
    await one_quote(venue)
    (miss,) = await venue.quote(request(), NOW)
    assert isinstance(miss, QuoteMiss) and miss.reason == "budget_exhausted"
    assert errors == ["budget_exhausted"] and len(fake.requests) == 1


async def test_answer_for_another_trade_is_refused(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """A quote whose amount differs from the one asked is a bad_payload miss."""
    fake.quote_tamper = lambda doc: doc | {"inAmount": "1"}
    venue, _, _ = venue_for(make_client())
    (miss,) = await venue.quote(request(), NOW)
    assert isinstance(miss, QuoteMiss) and miss.reason == "bad_payload"


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_honest_swap_is_built_and_verified(
    make_client: MakeClient, fake: FakeJupiter, api: str
) -> None:
    """An honest answer compiles to a v0 message paid and signed by the wallet alone."""
    venue, _, refusals = venue_for(make_client(api=api))
    quote = await one_quote(venue)
    built = await venue.build_swap(quote, order(quote), FALLBACK)
    message = built.message
    assert str(message.account_keys[0]) == WALLET and message.header.num_required_signatures == 1
    assert built.verified.swap.in_amount == quote.amount_in and refusals == []
    assert built.size <= MAX_TRANSACTION_SIZE
    unsigned = VersionedTransaction.populate(message, [Keypair().sign_message(b"")])
    assert len(bytes(unsigned)) == built.size
    # v2 built the quote and the instructions in one request; v1 needs a second one.
    assert len(fake.requests) == (1 if api == "v2" else 2)


ADVERSARIAL = [
    pytest.param(tamper.extra_transfer_to_stranger, "foreign_transfer", id="transfer to stranger"),
    pytest.param(tamper.changed_in_amount, "in_amount", id="changed in_amount"),
    pytest.param(tamper.lowered_quoted_out, "quoted_out", id="lowered quoted_out"),
    pytest.param(tamper.raised_slippage, "slippage", id="raised slippage"),
    pytest.param(tamper.foreign_signer, "foreign_signer", id="foreign signer"),
    pytest.param(tamper.unknown_program, "program_not_allowed", id="unknown program"),
    pytest.param(tamper.approve_to_stranger, "foreign_approve", id="approve to stranger"),
    pytest.param(tamper.oversized_compute_price, "compute_price", id="compute price"),
    pytest.param(tamper.destination_owned_by_stranger, "destination_account", id="destination"),
]


@pytest.mark.parametrize(("forge", "check"), ADVERSARIAL)
async def test_forged_swaps_are_refused_before_signing(
    make_client: MakeClient, fake: FakeJupiter, forge: Callable[..., object], check: str
) -> None:
    """Each forged answer fails the leg with transaction_refused, its check named and counted."""
    fake.tamper = forge  # type: ignore[assignment]
    venue, _, refusals = venue_for(make_client())
    quote = await one_quote(venue)
    with pytest.raises(LegFailed) as failed:
        await venue.build_swap(quote, order(quote), FALLBACK)
    assert failed.value.reason is Reason.TRANSACTION_REFUSED
    assert failed.value.detail.startswith(f"{check}:") and refusals == [check]


async def test_slippage_above_the_intent_is_refused(make_client: MakeClient) -> None:
    """A swap whose slippage exceeds the intent's maximum is refused even if Jupiter quoted it."""
    venue, _, refusals = venue_for(make_client())
    quote = await one_quote(venue, request(slippage_bps=300))
    with pytest.raises(LegFailed) as failed:
        await venue.build_swap(quote, order(quote, slippage_bps=100), FALLBACK)
    assert failed.value.reason is Reason.TRANSACTION_REFUSED and refusals == ["slippage"]


async def test_min_out_above_the_threshold_is_refused(make_client: MakeClient) -> None:
    """A leg whose guaranteed output is below its share of min_out is never signed."""
    venue, _, refusals = venue_for(make_client())
    quote = await one_quote(venue)
    with pytest.raises(LegFailed):
        await venue.build_swap(quote, order(quote, min_out=quote.guaranteed_out + 1), FALLBACK)
    assert refusals == ["quoted_out"]


async def test_oversized_transaction_is_requoted_with_fewer_accounts(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """Over 1,232 bytes, the venue re-quotes with half the maxAccounts and builds that."""
    fake.remaining_accounts = lambda max_accounts: 70 if max_accounts >= 64 else 8
    venue, _, _ = venue_for(make_client(), max_accounts=64)
    quote = await one_quote(venue)
    built = await venue.build_swap(quote, order(quote), FALLBACK)
    asked = [r.query.get("maxAccounts") for r in fake.requests if r.path.endswith("/quote")]
    assert asked == ["64", "32"] and built.size <= MAX_TRANSACTION_SIZE


async def test_unavailable_instructions_fail_the_leg(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """Jupiter down between quote and build fails the leg with venue_unavailable."""
    venue, _, _ = venue_for(make_client())
    quote = await one_quote(venue)
    fake.plan("503", "503", "503")
    with pytest.raises(LegFailed) as failed:
        await venue.build_swap(quote, order(quote), FALLBACK)
    assert failed.value.reason is Reason.VENUE_UNAVAILABLE


async def test_devnet_mints_are_quoted_as_mainnet(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """Off mainnet, each token is quoted under its mainnet mint; unmapped tokens are no_route."""
    devnet_usdc = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
    venue = JupiterVenue(
        make_client(),
        SwapSettings(),
        mainnet_mints={SOL: SOL, devnet_usdc: USDC},
        clock=lambda: NOW,
    )
    (quote,) = await venue.quote(QuoteRequest(SOL, devnet_usdc, 10**9, 0, 50), NOW)
    assert isinstance(quote, Quote) and fake.requests[0].query["outputMint"] == USDC
    (miss,) = await venue.quote(QuoteRequest(SOL, str(Keypair().pubkey()), 10**9, 0, 50), NOW)
    assert isinstance(miss, QuoteMiss) and miss.reason == "no_route"


@pytest.mark.parametrize(
    ("expected", "min_out", "requested", "slippage"),
    [
        (10_000, 0, 50, 50),  # min_out far below: the requested tolerance stands
        (10_000, 9_990, 50, 10),  # tightened so the threshold is exactly min_out
        (10_000, 9_991, 50, 9),  # floor: the threshold may exceed min_out, never fall short
        (10_000, 10_000, 50, 0),  # no room at all
        (10_000, 10_001, 50, 50),  # below min_out: left for the router to rank as such
        (0, 0, 50, 50),
    ],
)
def test_swap_slippage_never_lets_the_threshold_fall_below_min_out(
    expected: int, min_out: int, requested: int, slippage: int
) -> None:
    """The swap's tolerance is the requested one, tightened to keep its threshold at min_out or above."""
    assert swap_slippage_bps(expected, min_out, requested) == slippage
    if expected >= min_out and expected:
        assert expected * (10_000 - slippage) // 10_000 >= min_out


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_leg_is_held_to_min_out_not_the_intent_tolerance(
    make_client: MakeClient, fake: FakeJupiter, api: str
) -> None:
    """With min_out above Jupiter's threshold, the swap is built at the tighter slippage (v2: no extra request)."""
    venue, _, _ = venue_for(make_client(api=api))
    probe = await one_quote(venue)
    fake.requests.clear()
    min_out = probe.expected_out * 9_980 // 10_000  # 20 bps under expected; the intent allows 50
    quote = await one_quote(venue, request(min_out=min_out))
    assert quote.guaranteed_out >= min_out and quote.details["slippage_bps"] == "20"
    built = await venue.build_swap(quote, order(quote, min_out=min_out), FALLBACK)
    assert built.verified.swap.slippage_bps == 20 and built.quote.guaranteed_out >= min_out
    assert len(fake.requests) == (1 if api == "v2" else 2)


async def test_curve_is_the_quote_at_full_size_and_close_elsewhere(make_client: MakeClient) -> None:
    """The estimated curve gives Jupiter's quote at the full amount and stays within 1 bp of the
    (constant-product) fake at other sizes, from one quote's impact."""
    venue, _, _ = venue_for(make_client())
    full = QuoteRequest(SOL, USDC, 5_000 * 10**9, 0, 50)
    quote = await one_quote(venue, full)
    (curve,) = await venue.curves(full, [quote], NOW)
    assert curve.outputs(full.amount) == (quote.expected_out, quote.expected_out)
    for size in (10**9, 50 * 10**9, 700 * 10**9, 2_400 * 10**9):
        real = await one_quote(venue, QuoteRequest(SOL, USDC, size, 0, 50))
        estimate = curve.outputs(size)
        assert estimate is not None
        assert abs(estimate[0] - real.expected_out) * 10_000 <= real.expected_out


async def test_lookup_table_contents_from_the_api_are_never_used(make_client: MakeClient) -> None:
    """/build's table contents are ignored: without a trusted RPC the swap compiles without tables."""
    venue, _, _ = venue_for(make_client(api="v2"))
    quote = await one_quote(venue)
    built = await venue.build_swap(quote, order(quote), FALLBACK)
    assert list(built.message.address_table_lookups) == []


async def test_zero_output_is_a_bad_answer_not_a_crash(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    """A quote of 0 out is a bad_payload miss: it never reaches the router's impact model."""
    fake.quote_tamper = lambda doc: doc | {"outAmount": "0", "otherAmountThreshold": "0"}
    venue, _, _ = venue_for(make_client())
    (miss,) = await venue.quote(request(), NOW)
    assert isinstance(miss, QuoteMiss) and miss.reason == "bad_payload"
