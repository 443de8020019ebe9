"""The daemon on a Redis stream: entries become submissions, outcomes are published and
acknowledged, malformed entries are dead-lettered, and a Redis restart only pauses the
stream."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from solders.keypair import Keypair

from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from agent.store.models import SubmissionRow
from tests.conftest import unique_key
from tests.support.agent_home import AgentHome
from tests.support.ports import free_port


def _stream_env(url: str, prefix: str) -> dict[str, str]:
    return {
        "intake__redis__enabled": "true",
        "intake__redis__url": url,
        "intake__redis__stream": f"{prefix}:intents",
        "intake__redis__group": f"{prefix}:group",
        "intake__redis__results_stream": f"{prefix}:results",
        "intake__redis__dead_letter_stream": f"{prefix}:dead",
        "intake__redis__consumer": "replica-a",
        "intake__redis__block_ms": "200",
        "execution__honour_execution_delay": "false",
        "execution__mode": "paper",
    }


async def _home(make_config: Callable[..., AgentConfig], sqlite_url: str, **env: str) -> AgentHome:
    config = make_config(sqlite_url, **env)
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    IntakeLayout(home.root).ensure()
    return home


def _add(client: redis.Redis, stream: str, home: AgentHome, count: int, seed: int) -> list[str]:
    mix = home.mix(seed)
    return [client.xadd(stream, {"intent": mix.next(0.1)[2]}).decode() for _ in range(count)]


async def test_daemon_answers_every_entry_and_dead_letters_the_malformed(
    make_config: Callable[..., AgentConfig], sqlite_url: str, redis_url: str
) -> None:
    """40 intents and 2 malformed entries: 40 submissions in SQL and 40 results, 2 dead
    letters with reasons, nothing left pending."""
    prefix = unique_key("daemon")
    home = await _home(make_config, sqlite_url, **_stream_env(redis_url, prefix))
    client = redis.Redis.from_url(redis_url)
    try:
        entry_ids = _add(client, f"{prefix}:intents", home, 40, seed=3)
        client.xadd(f"{prefix}:intents", {"not-intent": b"x"})
        client.xadd(f"{prefix}:intents", {"intent": b""})
        daemon = home.daemon()
        stats = await daemon.run(once=True)
        assert stats.processed == 40
        refs = {row.ref for row in await home.rows(SubmissionRow.__table__)}
        assert refs == set(entry_ids)
        results = client.xrange(f"{prefix}:results")
        assert sorted(fields[b"entry_id"].decode() for _, fields in results) == sorted(entry_ids)
        dead = client.xrange(f"{prefix}:dead")
        assert len(dead) == 2 and all(b"malformed" in fields[b"reason"] for _, fields in dead)
        assert client.xpending(f"{prefix}:intents", f"{prefix}:group")["pending"] == 0
    finally:
        client.delete(*(f"{prefix}:{name}" for name in ("intents", "results", "dead")))
        client.close()


@pytest.fixture(name="private_redis")
def _private_redis(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """A redis-server of the test's own, persisting every write, that the test may kill."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()
        return proc

    start.port = port  # type: ignore[attr-defined]
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_redis_restart_pauses_the_stream_and_loses_nothing(
    make_config: Callable[..., AgentConfig], sqlite_url: str, private_redis
) -> None:  # type: ignore[no-untyped-def]
    """Redis killed mid-run and started again: /readyz-style readiness says so meanwhile, and
    every entry still reaches exactly one terminal state and is acknowledged."""
    server = private_redis()
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    prefix = "restart"
    home = await _home(
        make_config, sqlite_url, **_stream_env(url, prefix), database__retry_max_backoff_s="0.5"
    )
    client = redis.Redis.from_url(url)
    entry_ids = _add(client, f"{prefix}:intents", home, 150, seed=5)
    daemon = home.daemon()
    running = asyncio.create_task(daemon.run())
    try:
        for _ in range(1500):
            if daemon.stats.processed >= 30:
                break
            await asyncio.sleep(0.02)
        server.send_signal(signal.SIGKILL)
        server.wait()
        for _ in range(200):
            ready, detail = await daemon._readiness()
            if not ready:
                break
            await asyncio.sleep(0.05)
        assert not ready and "redis unavailable" in detail
        processed_while_down = daemon.stats.processed
        await asyncio.sleep(1.0)
        private_redis()
        deadline = time.monotonic() + 60
        while client.xpending(f"{prefix}:intents", f"{prefix}:group")["pending"] or len(
            await home.rows(SubmissionRow.__table__)
        ) < len(entry_ids):
            assert time.monotonic() < deadline, "the stream did not resume"
            await asyncio.sleep(0.2)
        assert (await daemon._readiness())[0]
        assert daemon.stats.processed > processed_while_down
    finally:
        daemon.stop()
        await asyncio.wait_for(running, 30)
        client.close()
    refs = [row.ref for row in await home.rows(SubmissionRow.__table__)]
    assert sorted(refs) == sorted(entry_ids)


async def test_a_redis_error_pauses_the_stream_while_the_folder_goes_on(
    make_config: Callable[..., AgentConfig], sqlite_url: str, redis_url: str
) -> None:
    """A stream key of the wrong type (any Redis error, not only a lost connection) pauses the
    stream: the folder keeps being processed, readiness names Redis, and once the key is fixed
    the stream's entries are processed too."""
    prefix = unique_key("wrongtype")
    home = await _home(
        make_config,
        sqlite_url,
        **_stream_env(redis_url, prefix),
        database__retry_max_backoff_s="0.3",
    )
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}:dead", b"not a stream")
    try:
        entry_ids = _add(client, f"{prefix}:intents", home, 10, seed=6)
        home.feed(10, invalid_share=0.0, seed=7)
        daemon = home.daemon()
        running = asyncio.create_task(daemon.run())
        try:
            for _ in range(600):
                if daemon.stats.processed >= 10:
                    break
                await asyncio.sleep(0.05)
            assert daemon.stats.processed == 10  # the folder's; the stream is paused
            ready, detail = await daemon._readiness()
            assert not ready and "redis unavailable" in detail
            client.delete(f"{prefix}:dead")
            for _ in range(600):
                if daemon.stats.processed >= 20:
                    break
                await asyncio.sleep(0.05)
            assert daemon.stats.processed == 20
        finally:
            daemon.stop()
            await asyncio.wait_for(running, 30)
        refs = {row.ref for row in await home.rows(SubmissionRow.__table__)}
        assert set(entry_ids) <= refs
    finally:
        client.delete(*(f"{prefix}:{name}" for name in ("intents", "results", "dead")))
        client.close()
