"""The same hostile intents through the Redis stream (whoever can XADD to it): each is rejected
with its reason and published as such, oversized and field-less entries are answered or
dead-lettered, a copy sent through both intakes trades once, and valid entries still fill."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis

from agent.config import AgentConfig
from tests.conftest import unique_key
from tests.security.conftest import STRANGER, Bench, make_bench
from tests.security.test_intent_attacks import _edited, _signed_as

MAX_FILE_BYTES = 65_536


@pytest.fixture(name="streamed")
async def _streamed(
    make_config: Callable[..., AgentConfig], sqlite_url: str, redis_url: str
) -> AsyncIterator[tuple[Bench, redis.Redis, str]]:
    """A paper-mode bench reading its own streams beside the folder; (bench, client, prefix)."""
    prefix = unique_key("security")
    bench = await make_bench(
        make_config, sqlite_url,
        intake__redis__enabled="true", intake__redis__url=redis_url,
        intake__redis__stream=f"{prefix}:intents", intake__redis__group=f"{prefix}:group",
        intake__redis__results_stream=f"{prefix}:results",
        intake__redis__dead_letter_stream=f"{prefix}:dead",
        intake__redis__consumer="security", intake__redis__block_ms="200",
    )  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    try:
        yield bench, client, prefix
    finally:
        client.delete(*(f"{prefix}:{name}" for name in ("intents", "results", "dead")))
        client.close()
        bench.close()


async def test_hostile_entries_are_answered_with_their_reasons(
    streamed: tuple[Bench, redis.Redis, str],
) -> None:
    """Each kind of hostile stream entry is rejected or dead-lettered for what it is; valid ones fill."""
    bench, client, prefix = streamed
    stream = f"{prefix}:intents"
    original = bench.sign()
    attacks = {
        "forged": _signed_as(STRANGER, bench.draft()),
        "tampered": _edited(bench.sign().data, lambda d: d.__setitem__("amount", "9" * 12)),
        "replayed-id": original.data,
        "replayed-nonce": bench.sign(nonce=original.nonce).data,
        "cross-cluster": bench.sign(cluster="devnet").data,
        "expired": bench.sign(not_after=int(time.time()) - 1).data,
        "far-future": bench.sign(not_after=int(time.time()) + 3_600).data,
        "oversized": original.data + b" " * MAX_FILE_BYTES,
    }
    expected = {
        "forged": "bad_signature",
        "tampered": "bad_signature",
        "replayed-id": "replayed_id",
        "replayed-nonce": "replayed_nonce",
        "cross-cluster": "wrong_cluster",
        "expired": "expired",
        "far-future": "ttl_too_long",
        "oversized": "too_large",
    }
    first = client.xadd(stream, {"intent": original.data}).decode()
    valid = [bench.sign() for _ in range(3)]
    valid_ids = [client.xadd(stream, {"intent": signed.data}).decode() for signed in valid]
    await asyncio.wait_for(bench.run_once(), 60)  # the original fills first
    entries = {
        name: client.xadd(stream, {"intent": data}).decode() for name, data in attacks.items()
    }
    client.xadd(stream, {"payload": original.data})  # no intent field
    stats = await asyncio.wait_for(bench.run_once(), 60)
    assert stats.processed == len(attacks)

    published = {
        fields[b"entry_id"].decode(): fields for _, fields in client.xrange(f"{prefix}:results")
    }
    for name, entry_id in entries.items():
        assert published[entry_id][b"status"] == b"rejected", name
        assert published[entry_id][b"reason"].decode() == expected[name], name
    for entry_id in [first, *valid_ids]:
        assert published[entry_id][b"status"] == b"filled"
    [(_, dead)] = client.xrange(f"{prefix}:dead")
    assert b"malformed" in dead[b"reason"] and dead[b"payload"] == original.data
    assert client.xpending(stream, f"{prefix}:group")["pending"] == 0
    intents = await bench.intents()
    assert set(intents) == {original.intent_id, *(signed.intent_id for signed in valid)}
    assert {t.intent_id for t in await bench.trades()} == set(intents)
    oversized = published[entries["oversized"]]
    assert b'"too_large"' in oversized[b"result"] and original.data not in oversized[b"result"]


async def test_one_intent_through_both_intakes_trades_once(
    streamed: tuple[Bench, redis.Redis, str],
) -> None:
    """One intent through the folder and the stream fills once; the other copy is replayed_id."""
    bench, client, prefix = streamed
    signed = bench.sign()
    bench.drop("copy", signed.data)
    entry_id = client.xadd(f"{prefix}:intents", {"intent": signed.data}).decode()
    stats = await asyncio.wait_for(bench.run_once(), 60)
    assert stats.processed == 2
    endings = await bench.endings()
    folder = endings["copy.json"]
    [streamed_copy] = [e for e in endings.values() if e.ref == entry_id]
    outcomes = sorted(
        [(folder.status, folder.reason), (streamed_copy.status, streamed_copy.reason)]
    )
    assert outcomes == [("filled", None), ("rejected", "replayed_id")]
    trades = [t for t in await bench.trades() if t.intent_id == signed.intent_id]
    assert trades and len({t.leg_index for t in trades}) == len(trades)
    [(_, published)] = client.xrange(f"{prefix}:results")
    assert published[b"status"].decode() == streamed_copy.status
    if folder.status == "filled":
        result = json.loads((bench.root / "out" / f"{signed.intent_id}.result.json").read_text())
        assert result["status"] == "filled"
    else:
        result = json.loads((bench.root / "out" / f"{folder.ref}.result.json").read_text())
        assert result["reason"] == "replayed_id"
