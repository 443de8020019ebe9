"""Source health through the oracle: backoff, Retry-After, circuit breaker, disabled pause."""

from __future__ import annotations

import random

import pytest

from agent.pricing.errors import (
    BadPayload,
    PriceSourceError,
    RateLimited,
    SourceDisabled,
    SourceUnavailable,
)
from agent.pricing.failover import FailoverOracle
from agent.pricing.health import BreakerSettings, SourceBackoff
from tests.support.price_fixtures import SOL, FakeClock
from tests.support.scripted_sources import NO_JITTER, PRICES, SINGLE, ScriptedSource

# (error, expected status, expected wait in seconds)
WAITS = [
    pytest.param(RateLimited("coingecko", "429", 120.0), "backing_off", 120.0,
                 id="retry-after-wins"),
    pytest.param(RateLimited("coingecko", "429", 5.0), "backing_off", 5.0,
                 id="short-retry-after-wins-too"),
    pytest.param(RateLimited("coingecko", "429"), "backing_off", 30.0, id="no-retry-after"),
    pytest.param(SourceUnavailable("coingecko", "timeout"), "backing_off", 30.0,
                 id="unavailable"),
    pytest.param(BadPayload("coingecko", "html"), "backing_off", 30.0, id="bad-payload"),
    pytest.param(SourceDisabled("coingecko", "451"), "disabled", 3600.0,
                 id="disabled-rechecked-later"),
    pytest.param(SourceDisabled("coingecko", "418", 7200.0), "disabled", 7200.0,
                 id="ban-for-its-length"),
    pytest.param(RateLimited("coingecko", "429", 10 * 86400.0), "backing_off", 3 * 86400.0,
                 id="absurd-retry-after-capped"),
]  # fmt: skip


@pytest.mark.parametrize(("error", "status", "wait"), WAITS)
async def test_backoff_after_failure(error: PriceSourceError, status: str, wait: float) -> None:
    """A failure backs the source off for Retry-After when given, else the computed delay."""
    clock = FakeClock()
    source = ScriptedSource("coingecko", PRICES, error=error)
    oracle = FailoverOracle([source], [SOL], settings=SINGLE, retry=NO_JITTER, clock=clock)
    await oracle.refresh()
    state = oracle.snapshot().sources["coingecko"]
    assert (state.status, state.retry_in_s) == (status, wait)
    assert state.failures == {error.reason: 1}
    clock.advance(wait - 1)
    await oracle.refresh()
    assert len(source.calls) == 1  # still backing off: not asked
    clock.advance(1)
    await oracle.refresh()
    assert len(source.calls) == 2


async def test_backoff_grows_exponentially_and_is_capped() -> None:
    """Consecutive failures double the delay up to max_delay_s; jitter stays within bounds."""
    retry = SourceBackoff(initial_delay_s=10, max_delay_s=100, multiplier=2, jitter=0)
    rng = random.Random(1)
    assert [retry.delay(n, None, rng) for n in (1, 2, 3, 4, 5, 5000)] == [10, 20, 40, 80, 100, 100]
    jittery = SourceBackoff(initial_delay_s=10, max_delay_s=100, jitter=0.5)
    delays = [jittery.delay(1, None, rng) for _ in range(200)]
    assert min(delays) >= 5 and max(delays) <= 15 and len(set(delays)) > 1


async def test_breaker_opens_and_closes() -> None:
    """After failure_threshold failures the breaker opens; one successful probe closes it."""
    clock = FakeClock()
    source = ScriptedSource("kraken", PRICES, error=SourceUnavailable("kraken", "503"))
    retry = SourceBackoff(initial_delay_s=10, max_delay_s=40, jitter=0)
    breaker = BreakerSettings(failure_threshold=3, open_s=600)
    oracle = FailoverOracle(
        [source], [SOL], settings=SINGLE, retry=retry, breaker=breaker, clock=clock
    )
    states = []
    for wait in (10, 20, 0):
        await oracle.refresh()
        state = oracle.snapshot().sources["kraken"]
        states.append((state.status, state.consecutive_failures, state.retry_in_s))
        clock.advance(wait)
    assert states == [("backing_off", 1, 10), ("backing_off", 2, 20), ("open", 3, 600)]
    clock.advance(599)
    await oracle.refresh()
    assert len(source.calls) == 3  # open: not asked
    clock.advance(1)
    assert oracle.snapshot().sources["kraken"].status == "half_open"
    await oracle.refresh()  # the probe fails: open again
    assert oracle.snapshot().sources["kraken"].status == "open"
    clock.advance(600)
    source.error = None
    await oracle.refresh()  # the probe succeeds: closed
    state = oracle.snapshot().sources["kraken"]
    assert (state.status, state.consecutive_failures, state.retry_in_s) == ("up", 0, None)
    assert state.failures == {"unavailable": 4}
    assert (await oracle.price(SOL)).source == "kraken"


async def test_backed_off_source_is_skipped_in_favour_of_the_next() -> None:
    """While the first source backs off, the next one serves without the first being asked."""
    clock = FakeClock()
    first = ScriptedSource("coingecko", PRICES, error=RateLimited("coingecko", "429", 600.0))
    second = ScriptedSource("kraken", PRICES)
    oracle = FailoverOracle([first, second], [SOL], settings=SINGLE, clock=clock)
    await oracle.refresh()
    first.error = None
    clock.advance(301)
    assert (await oracle.price(SOL)).source == "kraken"
    assert (len(first.calls), len(second.calls)) == (1, 2)
