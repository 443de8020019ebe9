"""The daemon's side of the Redis stream: entries read into the work queue, outcomes answered.

While Redis is away the stream alone pauses, retrying with jittered exponential backoff; the
folder and the work in hand go on. Nothing is lost meanwhile: unacknowledged entries stay
pending in the group, and outcomes Redis could not take are acknowledged once it answers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable

import structlog
from redis.exceptions import AuthenticationError, AuthorizationError, RedisError

from agent.app.assembly import Runtime
from agent.intake.folder.names import Claim
from agent.intake.stream.client import StreamUnavailable
from agent.intake.stream.entries import StreamItem
from agent.intake.stream.intake import StreamIntake
from agent.ledger.plans import Outcome

__all__ = ["StreamFeed", "wait_or_stop"]

log = structlog.get_logger("agent.daemon")


async def wait_or_stop(stopping: asyncio.Event, waiting: Awaitable[object]) -> None:
    """Wait for ``waiting`` or for ``stopping``, whichever comes first."""
    stop = asyncio.ensure_future(stopping.wait())
    other = asyncio.ensure_future(waiting)
    await asyncio.wait({stop, other}, return_when=asyncio.FIRST_COMPLETED)
    for task in (stop, other):
        task.cancel()


class StreamFeed:
    def __init__(
        self,
        stream: StreamIntake,
        runtime: Runtime,
        queue: asyncio.Queue[str | Claim | StreamItem],
        *,
        store_up: asyncio.Event,
        stopping: asyncio.Event,
    ) -> None:
        self.stream = stream
        self.runtime = runtime
        self._queue = queue
        self._store_up = store_up
        self._stopping = stopping
        self.up = asyncio.Event()
        self.up.set()
        self._backoff = 0.05
        # Stream entries queued or being processed here, kept alive in the group meanwhile.
        self.in_flight: set[str] = set()
        # Finished, committed, but not yet acknowledged (Redis was away): acknowledged next.
        self.left_pending: dict[str, tuple[StreamItem, Outcome]] = {}

    async def feed(self, *, once: bool) -> None:
        """Read as many entries as the queue has room for: what is read is ours (pending in
        the group) until acknowledged, so reading ahead would only hold entries back."""
        block_ms = 100 if once else self.runtime.config.intake.redis.block_ms
        started = False
        while not self._stopping.is_set():
            # Entries read while the database is away would only wait in the queue.
            await wait_or_stop(self._stopping, self._store_up.wait())
            if self._stopping.is_set():
                return
            try:
                if not started:
                    await self.stream.start()
                    started = True
                await self._acknowledge_left_pending()
                room = max(1, self._queue.maxsize - self._queue.qsize())
                items = await self.stream.next_batch(room, block_ms)
            except (AuthenticationError, AuthorizationError):
                raise  # wrong credentials do not heal by waiting: stop and say so
            except (StreamUnavailable, RedisError) as exc:
                # Any other Redis error pauses the stream only (a full or read-only server heals the
                # same way a lost one does); the folder and the work in hand go on.
                if once:
                    log.error("redis_unavailable_once", error=str(exc))
                    return
                await self._lost(exc)
                continue
            self._back()
            for item in items:
                if item.entry_id in self.in_flight:
                    continue  # already in hand here: never run one entry twice at once
                self.in_flight.add(item.entry_id)
                await self._queue.put(item)
            if once and not items:
                await self._queue.join()
                return

    async def _lost(self, exc: Exception) -> None:
        """Pause the stream (not the folder) until Redis answers again; nothing is lost, since
        unacknowledged entries stay pending in the group."""
        if self.up.is_set():
            log.warning("redis_unavailable", error=str(exc))
            self.up.clear()
            self.runtime.metrics.intake_up.labels("redis").set(0)
        self._backoff = min(self.runtime.config.database.retry_max_backoff_s, self._backoff * 2)
        await wait_or_stop(self._stopping, asyncio.sleep(self._backoff * random.uniform(0.5, 1.5)))

    def _back(self) -> None:
        if not self.up.is_set():
            log.info("redis_back")
            self.up.set()
            self.runtime.metrics.intake_up.labels("redis").set(1)
        self._backoff = 0.05

    async def answer(self, item: StreamItem, outcome: Outcome) -> None:
        """Publish ``item``'s committed outcome and acknowledge it, or leave it pending."""
        # Acknowledged only now that the terminal state is committed. If Redis cannot take the
        # acknowledgement, the worker does not wait for it: the feeder acknowledges it once
        # Redis answers again (or, should this process stop first, whoever takes the entry over
        # answers it from SQL; results are at least once).
        try:
            await self._complete(item, outcome)
        except (StreamUnavailable, RedisError) as exc:
            log.warning("left_pending", ref=item.entry_id, error=str(exc))
            self.left_pending[item.entry_id] = (item, outcome)

    async def _complete(self, item: StreamItem, outcome: Outcome) -> None:
        await self.stream.complete(
            item,
            status=outcome.status.value,
            reason=outcome.reason.value if outcome.reason else None,
            intent_id=outcome.intent_id,
            result=outcome.result,
        )

    async def _acknowledge_left_pending(self) -> None:
        for entry_id, (item, outcome) in list(self.left_pending.items()):
            await self._complete(item, outcome)  # an error here pauses the feeder again
            del self.left_pending[entry_id]
