"""The daemon's lifecycle: workers, the inbox feeder, scheduled jobs, metrics, signals.

Workers claim a file only when they are free to process it, so on SIGTERM whatever is still
in the inbox stays there untouched, and whatever a worker holds is finished before exit.
When the database goes away, workers stop claiming, the item in hand waits, and a single
probe retries with jittered exponential backoff until the database answers again.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import structlog

from agent.app.assembly import Runtime
from agent.app.builders import build_stream_intake
from agent.app.filing import Filing
from agent.app.health_server import MetricsServer
from agent.app.jobs import ScheduledJobs
from agent.app.run_stats import RunStats
from agent.app.stream_feed import StreamFeed, wait_or_stop
from agent.config import ConfigError
from agent.intake.folder.intake import DirectoryIntake, DirectoryItem
from agent.intake.folder.names import Claim
from agent.intake.stream.entries import StreamItem
from agent.intake.stream.intake import StreamIntake
from agent.ledger.plans import Outcome, Submission
from agent.settlement.settler import SettlementInDoubt
from agent.store.database import StoreUnavailable

__all__ = ["Daemon"]

log = structlog.get_logger("agent.daemon")


class Daemon:
    def __init__(
        self, runtime: Runtime, *, serve_metrics: bool = True, metrics_optional: bool = False
    ) -> None:
        self.runtime = runtime
        config = runtime.config
        self.intake = DirectoryIntake(
            config.intake_root,
            max_file_bytes=config.intake.max_file_bytes,
            rescan_interval_s=config.intake.rescan_interval_s,
        )
        # The Redis stream beside the folder, when [intake.redis] enables it.
        self.stream: StreamIntake | None = build_stream_intake(config)
        self.max_workers = config.execution.max_workers
        self.stats = RunStats()
        self._queue: asyncio.Queue[str | Claim | StreamItem] = asyncio.Queue(
            maxsize=self.max_workers * 2
        )
        self._queued: set[str] = set()
        # Names whose claim failed with an OS error are skipped, so one bad entry cannot spin.
        self._unclaimable: set[str] = set()
        self._busy = 0
        self._filing = Filing(self.intake, self.max_workers, self._finished)
        self._stopping = asyncio.Event()
        self._store_up = asyncio.Event()
        self._store_up.set()
        self._stream_feed = (
            StreamFeed(
                self.stream,
                runtime,
                self._queue,
                store_up=self._store_up,
                stopping=self._stopping,
            )
            if self.stream is not None
            else None
        )
        self._probe: asyncio.Task[None] | None = None
        self.jobs = ScheduledJobs(
            runtime=runtime,
            intake=self.intake,
            feed=self._stream_feed,
            stats=self.stats,
            queue=self._queue,
            store_up=self._store_up,
        )
        self._server: MetricsServer | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._serve_metrics = serve_metrics and config.metrics.enabled
        self._metrics_optional = metrics_optional

    @property
    def idle(self) -> bool:
        return self._queue.empty() and self._busy == 0 and not self._filing.busy

    # lifecycle

    def stop(self) -> None:
        """Stop claiming; in-flight submissions finish, then run() returns."""
        if not self._stopping.is_set():
            log.info("stopping", processed=self.stats.processed, in_flight=self._busy)
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def run(self, *, once: bool = False) -> RunStats:
        """Process until stop() (or, with once, until the inbox and work/ are empty)."""
        # File hand-offs fsync; give them as many threads as there are workers to wait on them.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=self.max_workers + 4, thread_name_prefix="otc-agent-io")
        )
        # The intake first: its owner identity names this replica on the fills it reserves.
        await self.intake.start(watch=not once)
        await self.runtime.start(
            replica_id=f"{self._replica_prefix}/{self.intake.owner.id}", ours=self._ours
        )
        if not once:
            self.jobs.start()
        if self._serve_metrics:
            host, _, port = self.runtime.config.metrics.listen.rpartition(":")
            self._server = MetricsServer(
                self.runtime.metrics.registry, host=host, port=int(port), readiness=self._readiness
            )
            try:
                await self._server.start()
            except OSError as exc:
                self._server = None
                if not self._metrics_optional:
                    raise ConfigError(
                        self.runtime.config.source_dir,
                        "metrics.listen",
                        f"cannot listen on {host}:{port}: {exc.strerror}",
                    ) from None
                log.warning("metrics_unavailable", listen=f"{host}:{port}", error=exc.strerror)
        log.info(
            "started",
            mode=self.runtime.config.execution.mode,
            workers=self.max_workers,
            inbox=str(self.intake.layout.inbox),
            once=once,
        )
        workers = self._workers = [
            asyncio.create_task(self._worker(), name=f"worker-{i}") for i in range(self.max_workers)
        ]
        for stray in self.intake.strays():
            log.warning("unknown_file_in_work", name=stray, action="left alone")
        try:
            for leftover in self.intake.leftovers():
                await self._queue.put(leftover)
            feeders = [self._feed(once=once)]
            if self._stream_feed is not None:
                feeders.append(self._stream_feed.feed(once=once))
            await asyncio.gather(*feeders)
            await self._queue.join()
        finally:
            self._stopping.set()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # Never cancelled: an outcome already committed gets its result file and its move.
            await self._filing.filed()
            if self._store_up.is_set():
                await self.jobs.snapshot()
            await self._shutdown()
        log.info("stopped", **self.stats.__dict__)
        return self.stats

    @property
    def _replica_prefix(self) -> str:
        """Host and intake folder: replicas whose liveness this one can check share both."""
        root = str(self.intake.layout.root.resolve()).encode()
        return f"{socket.gethostname()}:{hashlib.sha256(root).hexdigest()[:12]}"

    def _ours(self, replica: str | None) -> bool:
        """Whether this replica may settle an intent left executing by ``replica``: its own,
        a dead one's on this host and folder, or one recorded before replicas were named.
        Others are left to their replica, and to whoever takes over their submission should it
        die (the stream's take-over, or a folder survivor's adoption)."""
        if replica is None:
            return True
        prefix, _, owner = replica.rpartition("/")
        return prefix == self._replica_prefix and (
            owner == self.intake.owner.id or not self.intake.owner_alive(owner)
        )

    async def _shutdown(self) -> None:
        self.jobs.stop()
        if self._probe is not None:
            self._probe.cancel()
        if self._server is not None:
            await self._server.aclose()
        await self.intake.aclose()
        if self.stream is not None:
            await self.stream.aclose()
        await self.runtime.aclose()

    # feeding and working

    async def _feed(self, *, once: bool) -> None:
        """List the inbox once per batch (a listing stats every file), hand names out as workers free up."""
        while not self._stopping.is_set():
            batch = [
                n
                for n in self.intake.pending(limit=None)
                if n not in self._queued and n not in self._unclaimable
            ]
            for name in batch:
                if self._stopping.is_set():
                    return
                self._queued.add(name)
                await self._queue.put(name)
            if batch:
                continue
            if once:
                await self._queue.join()
                await self._filing.filed()
                if not [n for n in self.intake.pending(limit=None) if n not in self._unclaimable]:
                    return
            else:
                await wait_or_stop(
                    self._stopping,
                    self.intake.wait_for_files(self.runtime.config.intake.rescan_interval_s),
                )

    async def _worker(self) -> None:
        while True:
            entry = await self._queue.get()
            self._busy += 1
            try:
                if not self._stopping.is_set() or isinstance(entry, Claim):
                    await self._handle(entry)
            except Exception:
                log.exception("worker_error")
            finally:
                self._busy -= 1
                if isinstance(entry, str):
                    self._queued.discard(entry)
                elif isinstance(entry, StreamItem) and self._stream_feed is not None:
                    self._stream_feed.in_flight.discard(entry.entry_id)
                self._queue.task_done()

    async def _handle(self, entry: str | Claim | StreamItem) -> None:
        await self._store_up.wait()
        if isinstance(entry, StreamItem):
            await self._handle_stream(entry)
            return
        if isinstance(entry, Claim):
            item = await self.intake.read(entry, resumed=True)
        else:
            try:
                claimed = await self.intake.claim(entry)
            except OSError as exc:
                self._unclaimable.add(entry)
                log.error("cannot_claim", name=entry, error=str(exc))
                return
            if claimed is None:
                return  # another process took it
            item = claimed
        submission = _submission(item)
        outcome = await self._process(submission)
        await self._filing.hand_over(item, outcome)

    async def _handle_stream(self, item: StreamItem) -> None:
        feed = self._stream_feed
        assert feed is not None
        submission = Submission(
            source=feed.stream.source,
            ref=item.entry_id,
            name="",
            raw=item.raw,
            received_at=item.received_at,
            unreadable=item.unreadable,
            resumed=item.resumed,
        )
        outcome = await self._process(submission)
        await feed.answer(item, outcome)
        self._finished(outcome)

    async def _process(self, submission: Submission) -> Outcome:
        """The pipeline, riding out database and cluster outages: the outcome is committed
        when this returns. A bug ends the submission with internal_error, recorded under the
        same outage handling."""
        bound = log.bind(ref=submission.ref, source=submission.source)
        pipeline = self.runtime.pipeline
        failed = False
        in_doubt_delay = 0.25
        while True:
            try:
                if failed:
                    return await pipeline.record_internal_error(submission)
                return await pipeline.process(submission)
            except StoreUnavailable as exc:
                bound.warning("database_unavailable", error=str(exc))
                self.runtime.metrics.store_errors.inc()
                await self._store_lost()
                # Whatever committed before the outage is found again by the resume path.
                submission = replace(submission, resumed=True)
            except SettlementInDoubt as exc:
                # A sent transaction's fate is unknown: its fill stays executing and is settled
                # by signature once the cluster answers (after a stop, by the next start).
                bound.warning("settlement_in_doubt", error=str(exc))
                in_doubt_delay = min(
                    self.runtime.config.database.retry_max_backoff_s, in_doubt_delay * 2
                )
                await wait_or_stop(
                    self._stopping, asyncio.sleep(in_doubt_delay * random.uniform(0.5, 1.5))
                )
                if self._stopping.is_set():
                    raise  # the claim (or stream entry) stays for the next start
                submission = replace(submission, resumed=True)
            except Exception:
                if failed:
                    raise  # recording the failure failed too: the next start tries again
                bound.exception("internal_error")
                failed = True

    def _finished(self, outcome: Outcome) -> None:
        self.stats.count(outcome.status)
        log.info(
            "finished",
            ref=outcome.submission.ref,
            source=outcome.submission.source,
            intent_id=outcome.intent_id,
            status=outcome.status.value,
            reason=outcome.reason.value if outcome.reason else None,
            venue=outcome.decision_venue,
        )

    # database outages

    async def _store_lost(self) -> None:
        if self._store_up.is_set():
            self._store_up.clear()
            self.stats.store_outages += 1
            self.runtime.metrics.store_available.set(0)
            self._probe = asyncio.create_task(self._probe_store())
        await self._store_up.wait()

    async def _probe_store(self) -> None:
        delay, cap = 0.1, self.runtime.config.database.retry_max_backoff_s
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            try:
                await self.runtime.store.ping()
            except StoreUnavailable:
                delay = min(cap, delay * 2)
                continue
            log.info("database_back")
            self.runtime.metrics.store_available.set(1)
            self._store_up.set()
            return

    async def _readiness(self) -> tuple[bool, str]:
        """Ready: the database answers, the intake is running, and some venue can be asked."""
        problems = []
        if not self._store_up.is_set():
            problems.append("database unavailable")
        if self._stopping.is_set():
            problems.append("stopping")
        elif all(task.done() for task in self._workers):
            problems.append("intake not running")
        elif not self.intake.layout.inbox.is_dir():
            problems.append(f"inbox {self.intake.layout.inbox} is missing")
        if self._stream_feed is not None and not self._stream_feed.up.is_set():
            problems.append("redis unavailable")
        up = self.runtime.venues_up()
        if not up:
            problems.append("no venue up (none enabled, or every breaker open)")
        if problems:
            return False, "; ".join(problems)
        return True, f"ready; venues up: {', '.join(up)}"


def _submission(item: DirectoryItem) -> Submission:
    return Submission(
        source="directory",
        ref=item.claim.claim_id,
        name=item.claim.original_name,
        raw=item.raw,
        received_at=item.received_at,
        unreadable=item.unreadable,
        resumed=item.resumed,
    )
