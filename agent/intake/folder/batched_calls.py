"""Many tasks' blocking calls gathered into one worker-thread trip per batch.

Each trip to a worker thread costs a wake-up on both sides and a turn of the GIL; with one
trip per file the intake's threads spent more time handing the GIL around than moving files.
:class:`BatchedCalls` collects the calls that arrive while a batch is running (or in the same
turn of the event loop) and runs them together, so one thread trip, and one fsync per
directory, serves a whole batch. Each caller still gets its own result or its own exception.

A batch that has started runs to its end even if its callers are cancelled: the files it
moves must end up where the batch function leaves them, never half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["BatchedCalls"]

A = TypeVar("A")
R = TypeVar("R")


class BatchedCalls(Generic[A, R]):
    """``await calls(argument)`` runs ``run_batch([argument, ...])`` in a worker thread.

    ``run_batch`` returns one entry per argument, in order: the result, or the exception
    that call raised (it is raised to that caller alone). An exception escaping ``run_batch``
    itself is raised to every caller of the batch.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[A]], Sequence[R | Exception]],
        *,
        max_batch: int = 256,
        name: str = "batched-calls",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._name = name
        self._waiting: list[tuple[A, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0

    async def __call__(self, argument: A) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((argument, future))
        # One batch at a time: several smaller ones in flight measured slower, since each
        # thread's every system call then waits for the GIL anew.
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name=self._name)
        return await future

    async def aclose(self) -> None:
        """Wait for the batch in flight (and those already waiting) to finish."""
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _run(self) -> None:
        # One turn first: callers woken in the same turn as the first one join its batch.
        await asyncio.sleep(0)
        while self._waiting:
            batch = [(a, f) for a, f in self._waiting[: self._max_batch] if not f.cancelled()]
            del self._waiting[: self._max_batch]
            if not batch:
                continue
            self.batches += 1
            try:
                # Shielded: cancelling the runner (loop shutdown) must not strand a started batch.
                results = await asyncio.shield(
                    asyncio.to_thread(self._run_batch, [a for a, _ in batch])
                )
                if len(results) != len(batch):
                    raise RuntimeError(
                        f"{self._name}: {len(results)} results for {len(batch)} calls"
                    )
            except Exception as error:
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
