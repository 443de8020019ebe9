"""The process-wide token bucket: budget arithmetic, header feedback, real concurrency."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from agent.net import BudgetExhausted, CircuitBreaker, RateLimited, TokenBucket
from agent.venues.jupiter import JupiterClient
from tests.support.fake_jupiter import SOL, USDC, FakeJupiter
from tests.support.jupiter_client import FakeClock


def _bucket(clock: FakeClock, rate: float = 0.5, burst: int = 1) -> TokenBucket:
    return TokenBucket(rate, burst, clock, wall_clock=clock.wall, sleep=clock.sleep)


@pytest.mark.parametrize(
    ("rate", "burst", "expected"),
    [(0.5, 1, [0.0, 2.0]), (1.0, 1, [0.0, 1.0]), (1.0, 3, [0.0, 0.0, 0.0, 1.0])],
    ids=["keyless", "free-key", "burst-3"],
)
def test_try_acquire_waits(rate: float, burst: int, expected: list[float]) -> None:
    """try_acquire grants ``burst`` slots at once, then reports the wait without taking."""
    bucket = _bucket(FakeClock(), rate, burst)
    got = [bucket.try_acquire() for _ in expected]
    assert got == pytest.approx(expected)
    assert bucket.granted == len(expected) - 1
    assert bucket.try_acquire() == pytest.approx(expected[-1])


async def test_acquire_sleeps_until_slot() -> None:
    """acquire reserves the next slot and sleeps exactly until it."""
    clock = FakeClock()
    bucket = _bucket(clock, rate=0.5)
    assert await bucket.acquire() == 0.0
    assert await bucket.acquire(max_wait_s=5.0) == pytest.approx(2.0)
    assert clock.sleeps == [pytest.approx(2.0)]


@pytest.mark.parametrize(
    ("rate", "burst", "grants", "advance_s", "available"),
    [
        (1.0, 1, 0, 0.0, 1),
        (1.0, 1, 1, 0.0, 0),
        (1.0, 1, 1, 1.0, 1),
        (1.0, 3, 0, 0.0, 3),
        (1.0, 3, 2, 0.0, 1),
        (1.0, 3, 3, 0.0, 0),
        (1.0, 3, 3, 2.5, 2),
        (0.5, 1, 1, 1.0, 0),
        (10.0, 4, 0, 0.0, 4),
        (5.0, 4, 4, 0.2, 1),
        (5.0, 4, 4, 0.6, 3),
    ],
)
def test_available_counts_requests_grantable_now(
    rate: float, burst: int, grants: int, advance_s: float, available: int
) -> None:
    """available() is what the bucket would grant back to back now, between 0 and the burst."""
    clock = FakeClock()
    bucket = _bucket(clock, rate, burst)
    for _ in range(grants):
        assert bucket.try_acquire() == 0.0
    clock.now += advance_s
    assert bucket.available() == available


async def test_acquire_counts_only_the_requests_that_waited() -> None:
    """waits and waited_s count the acquires that slept for their slot, with the time slept."""
    clock = FakeClock()
    bucket = _bucket(clock, rate=0.5)
    await bucket.acquire()
    await bucket.acquire()
    await bucket.acquire()
    assert (bucket.waits, bucket.waited_s) == (2, pytest.approx(4.0))


@pytest.mark.parametrize(("max_wait", "raises"), [(0.0, True), (1.99, True), (2.0, False)])
async def test_budget_exhausted_beyond_deadline(max_wait: float, raises: bool) -> None:
    """acquire raises BudgetExhausted (reserving nothing) when the wait exceeds max_wait_s."""
    clock = FakeClock()
    bucket = _bucket(clock, rate=0.5)
    await bucket.acquire()
    if raises:
        with pytest.raises(BudgetExhausted) as info:
            await bucket.acquire(max_wait_s=max_wait)
        assert info.value.wait_s == pytest.approx(2.0)
        assert bucket.granted == 1
    else:
        await bucket.acquire(max_wait_s=max_wait)
        assert bucket.granted == 2


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-ratelimit-remaining": "5", "x-ratelimit-reset": "+30"}, 0.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "+30"}, 30.0),
        ({"x-ratelimit-remaining": "-3", "x-ratelimit-reset": "+12"}, 12.0),
        ({"x-ratelimit-remaining": "0"}, 0.0),
        ({"x-ratelimit-remaining": "zero", "x-ratelimit-reset": "+30"}, 0.0),
    ],
    ids=["budget-left", "depleted", "negative", "no-reset", "garbage"],
)
def test_observe_headers_tightens(headers: dict[str, str], wait: float) -> None:
    """A depleted x-ratelimit-remaining holds every slot until x-ratelimit-reset."""
    clock = FakeClock()
    bucket = _bucket(clock, rate=10.0)
    resolved = {
        k: (str(clock.wall() + float(v)) if v.startswith("+") else v) for k, v in headers.items()
    }
    bucket.observe_headers(httpx.Headers(resolved))
    assert bucket.next_slot_in() == pytest.approx(wait, abs=1e-3)


@pytest.mark.parametrize(
    ("retry_after", "wait"), [(3.0, 3.0), (None, 4.0)], ids=["hint", "no-hint"]
)
def test_penalise_after_429(retry_after: float | None, wait: float) -> None:
    """A 429 pauses the budget for its hint, or two slot intervals without one."""
    bucket = _bucket(FakeClock(), rate=0.5)
    bucket.penalise(retry_after)
    assert bucket.next_slot_in() == pytest.approx(wait)


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max(sum(1 for t in stamps[i:] if t - s < window) for i, s in enumerate(stamps))


async def _client(
    fake: FakeJupiter, http: httpx.AsyncClient, limiter: TokenBucket
) -> JupiterClient:
    return JupiterClient(fake.base_url, http=http, limiter=limiter, breaker=CircuitBreaker())


class _RecordingBucket(TokenBucket):
    """The production bucket, noting the monotonic time of every slot it grants."""

    def __init__(self, rate: float, burst: int) -> None:
        super().__init__(rate, burst)
        self.grants: list[float] = []

    async def acquire(self, max_wait_s: float = float("inf")) -> float:
        asked = time.monotonic()
        waited = await super().acquire(max_wait_s)
        # The slot itself (asked + planned wait), not the moment the task woke up.
        self.grants.append(asked + waited)
        return waited


async def test_never_exceeds_budget_under_concurrency(fake: FakeJupiter) -> None:
    """50 concurrent quotes through one bucket are granted no faster than burst + rate × window."""
    rate, burst = 25.0, 2
    limiter = _RecordingBucket(rate, burst)
    async with httpx.AsyncClient(timeout=5.0, limits=httpx.Limits(max_connections=100)) as http:
        client = await _client(fake, http, limiter)
        await asyncio.gather(
            *(client.quote(SOL, USDC, 10**9, 50, max_wait_s=10.0) for _ in range(50))
        )
    assert len(fake.requests) == 50 and len(limiter.grants) == 50
    # Slots are what the limiter controls; arrivals at the server can bunch up after a pause
    # of the test process (a garbage collection), which no client-side limiter can prevent.
    for window in (0.2, 0.5, 1.0):
        # -1e-4: the clock is read a few microseconds apart by the test and the limiter.
        assert _max_in_window(limiter.grants, window - 1e-4) <= burst + rate * window
    arrivals = [r.t for r in fake.requests]
    assert arrivals[-1] - arrivals[0] >= (50 - burst) / rate - 0.05


async def test_sustained_run_sees_no_429(fake: FakeJupiter) -> None:
    """Just under the server's sliding-window limit, a sustained run never gets a 429."""
    fake.limit, fake.window_s = 10, 1.0
    # 10 % under the limit: about 110 ms of slack per window for the event loop's jitter
    # between a slot's grant and the request's arrival on a loaded two-core host.
    limiter = TokenBucket(9.0, burst=1)
    async with httpx.AsyncClient(timeout=5.0) as http:
        client = await _client(fake, http, limiter)
        results = await asyncio.gather(
            *(client.quote(SOL, USDC, 10**9, 50, max_wait_s=10.0) for _ in range(25)),
            return_exceptions=True,
        )
    assert not [r for r in results if isinstance(r, RateLimited | Exception)]
    assert [r.status for r in fake.requests] == [200] * 25


async def test_depleted_headers_stop_requests_before_429(fake: FakeJupiter) -> None:
    """When x-ratelimit-remaining hits 0 the next request is refused locally, not sent."""
    fake.limit, fake.window_s = 3, 60.0
    limiter = TokenBucket(1000.0, burst=1000)
    async with httpx.AsyncClient(timeout=5.0) as http:
        client = await _client(fake, http, limiter)
        for _ in range(3):
            await client.quote(SOL, USDC, 10**9, 50)
        with pytest.raises(BudgetExhausted) as info:
            await client.quote(SOL, USDC, 10**9, 50)
        raw = await http.get(
            f"{fake.base_url}/quote", params={"inputMint": SOL, "outputMint": USDC, "amount": "1"}
        )
    assert info.value.wait_s > 50
    assert len(fake.requests) == 4 and raw.status_code == 429  # control: the fake does enforce it
