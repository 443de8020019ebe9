"""The daemon's periodic work: wallets, books, gauges, snapshots, orphaned claims.

The daemon builds one :class:`ScheduledJobs` with the parts the jobs read and starts it once
its workers run; each job tolerates the database being away (it skips a turn) and never
stops the daemon.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.exceptions import RedisError

from agent.app.assembly import Runtime
from agent.app.run_stats import RunStats
from agent.app.stream_feed import StreamFeed
from agent.domain.prices import PriceUnavailable
from agent.intake.folder.intake import DirectoryIntake
from agent.intake.folder.names import Claim
from agent.intake.stream.client import StreamUnavailable
from agent.intake.stream.entries import StreamItem
from agent.metrics.observations import utilisation
from agent.store import snapshots
from agent.store.database import StoreUnavailable

__all__ = ["ScheduledJobs"]

log = structlog.get_logger("agent.daemon")


class ScheduledJobs:
    def __init__(
        self,
        *,
        runtime: Runtime,
        intake: DirectoryIntake,
        feed: StreamFeed | None,
        stats: RunStats,
        queue: asyncio.Queue[str | Claim | StreamItem],
        store_up: asyncio.Event,
    ) -> None:
        self.runtime = runtime
        self.intake = intake
        self._stream_feed = feed
        self.stats = stats
        # Orphaned claims adopted from a dead replica join the workers' queue.
        self._queue = queue
        # Cleared by the daemon while the database is away: the jobs that need it skip a turn.
        self._store_up = store_up
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        """Schedule every job on the running loop."""
        config = self.runtime.config
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        jobs = [
            (self._adopt_orphans, 10.0),
            (self._refresh_wallets, 2.0),
            (self.update_gauges, 5.0),
            (self.snapshot, 60.0),
            (self.runtime.oracle.refresh, config.prices.refresh_interval_s),
        ]
        if self._stream_feed is not None:
            # Well within claim_idle_s, so no replica ever takes over an entry still in hand.
            jobs.append((self._keep_stream_alive, min(30.0, config.intake.redis.claim_idle_s / 3)))
            jobs.append((self.forget_stream_consumers, 3600.0))
        if self.runtime.otc is not None:
            jobs.append((self._replenish, config.venues.otc.replenish_interval_s))
        if self.runtime.localdex is not None:
            jobs.append((self._rebalance, config.venues.localdex.rebalance_interval_s))
        for job, seconds in jobs:
            scheduler.add_job(job, "interval", seconds=seconds, max_instances=1, coalesce=True)
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def _guarded(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        if not self._store_up.is_set():
            return
        try:
            await job()
        except StoreUnavailable as exc:
            log.warning("job_database_unavailable", job=name, error=str(exc))

    async def _adopt_orphans(self) -> None:
        """Claims of a replica that died while this one runs, taken over and queued (each by
        exactly one survivor); at start, leftovers() did the same."""
        for claim in await asyncio.to_thread(self.intake.adopt_orphans):
            log.warning("adopted_claim", name=claim.name)
            await self._queue.put(claim)

    async def _keep_stream_alive(self) -> None:
        feed = self._stream_feed
        assert feed is not None
        try:
            await feed.stream.keep_alive(feed.in_flight | set(feed.left_pending))
        except (StreamUnavailable, RedisError) as exc:
            log.warning("stream_keep_alive_failed", error=str(exc))

    async def forget_stream_consumers(self) -> None:
        """Delete consumers of stopped replicas from the group (an hourly job)."""
        assert self._stream_feed is not None
        try:
            forgotten = await self._stream_feed.stream.forget_idle_consumers()
        except (StreamUnavailable, RedisError) as exc:
            log.warning("stream_forget_consumers_failed", error=str(exc))
            return
        if forgotten:
            log.info("stream_consumers_forgotten", consumers=forgotten)

    async def _refresh_wallets(self) -> None:
        await self._guarded("refresh_wallets", self.runtime.wallets.refresh)

    async def _replenish(self) -> None:
        assert self.runtime.otc is not None
        await self._guarded("replenish", partial(self.runtime.otc.replenish, self.runtime.books))

    async def _rebalance(self) -> None:
        assert self.runtime.localdex is not None
        await self._guarded(
            "rebalance", partial(self.runtime.localdex.rebalance, self.runtime.books)
        )

    async def snapshot(self) -> None:
        """Record a snapshot unless the database is away (the daemon takes one at stop too)."""
        await self._guarded("snapshot", self.record_snapshot)

    async def record_snapshot(self) -> None:
        """Prices in use and the agent's counters, written to SQL (the jobs run it every minute)."""
        points = []
        for token in self.runtime.tokens:
            try:
                point = await self.runtime.oracle.price(token)
            except PriceUnavailable:
                continue
            points.append((token.symbol, point.usd, point.source))
        pending, oldest = self.intake.backlog()
        counters = {
            "intents_processed": Decimal(self.stats.processed),
            "intents_filled": Decimal(self.stats.filled),
            "intents_rejected": Decimal(self.stats.rejected),
            "intents_failed": Decimal(self.stats.failed),
            "database_outages": Decimal(self.stats.store_outages),
            "inbox_pending": Decimal(pending),
            "inbox_oldest_age_s": Decimal(f"{oldest or 0:.3f}"),
        }
        await self.runtime.store.write(snapshots.record_snapshot, points, counters)

    async def update_gauges(self) -> None:
        """Inbox backlog and OTC pool state (a job runs it every 5 s; tests call it directly)."""
        metrics = self.runtime.metrics
        pending, oldest = self.intake.backlog()
        metrics.inbox_pending.set(pending)
        metrics.inbox_oldest_age.set(oldest or 0)
        feed = self._stream_feed
        if feed is not None and feed.up.is_set():
            try:
                waiting, age = await feed.stream.backlog()
            except StreamUnavailable:
                pass  # the feeder notices and pauses the stream; the gauges keep their value
            else:
                metrics.stream_backlog.set(waiting)
                metrics.stream_oldest_age.set(age or 0)
        otc = self.runtime.otc
        if otc is not None:
            for pool_id, book in otc.books.items():
                pool = otc.pools.get(pool_id)
                for side, held in (("base", book.inventory.base), ("quote", book.inventory.quote)):
                    metrics.otc_inventory.labels(pool_id, side).set(held)
                    if pool is not None:  # a book left in SQL by a pool no longer configured
                        target = pool.start.base if side == "base" else pool.start.quote
                        metrics.otc_utilisation.labels(pool_id, side).set(
                            float(utilisation(held, target))
                        )
