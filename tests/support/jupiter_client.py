"""Fixtures of the Jupiter client tests (net and venue alike): a fake Jupiter, a fake clock, a client factory."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from agent.net import CircuitBreaker, RetryPolicy, TokenBucket
from agent.venues.jupiter import JupiterClient
from tests.support.fake_jupiter import SOL, USDC, FakeJupiter

# 1,000,000 SOL against 170.57M USDC: the reference example's price, ~0.0001 impact at 0.1 SOL.
SOL_RESERVE = 1_000_000 * 10**9
USDC_RESERVE = 170_574_600 * 10**6


class FakeClock:
    """Monotonic and wall time (real wall time at start) that only move when a test (or a fake sleep) moves them."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.start = start
        self.now = start
        self._wall0 = time.time()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self._wall0 + (self.now - self.start)  # the fake server stamps real wall time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(name="fake")
async def _fake() -> AsyncIterator[FakeJupiter]:
    server = FakeJupiter()
    server.add_pair(SOL, USDC, SOL_RESERVE, USDC_RESERVE)
    await server.start()
    try:
        yield server
    finally:
        await server.aclose()


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="make_client")
async def _make_client(
    fake: FakeJupiter, clock: FakeClock
) -> AsyncIterator[Callable[..., JupiterClient]]:
    """Build clients against the fake server; by default on the fake clock, with no waiting
    for budget (a generous limiter) and fast retries."""
    async with httpx.AsyncClient(timeout=2.0) as http:

        def create(**overrides: Any) -> JupiterClient:
            kwargs: dict[str, Any] = {
                "http": http,
                "limiter": TokenBucket(
                    1000.0, burst=1000, clock=clock, wall_clock=clock.wall, sleep=clock.sleep
                ),
                "breaker": CircuitBreaker(failure_threshold=3, cooldown_s=10.0, clock=clock),
                "retry": RetryPolicy(attempts=3, base_delay_s=0.1, max_delay_s=1.0),
                "clock": clock,
                "wall_clock": clock.wall,
                "sleep": clock.sleep,
                "rng": random.Random(7),
            }
            kwargs.update(overrides)
            return JupiterClient(kwargs.pop("base_url", fake.base_url), **kwargs)

        yield create
