"""Submitting to the intents stream against a real Redis (OTC_AGENT_TEST_REDIS_URL): one entry
per envelope, even when a reply was lost and the call retried."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from agent.intake.stream.submit import SUBMIT_DEDUPE_S, submit, submitted_key
from tests.conftest import unique_key
from tests.support.tcp_proxy import TcpProxy

ENVELOPE = b'{"message": "{}", "signature": "x", "format": "solana-offchain-v1"}'


@pytest.fixture(name="stream")
async def _stream(client: aioredis.Redis) -> AsyncIterator[str]:
    stream = unique_key("intents")
    yield stream
    await client.delete(stream)


async def test_submit_is_idempotent_for_the_same_envelope(
    client: aioredis.Redis, stream: str
) -> None:
    """The same bytes submitted twice are one entry (same id); other bytes are another entry."""
    first = await submit(client, stream, ENVELOPE)
    again = await submit(client, stream, ENVELOPE)
    other = await submit(client, stream, ENVELOPE + b" ")

    assert again == first != other
    assert await client.xlen(stream) == 2
    remembered = submitted_key(stream, ENVELOPE)
    assert 0 < await client.ttl(remembered) <= SUBMIT_DEDUPE_S
    await client.delete(remembered, submitted_key(stream, ENVELOPE + b" "))


class _LoseFirstEvalReply(TcpProxy):
    """A loopback proxy to Redis that passes the first EVAL on but drops the connection instead
    of returning its reply, as a timeout after the server acted would."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.lost = 0
        self._eval_sent = False

    def passes(self, data: bytes, *, to_server: bool) -> bool:
        if to_server:
            self._eval_sent = self._eval_sent or b"EVAL" in data
            return True
        if self._eval_sent and self.lost == 0:
            self.lost += 1  # the server has run the script: its reply never arrives
            return False
        return True


async def test_a_retried_submit_whose_reply_was_lost_adds_one_entry(
    client: aioredis.Redis, stream: str
) -> None:
    """redis-py retries a submit whose reply was lost after Redis ran it: still one entry, and
    the id returned is that entry's."""
    where = client.get_connection_kwargs()
    proxy = _LoseFirstEvalReply(where["host"], where["port"])
    await proxy.start()
    # A default client: redis-py retries a call that lost its connection.
    retrying = aioredis.Redis(host="127.0.0.1", port=proxy.port, db=where.get("db", 0))
    try:
        entry_id = await submit(retrying, stream, ENVELOPE)
    finally:
        await retrying.aclose()
        await proxy.cut()

    assert proxy.lost == 1
    entries = await client.xrange(stream)
    assert [e[0].decode() for e in entries] == [entry_id]
    await client.delete(submitted_key(stream, ENVELOPE))
