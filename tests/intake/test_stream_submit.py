"""Submitting to the intents stream against a real Redis (OTC_AGENT_TEST_REDIS_URL): one entry
per envelope, even when a reply was lost and the call retried."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from agent.intake.stream_submit import SUBMIT_DEDUPE_S, submit, submitted_key
from tests.conftest import unique_key

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
    client: aioredis.Redis, stream: str
) -> None:
    """redis-py retries a submit whose reply was lost after Redis ran it: still one entry, and
    the id returned is that entry's."""
    where = client.get_connection_kwargs()
    async with _LoseFirstEvalReply((where["host"], where["port"])) as proxy:
        # A default client: redis-py retries a call that lost its connection.
        retrying = aioredis.Redis(host="127.0.0.1", port=proxy.port, db=where.get("db", 0))
        try:
            entry_id = await submit(retrying, stream, ENVELOPE)
        finally:
            await retrying.aclose()

    assert proxy.lost == 1
    entries = await client.xrange(stream)
    assert [e[0].decode() for e in entries] == [entry_id]
    await client.delete(submitted_key(stream, ENVELOPE))
