"""JupiterClient against the fake Jupiter on loopback."""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from solders.instruction import Instruction as SoldersInstruction

from agent.net import (
    BadPayload,
    BudgetExhausted,
    CircuitBreaker,
    CircuitOpen,
    RateLimited,
    RetryPolicy,
    TokenBucket,
)
from agent.venues.jupiter import (
    JupiterClient,
    NoRoute,
    Unauthorised,
    Unavailable,
)
from tests.support.fake_jupiter import SOL, USDC, FakeJupiter, Fault, swap_instructions_doc
from tests.support.jupiter_client import FakeClock

USER = "jdocuPgEAjMfihABsPgKEvYtsmMzjUHeq9LX4Hvs7f3"
UNKNOWN = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
MakeClient = Callable[..., JupiterClient]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jupiter"


async def test_quote_size_dependence(make_client: MakeClient) -> None:
    """Bigger amounts get a worse price and a higher priceImpactPct."""
    client = make_client()
    quotes = [
        await client.quote(SOL, USDC, amount, 50) for amount in (10**8, 10**12, 10**14, 10**15)
    ]
    prices = [q.out_amount / q.in_amount for q in quotes]
    impacts = [q.price_impact_pct for q in quotes]
    assert prices == sorted(prices, reverse=True) and len(set(prices)) == 4
    assert impacts == sorted(impacts) and len(set(impacts)) == 4
    assert all(q.other_amount_threshold == q.out_amount * 9950 // 10000 for q in quotes)
    assert quotes[0].extra == {"feeCharged": str(10**8 * 30 // 10000)}


async def test_quote_query_parameters(make_client: MakeClient, fake: FakeJupiter) -> None:
    """The documented query parameters are sent with string values."""
    await make_client().quote(
        SOL, USDC, 5, 75, max_accounts=20, only_direct_routes=True, instruction_version="V2"
    )
    assert fake.requests[0].query == {
        "inputMint": SOL, "outputMint": USDC, "amount": "5", "slippageBps": "75", "swapMode": "ExactIn",
        "onlyDirectRoutes": "true", "instructionVersion": "V2", "maxAccounts": "20",
    }  # fmt: skip


async def test_unknown_pair_is_no_route(make_client: MakeClient, fake: FakeJupiter) -> None:
    """An unknown pair raises NoRoute(NO_ROUTES_FOUND) without retrying."""
    with pytest.raises(NoRoute) as info:
        await make_client().quote(SOL, UNKNOWN, 10**9, 50)
    assert info.value.code == "NO_ROUTES_FOUND" and len(fake.requests) == 1


async def test_swap_instructions_round_trip(make_client: MakeClient, fake: FakeJupiter) -> None:
    """The quote is posted back verbatim and the answer converts to solders Instructions."""
    client = make_client()
    quote = await client.quote(SOL, USDC, 10**8, 50)
    si = await client.swap_instructions(quote, USER, compute_unit_price_micro_lamports=25_715)
    posted = json.loads(fake.requests[1].body)
    assert posted["quoteResponse"] == json.loads(json.dumps(quote.raw))
    assert posted["userPublicKey"] == USER and posted["computeUnitPriceMicroLamports"] == 25_715
    ixs = si.to_solders()
    assert all(isinstance(ix, SoldersInstruction) for ix in ixs)
    data = si.swap_instruction.data
    assert data[:8] == bytes.fromhex("c1209b3341d69c81")
    assert struct.unpack_from("<QQH", data, 17) == (quote.in_amount, quote.out_amount, 50)


def test_fake_encoding_matches_reference_example() -> None:
    """For the reference example's user and quote, the fake serves the example's instructions."""
    example = json.loads((FIXTURES / "swap_instructions_example.json").read_text())
    quote = {
        "inputMint": SOL, "outputMint": USDC, "inAmount": "100000000", "outAmount": "16198753",
        "slippageBps": 50, "platformFee": None,
        "routePlan": [{"swapInfo": {"ammKey": "5BKxfWMbmYBAEWvyPZS9esPducUba9GqyMjtLCfbaqyF"}}],
    }  # fmt: skip
    doc = swap_instructions_doc(
        quote, USER, v2=False, compute_unit_limit=388_876, compute_unit_price=25_715
    )
    assert doc["swapInstruction"]["data"] == "wSCbM0HWnIEAAQAAACZkAAEA4fUFAAAAAGEs9wAAAAAAMgAA"
    keys = ["computeBudgetInstructions", "setupInstructions", "swapInstruction",
            "cleanupInstruction", "otherInstructions", "addressLookupTableAddresses"]  # fmt: skip
    assert {k: doc[k] for k in keys} == {k: example[k] for k in keys}


async def test_fee_options_are_exclusive(make_client: MakeClient, fake: FakeJupiter) -> None:
    """Compute unit price and prioritization fee together are refused before any request."""
    client = make_client()
    quote = await client.quote(SOL, USDC, 10**8, 50)
    with pytest.raises(ValueError, match="mutually exclusive"):
        await client.swap_instructions(
            quote, USER, compute_unit_price_micro_lamports=1, prioritization_fee_lamports="auto"
        )
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("api_key", "sent"), [("", None), ("sekret-key-123", "sekret-key-123")])
async def test_api_key_header(
    make_client: MakeClient, fake: FakeJupiter, api_key: str, sent: str | None
) -> None:
    """x-api-key is sent only when a key is configured, and never shows in repr or errors."""
    client = make_client(api_key=api_key)
    await client.quote(SOL, USDC, 10**8, 50)
    fake.plan("401")
    with structlog.testing.capture_logs() as logs, pytest.raises(Unauthorised) as info:
        await client.quote(SOL, USDC, 10**8, 50)
    assert fake.requests[0].headers.get("x-api-key") == sent
    if api_key:
        assert api_key not in repr(client) + str(info.value) + repr(info.value) + repr(logs)


@pytest.mark.parametrize(
    ("faults", "outcome", "requests", "sleeps"),
    [
        (["503"], "ok", 2, 1),
        (["html"], "ok", 2, 1),
        (["500", "500"], "ok", 3, 2),
        (["500", "500", "500"], Unavailable, 3, 2),
        ([Fault("503", retry_after=0.5)], "ok", 2, 1),
        ([Fault("503", retry_after=30)], Unavailable, 1, 0),
        (["truncated"], BadPayload, 1, 0),
        (["429"], RateLimited, 1, 0),
        (["429_reset"], RateLimited, 1, 0),
        (["401"], Unauthorised, 1, 0),
        (["403"], Unauthorised, 1, 0),
    ],
    ids=["503-retried", "html-502-retried", "two-500s", "three-500s", "retry-after-honoured",
         "retry-after-too-long", "truncated", "429", "429-reset", "401", "403"],
)  # fmt: skip
async def test_fault_handling(
    make_client: MakeClient, fake: FakeJupiter, clock: FakeClock,
    faults: list[Any], outcome: Any, requests: int, sleeps: int,
) -> None:  # fmt: skip
    """Unavailable is retried with backoff; the other errors surface at once."""
    fake.plan(*faults)
    client = make_client()
    if outcome == "ok":
        assert (await client.quote(SOL, USDC, 10**8, 50)).out_amount > 0
    else:
        with pytest.raises(outcome):
            await client.quote(SOL, USDC, 10**8, 50)
    assert len(fake.requests) == requests
    assert len(clock.sleeps) == sleeps
    if isinstance(faults[0], Fault) and faults[0].retry_after == 0.5:
        assert clock.sleeps == [0.5]
    else:
        assert all(0 <= s <= 0.1 * 2**i for i, s in enumerate(clock.sleeps))


async def test_429_with_reset_carries_it(
    make_client: MakeClient, fake: FakeJupiter, clock: FakeClock
) -> None:
    """A 429 with x-ratelimit-reset reports the time to the reset and pauses the limiter."""
    fake.plan(Fault("429_reset", reset_in=7.0))
    limiter = TokenBucket(1000.0, burst=1, clock=clock, wall_clock=clock.wall, sleep=clock.sleep)
    with pytest.raises(RateLimited) as info:
        await make_client(limiter=limiter).quote(SOL, USDC, 10**8, 50)
    assert info.value.retry_after_s == pytest.approx(7.0, abs=0.5)
    assert info.value.reset_at is not None
    assert limiter.next_slot_in() == pytest.approx(7.0, abs=0.5)


async def test_429_waited_within_deadline(
    make_client: MakeClient, fake: FakeJupiter, clock: FakeClock
) -> None:
    """A 429 whose Retry-After fits in max_wait_s is waited out by the limiter, then retried."""
    fake.plan(Fault("429", retry_after=2))
    quote = await make_client().quote(SOL, USDC, 10**8, 50, max_wait_s=3.0)
    assert quote.out_amount > 0 and len(fake.requests) == 2
    assert sum(clock.sleeps) == pytest.approx(2.0, abs=0.01)


async def test_hang_times_out(make_client: MakeClient, fake: FakeJupiter) -> None:
    """A server that never answers is Unavailable after the request timeout."""
    fake.plan("hang", "hang")
    client = make_client(timeout_s=0.2, retry=RetryPolicy(attempts=2, base_delay_s=0.0))
    with pytest.raises(Unavailable, match="timeout"):
        await client.quote(SOL, USDC, 10**8, 50)
    assert len(fake.requests) == 2


async def test_breaker_opens_and_closes(
    make_client: MakeClient, fake: FakeJupiter, clock: FakeClock
) -> None:
    """Three unavailable calls open the breaker; after the cooldown one probe closes it."""
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10.0, clock=clock)
    client = make_client(breaker=breaker, retry=RetryPolicy(attempts=1))
    fake.plan("500", "503", "html")
    for _ in range(3):
        with pytest.raises(Unavailable):
            await client.quote(SOL, USDC, 10**8, 50)
    with pytest.raises(CircuitOpen):
        await client.quote(SOL, USDC, 10**8, 50)
    assert breaker.state == "open" and len(fake.requests) == 3
    clock.now += 10
    assert breaker.state == "half_open"
    await client.quote(SOL, USDC, 10**8, 50)
    assert breaker.state == "closed" and len(fake.requests) == 4


async def test_budget_exhausted_before_sending(
    make_client: MakeClient, fake: FakeJupiter, clock: FakeClock
) -> None:
    """With no budget within max_wait_s the call raises BudgetExhausted and sends nothing."""
    limiter = TokenBucket(0.5, 1, clock, wall_clock=clock.wall, sleep=clock.sleep)
    client = make_client(limiter=limiter)
    await client.quote(SOL, USDC, 10**8, 50)
    with pytest.raises(BudgetExhausted) as info:
        await client.quote(SOL, USDC, 10**8, 50, max_wait_s=1.0)
    assert info.value.wait_s == pytest.approx(2.0) and len(fake.requests) == 1
    await client.quote(SOL, USDC, 10**8, 50, max_wait_s=2.0)
    assert len(fake.requests) == 2 and clock.sleeps == [pytest.approx(2.0)]


@pytest.mark.parametrize(("api", "requests", "paths"), [
    ("v1", 2, ["/swap/v1/quote", "/swap/v1/swap-instructions"]),
    ("v2", 1, ["/swap/v2/build"]),
])  # fmt: skip
async def test_swap_plan_by_api(
    make_client: MakeClient, fake: FakeJupiter, api: str, requests: int, paths: list[str]
) -> None:
    """v2 (/build) gets quote and instructions in one request; v1 needs two."""
    plan = await make_client(api=api).swap_plan(SOL, USDC, 10**8, USER, 50)
    assert plan.requests == requests and [r.path for r in fake.requests] == paths
    assert plan.quote.out_amount > 0 and plan.quote.in_amount == 10**8
    assert len(plan.instructions.to_solders()) == 8
    if api == "v2":
        assert fake.requests[0].query["taker"] == USER
        assert plan.blockhash == bytes(range(32)) and plan.lookup_tables
        assert plan.instructions.swap_instruction.data[:8] == bytes.fromhex("d19853937cfed8e9")
        assert plan.quote.route_plan[0].bps == 10_000


def test_retry_delay_is_jittered_under_the_cap() -> None:
    """Backoff is jittered in the upper half of base × 2^(n-1) capped at max; Retry-After wins."""
    retry, rng = RetryPolicy(attempts=5, base_delay_s=0.5, max_delay_s=2.0), random.Random(1)
    for attempt in range(1, 6):
        cap = min(2.0, 0.5 * 2 ** (attempt - 1))
        assert all(cap / 2 <= retry.delay_s(attempt - 1, None, rng) <= cap for _ in range(50))
    assert retry.delay_s(0, 1.25, rng) == 1.25
