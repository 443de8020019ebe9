"""The Redis stream intake against a real Redis (OTC_AGENT_TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from agent.domain.outcomes import Reason, Status
from agent.intake.stream.client import StreamUnavailable
from agent.intake.stream.entries import ENTRY_FIELD, entry_millis
from agent.intake.stream.intake import SOURCE, StreamIntake, StreamSettings
from agent.intake.stream.submit import submit
from tests.conftest import unique_key
from tests.support.tcp_proxy import TcpProxy

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


class _LoseDelivery(TcpProxy):
    """A loopback proxy to Redis that drops the first reply delivering new entries and stops
    taking connections, as Redis dying right after it delivered them would."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.lost = 0
        self._reading_new = False

    def passes(self, data: bytes, *, to_server: bool) -> bool:
        if to_server:
            self._reading_new = b"XREADGROUP" in data and b">" in data
            return True
        if self._reading_new and self.lost == 0 and data.startswith((b"*1\r\n", b"%1\r\n")):
            self.lost += 1
            # (A map or an array, as the client speaks RESP3 or RESP2.) Redis has delivered the
            # entries (they are pending for this consumer); the reply
            # never arrives, and neither does the client's retry.
            asyncio.get_running_loop().create_task(self.cut())
            return False
        return True


async def test_entries_whose_delivery_an_outage_cut_off_come_back_first(
    client: aioredis.Redis, keys: Keys
) -> None:
    """Entries Redis delivered just before an outage, whose reply never arrived, are handed
    out once it answers again (resumed), not only after claim_idle_s."""
    where = client.get_connection_kwargs()
    proxy = _LoseDelivery(where["host"], where["port"])
    await proxy.start()
    settings = StreamSettings(
        url=f"redis://127.0.0.1:{proxy.port}/{where.get('db', 0)}",
        consumer="c1",
        stream=keys.stream,
        results_stream=keys.results,
        dead_letter_stream=keys.dead_letter,
    )
    intake = StreamIntake(settings)
    try:
        await intake.start()
        entry = await add(client, keys.stream, ENVELOPE)
        with pytest.raises(StreamUnavailable):
            await intake.next_batch(10, 0)
        assert proxy.lost == 1
        assert (await _pending(client, keys))[entry][0] == "c1"  # delivered, never received
        await proxy.restore()
        (item,) = await intake.next_batch(10, 0)
    finally:
        await intake.aclose()
        await proxy.cut()
    assert (item.entry_id, item.resumed) == (entry, True)
