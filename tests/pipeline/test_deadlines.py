"""agent.pipeline.deadlines: waiting on a venue only as long as an intent has left, never cancelling it."""

from __future__ import annotations

import asyncio

import pytest

from agent.pipeline.deadlines import (
    DEADLINE_MARGIN_S,
    MIN_WAIT_S,
    DeadlineWaiter,
    TimedOut,
    seconds_left,
)


@pytest.mark.parametrize(
    ("not_after", "now", "left"),
    [
        (100.0, 90.0, 10.0 - DEADLINE_MARGIN_S),
        (100.0, 99.5, MIN_WAIT_S),  # inside the margin: only the briefest wait
        (100.0, 120.0, MIN_WAIT_S),  # already past
        (float("inf"), 90.0, float("inf")),  # no deadline
    ],
)
def test_seconds_left_keeps_the_margin_and_a_minimum(
    not_after: float, now: float, left: float
) -> None:
    """What may still be waited is the time to the deadline less the margin, at least MIN_WAIT_S."""
    assert seconds_left(not_after, now) == left


async def test_a_call_that_answers_in_time_gives_its_result() -> None:
    """A prompt call's result (or its exception) comes back unchanged."""

    async def answer() -> int:
        await asyncio.sleep(0)
        return 7

    async def fail() -> int:
        raise ValueError("venue bug")

    assert await DeadlineWaiter().within(answer(), 1.0) == 7
    assert await DeadlineWaiter().within(answer(), float("inf")) == 7
    with pytest.raises(ValueError, match="venue bug"):
        await DeadlineWaiter().within(fail(), 1.0)


async def test_a_late_call_times_out_but_is_left_to_finish() -> None:
    """Past its time the caller gets TimedOut at once; the call itself is not cancelled and
    completes on its own (a breaker's probe or a limiter's slot is never left half-done)."""
    finished = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()
        finished.set()

    waiter = DeadlineWaiter()
    with pytest.raises(TimedOut, match="before the intent's deadline"):
        await waiter.within(slow(), 0.01)
    assert waiter.abandoned == 1  # kept referenced while it runs
    release.set()
    await asyncio.wait_for(finished.wait(), 1.0)
    await asyncio.sleep(0)  # its done-callback runs on the next loop turn
    assert waiter.abandoned == 0


async def test_cancelling_the_caller_cancels_its_call() -> None:
    """At shutdown the waiting caller is cancelled, and the call with it."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hang() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    caller = asyncio.create_task(DeadlineWaiter().within(hang(), 60.0))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.wait_for(cancelled.wait(), 1.0)


async def test_aclose_cancels_and_awaits_the_calls_given_up_on() -> None:
    """At shutdown the calls still running after their deadline are cancelled and waited for,
    so none outlives the clients it uses."""
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    waiter = DeadlineWaiter()
    with pytest.raises(TimedOut):
        await waiter.within(hang(), 0.01)
    assert waiter.abandoned == 1
    await waiter.aclose()
    assert cancelled.is_set()
    await asyncio.sleep(0)
    assert waiter.abandoned == 0
    await waiter.aclose()  # nothing left: a second close is a no-op
