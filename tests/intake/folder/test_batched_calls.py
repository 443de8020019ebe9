"""Blocking calls batched into one worker-thread trip: each caller gets its own answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from agent.intake.folder.batched_calls import BatchedCalls


class Doubler:
    """Doubles numbers in a worker thread, recording each batch; a negative number fails alone."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.hold = hold

    def __call__(self, numbers: Sequence[int]) -> list[int | Exception]:
        if self.hold is not None:
            self.hold.wait(5)
        self.batches.append(list(numbers))
        self.threads.add(threading.current_thread().name)
        return [ValueError(f"negative: {n}") if n < 0 else n * 2 for n in numbers]


async def _first_batch_held(
    argument: int,
) -> tuple[threading.Event, Doubler, BatchedCalls[int, int], asyncio.Future[int]]:
    """A batcher whose first batch (``argument`` alone) is blocked in its thread until set."""
    hold = threading.Event()
    doubler = Doubler(hold)
    calls = BatchedCalls(doubler)
    first = asyncio.ensure_future(calls(argument))
    await asyncio.sleep(0.05)
    return hold, doubler, calls, first


async def test_callers_in_one_turn_share_one_batch() -> None:
    """Calls made in the same turn of the loop run together, each answered with its own result."""
    doubler = Doubler()
    calls = BatchedCalls(doubler)
    assert await asyncio.gather(*(calls(n) for n in range(10))) == [n * 2 for n in range(10)]
    assert doubler.batches == [list(range(10))]
    assert threading.main_thread().name not in doubler.threads


async def test_callers_arriving_during_a_batch_form_the_next_one() -> None:
    """While a batch runs, new calls wait and then go together in the next batch."""
    hold, doubler, calls, first = await _first_batch_held(1)
    later = [asyncio.ensure_future(calls(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0.01)
    hold.set()
    assert await first == 2
    assert await asyncio.gather(*later) == [4, 6, 8]
    assert doubler.batches == [[1], [2, 3, 4]]


async def test_one_callers_exception_reaches_that_caller_only() -> None:
    """A call that fails raises in its own caller; the rest of the batch succeeds."""
    calls = BatchedCalls(Doubler())
    results = await asyncio.gather(calls(1), calls(-1), calls(3), return_exceptions=True)
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError) and "negative: -1" in str(results[1])


async def test_a_failing_batch_fails_every_caller_of_it_and_the_next_batch_runs() -> None:
    """An exception escaping the batch function reaches all its callers; later calls still run."""
    failures = iter([OSError(5, "Input/output error")])

    def flaky(numbers: Sequence[int]) -> list[int | Exception]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return list(numbers)

    calls = BatchedCalls(flaky)
    results = await asyncio.gather(calls(1), calls(2), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert await calls(3) == 3


async def test_a_batch_function_answering_the_wrong_count_is_an_error() -> None:
    """A batch function must answer every call: a short answer fails the batch rather than
    leaving some callers waiting forever or mismatched."""
    calls = BatchedCalls(lambda numbers: list(numbers)[:-1])
    results = await asyncio.gather(calls(1), calls(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_batches_are_capped_at_max_batch() -> None:
    """No batch holds more than max_batch calls; the rest follow in further batches."""
    doubler = Doubler()
    calls = BatchedCalls(doubler, max_batch=4)
    assert await asyncio.gather(*(calls(n) for n in range(10))) == [n * 2 for n in range(10)]
    assert [len(b) for b in doubler.batches] == [4, 4, 2]
    assert calls.batches == 3


async def test_a_cancelled_caller_waiting_for_its_batch_is_left_out() -> None:
    """A call cancelled before its batch starts is not run."""
    hold, doubler, calls, first = await _first_batch_held(1)
    dropped = asyncio.ensure_future(calls(2))
    kept = asyncio.ensure_future(calls(3))
    await asyncio.sleep(0)
    dropped.cancel()
    hold.set()
    assert await first == 2 and await kept == 6
    assert doubler.batches == [[1], [3]]


async def test_aclose_waits_for_the_batch_in_flight() -> None:
    """aclose returns only once the batch already running has finished."""
    hold, doubler, calls, pending = await _first_batch_held(5)
    closing = asyncio.ensure_future(calls.aclose())
    await asyncio.sleep(0.05)
    assert not closing.done()
    hold.set()
    await closing
    assert doubler.batches == [[5]] and await pending == 10


def test_max_batch_must_be_positive() -> None:
    """A batch size below one is refused when the batcher is made."""
    with pytest.raises(ValueError, match="max_batch"):
        BatchedCalls(Doubler(), max_batch=0)
