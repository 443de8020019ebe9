"""Execution-risk math: fade estimates, volatility, delay penalty, haircut, cool-down."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.domain.risk import (
    CoolDown,
    CoolDownPolicy,
    FadeEstimate,
    VolatilityWindow,
    delay_penalty_bps,
    risk_haircut_bps,
    volatility_bps_per_sqrt_s,
)

D = Decimal


def test_new_pool_starts_at_its_prior() -> None:
    """With no history the estimate is the configured reject probability."""
    assert FadeEstimate(prior=D("0.02")).probability(1_000.0) == D("0.02")


@pytest.mark.parametrize(
    ("fills", "declines", "expected"),
    [
        (0, 0, D("0.02")),
        (80, 0, D("0.4") / D(100)),  # 0.4 prior declines over 100 trials
        (0, 5, (D(5) + D("0.4")) / D(25)),  # a pool that starts fading is found out fast
        (30, 10, (D(10) + D("0.4")) / D(60)),
    ],
)
def test_estimate_blends_history_with_the_prior(
    fills: int, declines: int, expected: Decimal
) -> None:
    """The posterior mean is (declines + prior x weight) / (trials + weight)."""
    estimate = FadeEstimate(prior=D("0.02"), prior_weight=D(20))
    for _ in range(fills):
        estimate = estimate.observe(0.0, declined=False)
    for _ in range(declines):
        estimate = estimate.observe(0.0, declined=True)
    assert estimate.probability(0.0) == expected


def test_old_declines_are_forgotten() -> None:
    """After many half-lives a past fading streak weighs almost nothing."""
    estimate = FadeEstimate(prior=D("0.01"), half_life_s=60.0)
    for _ in range(10):
        estimate = estimate.observe(0.0, declined=True)
    fresh, later = estimate.probability(0.0), estimate.probability(6_000.0)
    assert fresh > D("0.3") and later < D("0.0101")


def test_one_half_life_halves_the_counts() -> None:
    """Counts decay by one half per half-life."""
    estimate = FadeEstimate(prior=D(0), half_life_s=100.0).observe(0.0, declined=True)
    assert estimate.observe(100.0, declined=False).declines == D("0.5")


@pytest.mark.parametrize("bad", [{"prior": D("1.5")}, {"prior": D(0), "half_life_s": 0.0}])
def test_invalid_estimates_are_refused(bad: dict[str, object]) -> None:
    """A prior outside [0, 1] or a non-positive half-life is a programming error."""
    with pytest.raises(ValueError):
        FadeEstimate(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        ([], D(0)),
        ([(0.0, D(100))], D(0)),
        ([(0.0, D(100)), (0.0, D(101))], D(0)),  # no elapsed time: unusable
        ([(0.0, D(100)), (1.0, D(100))], D(0)),
        # +1% then -1% over 4 s each: |log return| / 2 = ~0.004975 per sqrt(s) = ~49.75 bps
        ([(0.0, D(100)), (4.0, D(101)), (8.0, D(100))], D("49.7517")),
    ],
)
def test_volatility(prices: list[tuple[float, Decimal]], expected: Decimal) -> None:
    """Realised volatility scales each log return by the square root of its interval."""
    assert abs(volatility_bps_per_sqrt_s(prices) - expected) <= D("0.001")


@pytest.mark.parametrize(
    ("delay", "vol", "z", "expected"),
    [(0.0, D(10), D(1), D(0)), (4.0, D(10), D(1), D(20)), (0.25, D(10), D(2), D(10)), (1.0, D(0), D(1), D(0))],
)  # fmt: skip
def test_delay_penalty(delay: float, vol: Decimal, z: Decimal, expected: Decimal) -> None:
    """Holding a quote for t seconds risks z x sigma x sqrt(t)."""
    assert delay_penalty_bps(delay, vol, z) == expected


@pytest.mark.parametrize(
    ("p", "delay", "fade_cost", "expected"),
    [
        (D(0), D(0), D(50), D(0)),
        (D("0.02"), D(0), D(50), D(1)),  # a 2% fade chance costs 2% of a 50 bp re-route
        (D("0.02"), D("3.5"), D(50), D("4.5")),
        (D("0.5"), D(0), D(100), D(50)),
        (D(1), D(10_000), D(50), D(10_000)),  # capped at the whole output
    ],
)
def test_haircut(p: Decimal, delay: Decimal, fade_cost: Decimal, expected: Decimal) -> None:
    """The haircut is the expected re-routing cost of a fade plus the delay penalty, capped."""
    assert risk_haircut_bps(p, delay, fade_cost) == expected


def test_cool_down_grows_with_repeated_fades_and_resets() -> None:
    """15 minutes after a fade, doubling while fades keep coming, back to 15 after a quiet hour."""
    policy = CoolDownPolicy()
    state = CoolDown(policy)
    assert not state.active(0.0)
    state = state.faded(0.0)
    assert (state.until, state.level) == (900.0, 1) and state.active(899.0)
    state = state.faded(1_000.0)  # right after: 30 minutes
    assert (state.until, state.level) == (2_800.0, 2)
    state = state.faded(2_900.0)
    assert state.until == 2_900.0 + 3_600.0 and state.level == 3
    quiet = state.until + policy.memory_s + 1
    assert state.faded(quiet).until == quiet + 900.0 and state.faded(quiet).level == 1


def test_cool_down_is_capped() -> None:
    """However often a pool fades, it is never out for longer than max_s."""
    state = CoolDown(CoolDownPolicy(max_s=2_000.0))
    for i in range(10):
        state = state.faded(float(i))
    assert state.until - 9.0 == 2_000.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10_000).map(lambda t: t / 10),
            st.integers(0, 10**6).map(lambda n: Decimal(n).scaleb(-3)),
        ),
        max_size=40,
    ),
    st.integers(2, 12),
)
def test_volatility_window_equals_the_batch_estimate(
    prices: list[tuple[float, Decimal]], size: int
) -> None:
    """Observed one at a time, the window's volatility is that of its last `size` prices."""
    window = VolatilityWindow(size)
    for seen, (now, price) in enumerate(prices, start=1):
        window.observe(now, price)
        assert window.value() == volatility_bps_per_sqrt_s(prices[max(0, seen - size) : seen])
