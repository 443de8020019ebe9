"""The stream's Redis client: outages become StreamUnavailable from every call, envelope bytes
kept out of it, and clients whose replies the intake cannot parse are refused. No Redis needed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
import redis
import redis.asyncio as aioredis

from agent.intake.stream.client import StreamUnavailable
from agent.intake.stream.entries import StreamItem
from agent.intake.stream.intake import StreamIntake, StreamSettings
from agent.intake.stream.submit import submit

ENVELOPE = b'{"message": "{}", "signature": "x", "format": "solana-offchain-v1"}'


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


async def test_client_that_decodes_responses_is_refused() -> None:
    """Envelopes are bytes: a client built with decode_responses=True is a ValueError."""
    url = "redis://127.0.0.1:6379/0"  # never connected to
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            StreamIntake(StreamSettings(url=url, consumer="c1"), client=client)
    finally:
        await client.aclose()
