"""The Redis stream intake against a real Redis (OTC_AGENT_TEST_REDIS_URL), plus its pure parsing."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from agent.domain.outcomes import Reason, Status
from agent.intake.stream import (
    ENTRY_FIELD,
    SOURCE,
    SUBMIT_DEDUPE_S,
    StreamIntake,
    StreamItem,
    StreamSettings,
    StreamUnavailable,
    submit,
    submitted_key,
)
from agent.intake.stream_entries import (
    DeadLetter,
    block_within,
    entry_millis,
    group_missing,
    sort_entry,
)
from tests.conftest import unique_key

ENVELOPE = b'{"message": "{}", "signature": "x", "format": "solana-offchain-v1"}'


@dataclass(frozen=True)
class Keys:
    stream: str
    results: str
    dead_letter: str
    group: str = "otc-agent"

    def all(self) -> tuple[str, str, str]:
        return (self.stream, self.results, self.dead_letter)


MakeIntake = Callable[..., Awaitable[StreamIntake]]


async def add(client: aioredis.Redis, stream: str, envelope: bytes) -> str:
    """A plain XADD: the tests add identical envelopes as separate entries (submit would not)."""
    return (await client.xadd(stream, {ENTRY_FIELD: envelope})).decode()


@pytest.fixture(name="client")
async def _client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(name="keys")
async def _keys(client: aioredis.Redis) -> AsyncIterator[Keys]:
    keys = Keys(unique_key("intents"), unique_key("results"), unique_key("dead-letter"))
    yield keys
    await client.delete(*keys.all())


@pytest.fixture(name="make_intake")
async def _make_intake(redis_url: str, keys: Keys) -> AsyncIterator[MakeIntake]:
    """Started intakes on the test's streams; each is closed at the end."""
    made: list[StreamIntake] = []

    async def make(consumer: str = "c1", **overrides: Any) -> StreamIntake:
        clock = overrides.pop("clock", time.time)
        settings = StreamSettings(
            url=redis_url,
            consumer=consumer,
            stream=keys.stream,
            results_stream=keys.results,
            dead_letter_stream=keys.dead_letter,
            **overrides,
        )
        intake = StreamIntake(settings, clock=clock)
        made.append(intake)
        await intake.start()
        return intake

    yield make
    for intake in made:
        await intake.aclose()


async def _pending(client: aioredis.Redis, keys: Keys) -> dict[str, tuple[str, int]]:
    rows = await client.xpending_range(keys.stream, keys.group, min="-", max="+", count=1000)
    return {
        row["message_id"].decode(): (row["consumer"].decode(), row["times_delivered"])
        for row in rows
    }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


async def test_submitted_entry_is_handed_out_as_first_delivery(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """A submitted envelope comes back from next_batch once, with deliveries 1, not resumed."""
    intake = await make_intake()
    entry_id = await submit(client, keys.stream, ENVELOPE)

    (item,) = await intake.next_batch(10, 100)

    assert intake.source == SOURCE == "redis"
    assert (item.entry_id, item.raw, item.unreadable) == (entry_id, ENVELOPE, None)
    assert (item.deliveries, item.resumed) == (1, False)
    assert await intake.next_batch(10, 0) == []


async def test_complete_publishes_the_result_and_acknowledges(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """complete writes entry_id, status, reason, intent_id and result, and empties XPENDING."""
    intake = await make_intake()
    first = await add(client, keys.stream, ENVELOPE)
    second = await add(client, keys.stream, ENVELOPE)
    items = await intake.next_batch(10, 0)

    await intake.complete(
        items[0], status=Status.FILLED, reason=None, intent_id="id-1", result='{"a": 1}'
    )
    await intake.complete(
        items[1],
        status=Status.REJECTED,
        reason=Reason.BAD_SIGNATURE,
        intent_id=None,
        result='{"b": 2}',
    )

    results = [fields for _id, fields in await client.xrange(keys.results)]
    assert results == [
        {
            b"entry_id": first.encode(),
            b"status": b"filled",
            b"reason": b"",
            b"intent_id": b"id-1",
            b"result": b'{"a": 1}',
        },
        {
            b"entry_id": second.encode(),
            b"status": b"rejected",
            b"reason": b"bad_signature",
            b"intent_id": b"",
            b"result": b'{"b": 2}',
        },
    ]
    assert await _pending(client, keys) == {}


async def test_dead_consumers_entries_are_reclaimed_as_resumed(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """Entries idle past claim_idle_ms on another consumer come back with deliveries 2."""
    dead = await make_intake("dead")
    alive = await make_intake("alive", claim_idle_ms=500)
    ids = [await add(client, keys.stream, ENVELOPE) for _ in range(2)]
    assert len(await dead.next_batch(10, 0)) == 2
    assert await alive.next_batch(10, 0) == []  # not idle long enough yet

    await asyncio.sleep(0.6)
    items = await alive.next_batch(10, 0)

    assert [(i.entry_id, i.deliveries, i.resumed, i.raw) for i in items] == [
        (entry_id, 2, True, ENVELOPE) for entry_id in ids
    ]
    assert await _pending(client, keys) == dict.fromkeys(ids, ("alive", 2))


async def test_entries_kept_alive_are_never_taken_over(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """An entry its consumer keeps alive stays with it past claim_idle_ms, its delivery count
    unchanged; once no longer kept alive it is taken over."""
    busy = await make_intake("busy")
    other = await make_intake("other", claim_idle_ms=400)
    entry_id = await add(client, keys.stream, ENVELOPE)
    assert len(await busy.next_batch(10, 0)) == 1
    for _ in range(4):
        await asyncio.sleep(0.2)
        await busy.keep_alive({entry_id})
        assert await other.next_batch(10, 0) == []
    assert await _pending(client, keys) == {entry_id: ("busy", 1)}
    await asyncio.sleep(0.5)
    assert [(i.entry_id, i.deliveries) for i in await other.next_batch(10, 0)] == [(entry_id, 2)]


async def test_restarted_consumer_gets_its_own_pending_entries_first(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """After a restart, entries delivered before the crash come first (resumed), then new ones."""
    before = await make_intake("c1")
    old = [await add(client, keys.stream, ENVELOPE) for _ in range(3)]
    assert len(await before.next_batch(10, 0)) == 3
    new = [await add(client, keys.stream, ENVELOPE) for _ in range(2)]

    after = await make_intake("c1")
    first = await after.next_batch(2, 1000)
    rest = await after.next_batch(10, 1000)

    assert [(i.entry_id, i.deliveries) for i in first] == [(old[0], 2), (old[1], 2)]
    assert [(i.entry_id, i.deliveries) for i in rest] == [(old[2], 2), (new[0], 1), (new[1], 1)]
    assert [i.resumed for i in first + rest] == [True, True, True, False, False]


async def test_pending_entry_deleted_from_the_stream_is_acknowledged(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """A pending id whose entry was XDELed is acknowledged on recovery or reclaim, never handed out."""
    before = await make_intake("c1")
    ids = [await add(client, keys.stream, ENVELOPE) for _ in range(4)]
    assert len(await before.next_batch(10, 0)) == 4
    await client.xdel(keys.stream, ids[1], ids[3])

    after = await make_intake("c1")
    other = await make_intake("c2", claim_idle_ms=1)

    assert [i.entry_id for i in await after.next_batch(10, 0)] == [ids[0], ids[2]]
    assert set(await _pending(client, keys)) == {ids[0], ids[2]}
    await client.xdel(keys.stream, ids[0])
    await asyncio.sleep(0.01)
    assert [i.entry_id for i in await other.next_batch(10, 0)] == [ids[2]]
    assert set(await _pending(client, keys)) == {ids[2]}


async def test_entry_delivered_too_often_is_dead_lettered(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """Past max_deliveries an entry goes to the dead-letter stream with its bytes and is acked."""
    first = await make_intake("c1")
    second = await make_intake("c2", claim_idle_ms=1, max_deliveries=1)
    entry_id = await add(client, keys.stream, ENVELOPE)
    assert len(await first.next_batch(10, 0)) == 1
    await asyncio.sleep(0.01)

    assert await second.next_batch(10, 0) == []

    assert await _pending(client, keys) == {}
    assert await second.dead_letters() == [
        {
            "entry_id": entry_id,
            "reason": "delivered 2 times without reaching a terminal state",
            "deliveries": "2",
            "intent": ENVELOPE.decode(),
        }
    ]


@pytest.mark.parametrize(
    ("fields", "reason", "kept"),
    [
        ({b"other": b"x"}, "malformed entry: no 'intent' field (1 other field)", {"other": "x"}),
        ({b"intent": b""}, "malformed entry: the 'intent' field is empty", {"intent": ""}),
        (
            {b"reason": b"mine", b"entry_id": b"theirs"},
            "malformed entry: no 'intent' field (2 other fields)",
            {"original:reason": "mine", "original:entry_id": "theirs"},
        ),
    ],
    ids=["no-intent-field", "empty-intent", "colliding-field-names"],
)
async def test_malformed_entries_are_dead_lettered_at_once(
    client: aioredis.Redis,
    keys: Keys,
    make_intake: MakeIntake,
    fields: dict[bytes, bytes],
    reason: str,
    kept: dict[str, str],
) -> None:
    """An entry without a usable intent field is dead-lettered with a reason; its neighbours pass."""
    intake = await make_intake()
    bad = (await client.xadd(keys.stream, fields)).decode()
    good = (await client.xadd(keys.stream, {ENTRY_FIELD: ENVELOPE, b"trace": b"t"})).decode()

    items = await intake.next_batch(10, 0)

    assert [(i.entry_id, i.raw) for i in items] == [(good, ENVELOPE)]
    assert await intake.dead_letters() == [
        {"entry_id": bad, "reason": reason, "deliveries": "1", **kept}
    ]
    assert set(await _pending(client, keys)) == {good}


async def test_entry_stays_pending_when_dead_lettering_fails(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """A failed dead-letter write raises without the entry's bytes and leaves it unacknowledged."""
    intake = await make_intake()
    bad = (await client.xadd(keys.stream, {b"other": b"do-not-leak-these-bytes"})).decode()
    await client.set(keys.dead_letter, "not a stream")

    with pytest.raises(redis.ResponseError) as raised:
        await intake.next_batch(10, 0)

    assert "do-not-leak" not in str(raised.value)
    assert await _pending(client, keys) == {bad: ("c1", 1)}


async def test_start_refuses_result_streams_that_are_other_keys(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """start fails when a stream name holds another kind of key, before anything is read."""
    await client.set(keys.results, "not a stream")

    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        await make_intake()


async def test_oversized_intent_is_handed_out_unreadable(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """An intent over max_entry_bytes comes back with raw None and a TOO_LARGE rejection."""
    intake = await make_intake(max_entry_bytes=16)
    await add(client, keys.stream, b"s" * 16)
    await add(client, keys.stream, b"s" * 17)

    fits, too_large = await intake.next_batch(10, 0)

    assert (fits.raw, fits.unreadable) == (b"s" * 16, None)
    assert too_large.raw is None
    assert too_large.unreadable is not None
    assert too_large.unreadable.reason is Reason.TOO_LARGE
    assert "17 bytes" in too_large.unreadable.detail
    assert "sss" not in str(too_large.unreadable)
    assert await intake.dead_letters() == []


async def test_consumers_in_one_group_never_share_a_new_entry(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """500 entries read by 3 concurrent consumers: every entry exactly once, results for all."""
    async with client.pipeline(transaction=False) as pipe:
        for number in range(500):
            pipe.xadd(keys.stream, {ENTRY_FIELD: b"envelope-%d" % number})
        submitted = {entry_id.decode() for entry_id in await pipe.execute()}
    intakes = [await make_intake(f"c{number}") for number in range(3)]

    async def drain(intake: StreamIntake) -> list[str]:
        seen: list[str] = []
        while batch := await intake.next_batch(17, 100):
            for item in batch:
                seen.append(item.entry_id)
                await intake.complete(
                    item, status=Status.FILLED, reason=None, intent_id=None, result="{}"
                )
        return seen

    seen = await asyncio.gather(*(drain(intake) for intake in intakes))

    assert sum(len(ids) for ids in seen) == 500
    assert set().union(*seen) == submitted
    assert await client.xlen(keys.results) == 500
    assert await _pending(client, keys) == {}


async def test_group_is_recreated_after_the_stream_is_deleted(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """NOGROUP (stream deleted between calls) and UNBLOCKED (deleted while blocked) recreate the group."""
    intake = await make_intake()
    await add(client, keys.stream, ENVELOPE)
    await client.delete(keys.stream)

    assert await intake.next_batch(10, 0) == []
    assert await intake.backlog() == (0, None)
    entry_id = await add(client, keys.stream, ENVELOPE)
    assert [i.entry_id for i in await intake.next_batch(10, 0)] == [entry_id]

    blocked = asyncio.create_task(intake.next_batch(10, 3000))
    await asyncio.sleep(0.3)
    await client.delete(keys.stream)
    await asyncio.sleep(0.3)
    later = await add(client, keys.stream, ENVELOPE)
    assert [(i.entry_id, i.deliveries) for i in await blocked] == [(later, 1)]


async def test_submit_is_idempotent_for_the_same_envelope(
    client: aioredis.Redis, keys: Keys
) -> None:
    """The same bytes submitted twice are one entry (same id); other bytes are another entry."""
    first = await submit(client, keys.stream, ENVELOPE)
    again = await submit(client, keys.stream, ENVELOPE)
    other = await submit(client, keys.stream, ENVELOPE + b" ")

    assert again == first != other
    assert await client.xlen(keys.stream) == 2
    remembered = submitted_key(keys.stream, ENVELOPE)
    assert 0 < await client.ttl(remembered) <= SUBMIT_DEDUPE_S
    await client.delete(remembered, submitted_key(keys.stream, ENVELOPE + b" "))


class _LoseFirstEvalReply:
    """A loopback proxy to Redis that executes the first EVAL but drops the connection instead
    of returning its reply, as a timeout after the server acted would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.lost = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> _LoseFirstEvalReply:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        eval_sent = asyncio.Event()

        async def upstream() -> None:
            while data := await reader.read(65_536):
                if b"EVAL" in data:
                    eval_sent.set()
                up_writer.write(data)
                await up_writer.drain()

        async def downstream() -> None:
            while data := await up_reader.read(65_536):
                if eval_sent.is_set() and self.lost == 0:
                    self.lost += 1  # the server has run the script: its reply never arrives
                    writer.transport.abort()
                    up_writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()

        for pipe in (upstream(), downstream()):
            task = asyncio.create_task(pipe)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def test_a_retried_submit_whose_reply_was_lost_adds_one_entry(
    client: aioredis.Redis, keys: Keys
) -> None:
    """redis-py retries a submit whose reply was lost after Redis ran it: still one entry, and
    the id returned is that entry's."""
    where = client.get_connection_kwargs()
    async with _LoseFirstEvalReply((where["host"], where["port"])) as proxy:
        # A default client: redis-py retries a call that lost its connection.
        retrying = aioredis.Redis(host="127.0.0.1", port=proxy.port, db=where.get("db", 0))
        try:
            entry_id = await submit(retrying, keys.stream, ENVELOPE)
        finally:
            await retrying.aclose()

    assert proxy.lost == 1
    entries = await client.xrange(keys.stream)
    assert [e[0].decode() for e in entries] == [entry_id]
    await client.delete(submitted_key(keys.stream, ENVELOPE))


async def test_unreachable_server_raises_stream_unavailable() -> None:
    """A closed port gives StreamUnavailable from every call, with the cause and no envelope bytes."""
    url = f"redis://127.0.0.1:{_closed_port()}/0?socket_connect_timeout=0.5&socket_timeout=0.5"
    intake = StreamIntake(StreamSettings(url=url, consumer="c1"))
    client = aioredis.Redis.from_url(url)
    item = StreamItem("1-0", ENVELOPE, None, 1, 0.0)
    try:
        calls: list[Callable[[], Awaitable[object]]] = [
            intake.start,
            lambda: intake.next_batch(10, 100),
            lambda: intake.complete(
                item, status="filled", reason=None, intent_id=None, result="{}"
            ),
            intake.backlog,
            intake.dead_letters,
            lambda: submit(client, "s", b"do-not-leak-this-envelope"),
        ]
        for call in calls:
            with pytest.raises(StreamUnavailable) as raised:
                await call()
            assert isinstance(raised.value.cause, redis.ConnectionError)
            assert raised.value.__cause__ is raised.value.cause
            assert "do-not-leak" not in str(raised.value)
            assert "signature" not in str(raised.value)
    finally:
        await intake.aclose()
        await client.aclose()


async def test_server_that_never_answers_raises_stream_unavailable() -> None:
    """A server that accepts but stays silent times out into StreamUnavailable."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0?socket_connect_timeout=0.3&socket_timeout=0.3"
    intake = StreamIntake(StreamSettings(url=url, consumer="c1"))
    try:
        with pytest.raises(StreamUnavailable) as raised:
            await intake.next_batch(10, 100)
        assert isinstance(raised.value.cause, redis.TimeoutError | redis.ConnectionError)
    finally:
        await intake.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_backlog_counts_unacknowledged_entries_and_the_oldest_age(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """backlog is what the stream still holds (undelivered and pending: answered entries are
    deleted), aged from the oldest of them."""
    now = [0.0]
    intake = await make_intake(clock=lambda: now[0])
    assert await intake.backlog() == (0, None)
    ids = [await add(client, keys.stream, ENVELOPE) for _ in range(4)]
    now[0] = entry_millis(ids[0]) / 1000 + 42.0

    assert await intake.backlog() == (4, pytest.approx(42.0))
    items = await intake.next_batch(2, 0)
    assert await intake.backlog() == (4, pytest.approx(42.0))

    await intake.complete(items[0], status="filled", reason=None, intent_id=None, result="{}")
    expected_age = now[0] - entry_millis(ids[1]) / 1000
    assert await intake.backlog() == (3, pytest.approx(expected_age))

    await intake.complete(items[1], status="filled", reason=None, intent_id=None, result="{}")
    await client.xdel(keys.stream, ids[2])  # a submitter taking one back: not counted
    expected_age = now[0] - entry_millis(ids[3]) / 1000
    assert await intake.backlog() == (1, pytest.approx(expected_age))

    (last,) = await intake.next_batch(10, 0)
    await intake.complete(last, status="filled", reason=None, intent_id=None, result="{}")
    assert await intake.backlog() == (0, None)
    assert await client.xlen(keys.stream) == 0  # answered entries do not pile up


async def test_block_is_shortened_to_fit_under_the_socket_timeout(
    redis_url: str, keys: Keys
) -> None:
    """A block longer than the socket timeout returns empty early instead of timing out."""
    client = aioredis.Redis.from_url(_with_query(redis_url, "socket_timeout=1"))
    intake = StreamIntake(
        StreamSettings(url=redis_url, consumer="c1", stream=keys.stream), client=client
    )
    try:
        await intake.start()
        started = time.monotonic()
        assert await intake.next_batch(10, 5000) == []
        assert time.monotonic() - started < 1.0
        await intake.aclose()
        assert await client.ping()  # the injected client is the caller's to close
    finally:
        await client.aclose()


async def test_client_that_decodes_responses_is_refused() -> None:
    """Envelopes are bytes: a client built with decode_responses=True is a ValueError."""
    url = "redis://127.0.0.1:6379/0"  # never connected to
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            StreamIntake(StreamSettings(url=url, consumer="c1"), client=client)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("fields", "deliveries", "expected"),
    [
        ({b"intent": b"abc"}, 1, StreamItem("1-0", b"abc", None, 1, 5.0)),
        ({b"intent": b"abc", b"x": b"y"}, 3, StreamItem("1-0", b"abc", None, 3, 5.0)),
        ({b"intent": b"abc"}, 4, "delivered 4 times without reaching a terminal state"),
        ({b"x": b"y"}, 1, "malformed entry: no 'intent' field (1 other field)"),
        ({b"intent": b""}, 9, "malformed entry: the 'intent' field is empty"),
        ({b"intent": b"123456789"}, 1, Reason.TOO_LARGE),
        ({}, 2, None),
        (None, 2, None),
    ],
    ids=["ok", "extra-fields", "too-often", "no-intent", "empty", "too-large", "deleted", "nil"],
)
def test_sort_entry_table(
    fields: dict[bytes, bytes] | None, deliveries: int, expected: object
) -> None:
    """Each kind of entry is sorted into an item, a dead letter with its reason, or nothing."""
    sorted_entry = sort_entry(
        "1-0", fields, deliveries=deliveries, received_at=5.0, max_deliveries=3, max_entry_bytes=8
    )
    if isinstance(expected, Reason):
        assert isinstance(sorted_entry, StreamItem)
        assert sorted_entry.raw is None
        assert sorted_entry.unreadable is not None
        assert sorted_entry.unreadable.reason is expected
    elif isinstance(expected, str):
        assert isinstance(sorted_entry, DeadLetter)
        assert sorted_entry.reason == expected
        assert sorted_entry.deliveries == deliveries
    else:
        assert sorted_entry == expected


def test_dead_letter_keeps_every_original_field() -> None:
    """Original fields named like the dead-letter metadata are kept under an original: prefix."""
    letter = DeadLetter("1-0", "why", 2, {b"reason": b"r", b"original:reason": b"o", b"a": b"b"})

    assert letter.fields() == {
        b"entry_id": b"1-0",
        b"reason": b"why",
        b"deliveries": b"2",
        b"original:reason": b"r",
        b"original:original:reason": b"o",
        b"a": b"b",
    }


@pytest.mark.parametrize(
    ("block_ms", "socket_timeout_s", "expected"),
    [
        (0, 10.0, None),
        (-5, 10.0, None),
        (2000, 10.0, 2000),
        (20_000, 10.0, 9000),
        (5000, 1.0, 500),
        (5000, None, 5000),
        (5000, 0.001, 1),
    ],
)
def test_block_within_table(
    block_ms: int, socket_timeout_s: float | None, expected: int | None
) -> None:
    """A block never reaches the socket timeout, and 0 or less means no BLOCK at all."""
    assert block_within(block_ms, socket_timeout_s) == expected


@pytest.mark.parametrize(
    ("message", "missing"),
    [
        ("NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option", True),
        ("UNBLOCKED the stream key no longer exists", True),
        ("UNBLOCKED the consumer group this client was blocked on no longer exists", True),
        ("UNBLOCKED client unblocked via CLIENT UNBLOCK", False),
        ("BUSYGROUP Consumer Group name already exists", False),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
    ],
)
def test_group_missing_table(message: str, missing: bool) -> None:
    """Only NOGROUP and a block released by a deleted stream or group mean the group is gone."""
    assert group_missing(message) is missing


async def test_idle_consumers_with_nothing_pending_are_forgotten(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """Stopped replicas' consumer names leave the group; this replica's name, and a consumer
    that still holds an entry however long idle, stay."""
    intake = await make_intake("c1", forget_idle_ms=20)
    assert await intake.next_batch(1, 0) == []  # c1 is now a consumer of the group
    for gone in ("host-101", "host-102"):
        await client.xgroup_createconsumer(keys.stream, keys.group, gone)
    await add(client, keys.stream, ENVELOPE)
    await client.xreadgroup(keys.group, "holder", {keys.stream: ">"}, count=1)
    await asyncio.sleep(0.05)
    assert await intake.forget_idle_consumers() == ["host-101", "host-102"]
    left = {c["name"].decode() for c in await client.xinfo_consumers(keys.stream, keys.group)}
    assert left == {"c1", "holder"}
    assert [consumer for consumer, _ in (await _pending(client, keys)).values()] == ["holder"]


async def test_a_recently_active_consumer_is_not_forgotten(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """A consumer idle for less than forget_idle_ms stays in the group."""
    intake = await make_intake("c1", forget_idle_ms=60_000)
    await client.xgroup_createconsumer(keys.stream, keys.group, "host-103")
    assert await intake.forget_idle_consumers() == []
    left = {c["name"].decode() for c in await client.xinfo_consumers(keys.stream, keys.group)}
    assert "host-103" in left


async def test_forgetting_consumers_of_a_missing_group_forgets_none(
    client: aioredis.Redis, keys: Keys, make_intake: MakeIntake
) -> None:
    """With the group gone (the stream deleted) there is nothing to forget, and no error."""
    intake = await make_intake("c1", forget_idle_ms=1)
    await client.delete(keys.stream)
    assert await intake.forget_idle_consumers() == []
