"""The Redis Streams intake: signed envelopes arrive as entries of one stream.

Every replica is a consumer (its own unique name) of one consumer group, so each new entry is
delivered to exactly one replica. An entry stays pending until :meth:`StreamIntake.complete`
publishes its result and acknowledges it, in one MULTI/EXEC; the caller calls it only after the
terminal state is committed to SQL. A replica that dies leaves its entries pending: after a
restart it takes its own back first, and entries idle longer than ``claim_idle_ms`` on any
consumer are reclaimed by whichever replica asks next. Redelivered items say ``resumed``: SQL
may already hold their terminal state.

Guarantees: no entry is lost (it is processed, or copied to the dead-letter stream before it is
acknowledged), but results are at-least-once. A process that dies after committing to SQL and
before :meth:`~StreamIntake.complete` publishes the result again on redelivery, and an entry
that takes longer than ``claim_idle_ms`` is reclaimed while still being worked on. Consumers of
the results stream must therefore deduplicate by ``entry_id``.

Errors: an outage raises :class:`~agent.intake.stream.client.StreamUnavailable` (see there);
any other Redis error propagates. Envelope bytes are never logged or put into an exception;
entry ids are. Submitters add entries with :func:`~agent.intake.stream.submit.submit`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TypeVar, cast

import redis.asyncio as aioredis
import structlog
from redis import exceptions as redis_errors
from redis.typing import StreamIdT

from agent.intake.stream.client import (
    StreamUnavailable,
    check_client,
    connect,
    unavailable_on_outage,
)
from agent.intake.stream.entries import (
    DeadLetter,
    Fields,
    StreamItem,
    block_within,
    decode_fields,
    error_code,
    group_missing,
    oldest_age,
    read_claimed,
    read_entries,
    result_fields,
    sort_entry,
    text,
)

__all__ = ["SOURCE", "StreamIntake", "StreamSettings"]

log = structlog.get_logger("agent.intake.stream")

SOURCE = "redis"

T = TypeVar("T")

# redis-py's own default when a client was built without an explicit socket_timeout.
_ASSUMED_SOCKET_TIMEOUT_S = 5.0
# Bounds the rounds of XAUTOCLAIM in one call when every entry claimed was dead-lettered.
_MAX_CLAIM_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class StreamSettings:
    url: str
    consumer: str  # unique per replica
    stream: str = "otc-agent:intents"
    group: str = "otc-agent"
    results_stream: str = "otc-agent:results"
    dead_letter_stream: str = "otc-agent:dead-letter"
    claim_idle_ms: int = 60_000  # reclaim entries pending this long on another consumer
    max_deliveries: int = 5  # an entry delivered more often goes to the dead-letter stream
    max_entry_bytes: int = 65_536
    results_maxlen: int = 1_000_000  # approximate trim of the results and dead-letter streams
    # Consumers idle this long with nothing pending are deleted from the group: the names
    # replicas that stopped (or died and were taken over) leave behind.
    forget_idle_ms: int = 86_400_000


class StreamIntake:
    """Hands out stream entries and files their results. One reader task per instance:
    :meth:`next_batch` keeps cursors and must not run concurrently with itself."""

    source = SOURCE

    def __init__(
        self,
        settings: StreamSettings,
        *,
        client: aioredis.Redis | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._owns_client = client is None
        self._client = client if client is not None else connect(settings.url)
        check_client(self._client)
        self._clock = clock
        # Entries delivered to this consumer name before this instance started (a crash, a
        # restart), or whose delivery an outage cut off, are taken back first, in one pass over
        # its pending list.
        self._recovering = True
        self._own_cursor = "0-0"
        self._claim_cursor = "0-0"

    async def start(self) -> None:
        """Create the group if missing; refuse streams whose names hold other kinds of keys."""
        settings = self.settings
        names = (settings.stream, settings.results_stream, settings.dead_letter_stream)
        with unavailable_on_outage("start"):
            async with self._client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.type(name)
                kinds = [text(kind) for kind in await pipe.execute()]
            for name, kind in zip(names, kinds, strict=True):
                # complete()'s MULTI/EXEC does not roll back: were its XADD to fail on such a
                # key, its XACK would still run and the result would never be published.
                if kind not in ("none", "stream"):
                    raise redis_errors.ResponseError(f"WRONGTYPE key {name!r} holds a {kind}")
            await self._create_group()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def next_batch(self, count: int, block_ms: int) -> list[StreamItem]:
        """Up to ``count`` items: own leftovers, then reclaimed idle entries, then new ones.

        Blocks up to ``block_ms`` (shortened to fit under the client's socket timeout; 0 or
        less does not block) only when there is nothing to resume or reclaim.
        """
        if count < 1:
            return []
        try:
            with unavailable_on_outage("next_batch"):
                return await self._recreating_group(lambda: self._next_batch(count, block_ms))
        except StreamUnavailable:
            # Redis may have delivered entries whose reply the outage lost: they sit in this
            # consumer's pending list, not in hand. Take that list back first once it answers
            # (the feed skips what is already in hand), not after claim_idle_s.
            self._recovering, self._own_cursor = True, "0-0"
            raise

    async def complete(
        self,
        item: StreamItem,
        *,
        status: str,
        reason: str | None,
        intent_id: str | None,
        result: str,
    ) -> None:
        """Publish the result, acknowledge the entry and delete it, atomically (MULTI/EXEC)."""
        settings = self.settings
        fields = result_fields(
            item.entry_id, status=status, reason=reason, intent_id=intent_id, result=result
        )
        with unavailable_on_outage("complete"):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.xadd(
                    settings.results_stream,
                    fields,
                    maxlen=settings.results_maxlen,
                    approximate=True,
                )
                pipe.xack(settings.stream, settings.group, item.entry_id)
                # Answered entries leave the stream, so its memory is what is still to do
                # (the result and the SQL row keep everything about it).
                pipe.xdel(settings.stream, item.entry_id)
                # XACK of a missing group answers 0 rather than NOGROUP: nothing to recreate.
                await pipe.execute()

    async def keep_alive(self, entry_ids: Collection[str]) -> None:
        """Reset the idle time of entries this consumer is still working on (XCLAIM, min idle 0,
        JUSTID: the delivery count stays), so no replica, this one included, takes them over
        while they are in hand, however long a database outage makes them wait."""
        if not entry_ids:
            return
        settings = self.settings
        message_ids: list[StreamIdT] = [*sorted(entry_ids)]  # redis-py wants this exact list type
        with unavailable_on_outage("keep_alive"):
            await self._client.xclaim(
                settings.stream,
                settings.group,
                settings.consumer,
                0,
                message_ids,
                justid=True,
            )

    async def backlog(self) -> tuple[int, float | None]:
        """Entries not yet acknowledged (undelivered plus pending) and the oldest one's age."""
        with unavailable_on_outage("backlog"):
            return await self._recreating_group(self._backlog)

    async def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        """The newest ``count`` dead letters, newest first, as text."""
        with unavailable_on_outage("dead_letters"):
            reply = await self._client.xrevrange(
                self.settings.dead_letter_stream, "+", "-", count=count
            )
        # check_client makes replies raw bytes, and XREVRANGE answers a list of whole entries
        # (never nil ones), which redis-py's types cannot tell.
        rows = cast("list[tuple[bytes, Fields]]", reply)
        return [decode_fields(fields) for _entry_id, fields in rows]

    async def forget_idle_consumers(self) -> list[str]:
        """Delete the group's consumers (never this one) that have nothing pending and have
        been idle ``forget_idle_ms``; returns their names. Each is checked and deleted in one
        atomic script, since deleting a consumer drops its pending entries with it: an entry a
        consumer took meanwhile is never lost that way."""
        settings = self.settings
        with unavailable_on_outage("forget_idle_consumers"):
            names = await self._client.eval(
                _FORGET_IDLE_CONSUMERS,
                1,
                settings.stream,
                settings.group,
                settings.forget_idle_ms,
                settings.consumer,
            )
        return sorted(text(name) for name in names)

    # -- reading -------------------------------------------------------------------------

    async def _next_batch(self, count: int, block_ms: int) -> list[StreamItem]:
        items: list[StreamItem] = []
        if self._recovering:
            items += await self._take_own_pending(count)
        if len(items) < count:
            items += await self._reclaim_idle(count - len(items))
        if len(items) < count:
            items += await self._read_new(count - len(items), block_ms if not items else 0)
        return items

    async def _take_own_pending(self, count: int) -> list[StreamItem]:
        settings = self.settings
        items: list[StreamItem] = []
        # Entries that all turn out dead or deleted must not end the pass: read on until
        # something is handed out or the pending list is exhausted.
        while self._recovering and len(items) < count:
            wanted = count - len(items)
            # An explicit id reads this consumer's own pending list (and counts a delivery).
            reply = await self._client.xreadgroup(
                settings.group,
                settings.consumer,
                {settings.stream: self._own_cursor},
                count=wanted,
            )
            entries = read_entries(reply)
            if len(entries) < wanted:
                self._recovering = False
            if entries:
                self._own_cursor = entries[-1][0]
            items += await self._sort(entries, await self._delivery_counts(entries))
        return items

    async def _reclaim_idle(self, count: int) -> list[StreamItem]:
        settings = self.settings
        items: list[StreamItem] = []
        for _ in range(_MAX_CLAIM_ROUNDS):
            reply = await self._client.xautoclaim(
                settings.stream,
                settings.group,
                settings.consumer,
                min_idle_time=settings.claim_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            )
            self._claim_cursor, entries, deleted = read_claimed(reply)
            if deleted:
                await self._client.xack(settings.stream, settings.group, *deleted)
            items += await self._sort(entries, await self._delivery_counts(entries))
            if items or self._claim_cursor == "0-0":
                break
        return items

    async def _read_new(self, count: int, block_ms: int) -> list[StreamItem]:
        settings = self.settings
        reply = await self._client.xreadgroup(
            settings.group,
            settings.consumer,
            {settings.stream: ">"},
            count=count,
            block=self._block_for(block_ms),
        )
        entries = read_entries(reply)
        return await self._sort(entries, dict.fromkeys((entry_id for entry_id, _ in entries), 1))

    async def _delivery_counts(self, entries: list[tuple[str, Fields | None]]) -> dict[str, int]:
        """Redis's own delivery count for each entry, read after this delivery."""
        if not entries:
            return {}
        settings = self.settings
        async with self._client.pipeline(transaction=False) as pipe:
            for entry_id, _ in entries:
                pipe.xpending_range(
                    settings.stream, settings.group, min=entry_id, max=entry_id, count=1
                )
            replies = await pipe.execute()
        counts: dict[str, int] = {}
        for (entry_id, _), rows in zip(entries, replies, strict=True):
            # Gone from the pending list already (acknowledged by whoever reclaimed it in the
            # meantime): it was delivered at least twice, which is all `resumed` needs.
            counts[entry_id] = int(rows[0]["times_delivered"]) if rows else 2
        return counts

    async def _sort(
        self, entries: list[tuple[str, Fields | None]], deliveries: dict[str, int]
    ) -> list[StreamItem]:
        settings = self.settings
        received_at = self._clock()
        items: list[StreamItem] = []
        letters: list[DeadLetter] = []
        deleted: list[str] = []
        for entry_id, fields in entries:
            sorted_entry = sort_entry(
                entry_id,
                fields,
                deliveries=deliveries[entry_id],
                received_at=received_at,
                max_deliveries=settings.max_deliveries,
                max_entry_bytes=settings.max_entry_bytes,
            )
            if sorted_entry is None:
                deleted.append(entry_id)
            elif isinstance(sorted_entry, DeadLetter):
                letters.append(sorted_entry)
            else:
                items.append(sorted_entry)
        if deleted:
            await self._client.xack(settings.stream, settings.group, *deleted)
        if letters:
            await self._dead_letter(letters)
        return items

    async def _dead_letter(self, letters: list[DeadLetter]) -> None:
        """Copy entries to the dead-letter stream, then acknowledge them.

        Not MULTI/EXEC: a transaction does not roll back, so an XADD failing inside one (a
        wrong key type) would still let the XACK through and lose the entry. One by one, a
        crash in between only dead-letters it twice. Single commands also keep the envelope
        out of error messages, which redis-py's pipeline errors quote.
        """
        settings = self.settings
        for letter in letters:
            await self._client.xadd(
                settings.dead_letter_stream,
                letter.fields(),
                maxlen=settings.results_maxlen,
                approximate=True,
            )
        ids = [letter.entry_id for letter in letters]
        await self._client.xack(settings.stream, settings.group, *ids)
        await self._client.xdel(settings.stream, *ids)  # kept in the dead-letter stream
        for letter in letters:
            log.warning(
                "stream_entry_dead_lettered",
                stream=settings.stream,
                entry_id=letter.entry_id,
                reason=letter.reason,
                deliveries=letter.deliveries,
            )

    def _block_for(self, block_ms: int) -> int | None:
        kwargs = self._client.get_connection_kwargs()
        return block_within(block_ms, kwargs.get("socket_timeout", _ASSUMED_SOCKET_TIMEOUT_S))

    # -- backlog -------------------------------------------------------------------------

    async def _backlog(self) -> tuple[int, float | None]:
        # Answered and dead-lettered entries are deleted, so what the stream holds is exactly
        # what is not yet acknowledged (undelivered or pending), oldest first. Cheaper and more
        # exact than the group's lag, which Redis leaves stale or unset after deletions.
        settings = self.settings
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.xlen(settings.stream)
            pipe.xrange(settings.stream, min="-", max="+", count=1)
            length, first = await pipe.execute()
        oldest = [first[0][0]] if first else []
        return int(length), oldest_age(oldest, now=self._clock())

    # -- the group -----------------------------------------------------------------------

    async def _create_group(self) -> None:
        settings = self.settings
        try:
            await self._client.xgroup_create(settings.stream, settings.group, id="0", mkstream=True)
        except redis_errors.ResponseError as exc:
            if error_code(str(exc)) != "BUSYGROUP":
                raise

    async def _recreating_group(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call``; when the group has vanished, create it again and run it once more."""
        try:
            return await call()
        except redis_errors.ResponseError as exc:
            if not group_missing(str(exc)):
                raise
        log.warning(
            "stream_group_recreated", stream=self.settings.stream, group=self.settings.group
        )
        await self._create_group()
        # The new group has no pending entries and starts from the beginning of the stream.
        self._recovering = False
        self._claim_cursor = "0-0"
        return await call()


# KEYS[1] stream; ARGV group, minimum idle ms, this consumer's name. XINFO CONSUMERS answers
# each consumer as a flat list of field, value pairs (name, pending, idle, ...); without the
# stream or the group there is nothing to forget (next_batch recreates them).
_FORGET_IDLE_CONSUMERS = """
local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if consumers['err'] then return {} end
local forgotten = {}
for _, reply in ipairs(consumers) do
  local consumer = {}
  for i = 1, #reply, 2 do consumer[reply[i]] = reply[i + 1] end
  if consumer['name'] ~= ARGV[3] and consumer['pending'] == 0
      and consumer['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], consumer['name'])
    table.insert(forgotten, consumer['name'])
  end
end
return forgotten
"""
