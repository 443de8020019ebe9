"""The circuit breaker's closed → open → half-open → closed cycle on an injected clock."""

from __future__ import annotations

import pytest

from agent.net import CircuitBreaker, CircuitOpen
from tests.support.jupiter_client import FakeClock


def test_opens_after_threshold() -> None:
    """N consecutive failures open the circuit; calls are then refused with the time left."""
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10.0, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 4
    with pytest.raises(CircuitOpen) as info:
        breaker.before_call()
    assert info.value.retry_in_s == pytest.approx(6.0)


def test_success_resets_the_count() -> None:
    """A success between failures means they are no longer consecutive."""
    breaker = CircuitBreaker(failure_threshold=2, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


@pytest.mark.parametrize(
    ("probe_ok", "final"), [(True, "closed"), (False, "open")], ids=["probe-ok", "probe-fails"]
)
def test_half_open_single_probe(probe_ok: bool, final: str) -> None:
    """After the cooldown one probe is admitted, others refused; its outcome decides."""
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10.0, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.state == "half_open"
    breaker.before_call()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    if probe_ok:
        breaker.record_success()
    else:
        breaker.record_failure()
    assert breaker.state == final


def test_released_probe_can_be_retaken() -> None:
    """A probe that was never sent (no budget) does not wedge the breaker half-open."""
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=1.0, clock=clock)
    breaker.record_failure()
    clock.now += 1
    breaker.before_call()
    breaker.release_probe()
    breaker.before_call()
    assert breaker.state == "half_open"
