"""The unauthenticated metrics listener: loopback by default (in the configuration and in the
socket a running daemon actually opens), bounded requests, and nothing in it that names a
wallet or an intent."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import agent.app.health_server
from agent.app.daemon import Daemon
from agent.config import AgentConfig, MetricsConfig, load_config
from tests.security.conftest import Bench, make_bench
from tests.support.processes import wait_for


def _host(listen: str) -> str:
    return listen.rpartition(":")[0]


def test_the_built_in_default_is_loopback() -> None:
    """Without any configuration the listener's address is 127.0.0.1:9108."""
    assert MetricsConfig().listen == "127.0.0.1:9108"


@pytest.mark.parametrize("name", ["local.toml", "devnet.toml", "mainnet-dryrun.toml"])
def test_every_shipped_configuration_listens_on_loopback(
    config_dir: Path, tmp_path: Path, name: str
) -> None:
    """Each configuration in configs/ loads with the metrics listener on a loopback address."""
    config = load_config(config_dir / name, home=str(tmp_path), environ={})
    assert config.metrics.enabled
    assert ipaddress.ip_address(_host(config.metrics.listen)).is_loopback


def test_a_configuration_without_a_listen_key_gets_loopback(
    config_dir: Path, tmp_path: Path
) -> None:
    """Leaving metrics.listen out of the file falls back to loopback, not to every interface."""
    local = config_dir / "local.toml"
    text = local.read_text()
    assert 'listen = "127.0.0.1:9108"' in text
    local.write_text(text.replace('listen = "127.0.0.1:9108"\n', ""))
    config = load_config(local, home=str(tmp_path), environ={})
    assert config.metrics.listen == "127.0.0.1:9108"


def _listening_sockets() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket of this process in the LISTEN state."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:
                    continue
                address_hex, port_hex = local.split(":")
                raw = bytes.fromhex(address_hex)
                # /proc prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add((str(ipaddress.ip_address(words)), int(port_hex, 16)))
    return found


def _non_loopback_address() -> str | None:
    """An address of this host on a real interface, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address


async def _exchange(host: str, port: int, request: bytes, timeout_s: float = 10.0) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout_s)
    finally:
        writer.close()


@pytest.fixture(name="served")
async def _served(
    make_config: Callable[..., AgentConfig],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Daemon, Bench, list[tuple[Any, ...]]]]:
    """A running daemon with the metrics listener as configured by default. The only change:
    the port it asked for is swapped for a free one (the host it asked for is kept), so that
    the test never collides with another agent on 9108. Yields (daemon, bench, (host, port)
    requested)."""
    bench = await make_bench(make_config, sqlite_url)
    assert bench.home.config.metrics.listen == "127.0.0.1:9108"
    requested: list[tuple[Any, ...]] = []
    real_start_server = asyncio.start_server

    async def start_server(callback: Any, host: Any, port: Any, **kwargs: Any) -> asyncio.Server:
        requested.append((host, port))
        return await real_start_server(callback, host, 0, **kwargs)

    monkeypatch.setattr(agent.app.health_server.asyncio, "start_server", start_server)
    daemon = Daemon(bench.home.runtime(), serve_metrics=True)
    task = asyncio.create_task(daemon.run())
    try:
        for _ in range(200):
            if daemon._server is not None and daemon.runtime.pipeline.replica_id:
                break
            await asyncio.sleep(0.05)
        assert daemon._server is not None
        yield daemon, bench, requested
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)
        bench.close()


async def test_a_running_daemon_listens_on_loopback_only(
    served: tuple[Daemon, Bench, list[tuple[Any, ...]]],
) -> None:
    """A running daemon's only listening socket is 127.0.0.1; the host's network address is refused."""
    daemon, _, requested = served
    assert requested == [("127.0.0.1", 9108)]
    assert daemon._server is not None
    port = daemon._server.port
    listening = _listening_sockets()
    assert listening == {("127.0.0.1", port)}
    answer = await _exchange("127.0.0.1", port, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
    outside = _non_loopback_address()
    if outside is not None:
        with pytest.raises(OSError):
            await _exchange(outside, port, b"GET /healthz HTTP/1.1\r\n\r\n")


async def test_the_metrics_name_no_wallet_intent_or_signature(
    served: tuple[Daemon, Bench, list[tuple[Any, ...]]],
) -> None:
    """After fills, /metrics names no wallet address, intent id or signature."""
    daemon, bench, _ = served
    assert daemon._server is not None
    valid = bench.drop_valid(3)
    for _ in range(200):
        if daemon.stats.processed >= 3:
            break
        await asyncio.sleep(0.05)
    assert daemon.stats.filled == 3
    body = await _exchange("127.0.0.1", daemon._server.port, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert b"otc_agent_intents_total" in body
    intents = await bench.intents()
    secrets_of_trade = {bench.home.desk.pubkey(), bench.home.treasury.pubkey()}
    needles = [str(key) for key in secrets_of_trade] + [s.intent_id for s in valid.values()]
    needles += [row.signature for row in intents.values()]
    assert [needle for needle in needles if needle.encode() in body] == []


async def test_oversized_and_silent_requests_are_cut_off(
    served: tuple[Daemon, Bench, list[tuple[Any, ...]]],
) -> None:
    """An oversized request head gets 400, a silent client is dropped in time, and it still answers."""
    daemon, _, _ = served
    assert daemon._server is not None
    port = daemon._server.port
    huge = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 200_000 + b"\r\n\r\n"
    with_huge = await _exchange("127.0.0.1", port, huge)
    assert with_huge.startswith(b"HTTP/1.1 400")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        silent = await asyncio.wait_for(
            reader.read(), agent.app.health_server.REQUEST_TIMEOUT_S + 5
        )
    finally:
        writer.close()
    assert silent.startswith(b"HTTP/1.1 400")
    answer = await _exchange("127.0.0.1", port, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")


async def _ready() -> tuple[bool, str]:
    return True, "ready"


class _LargeCollector:
    """About 4 MB of exposition: more than a client's socket buffers hold unread."""

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("otc_agent_test_padding", "padding", labels=["n"])
        for n in range(60_000):
            family.add_metric([f"{n:064d}"], n)
        yield family


@pytest.fixture(name="small_server")
async def _small_server() -> AsyncIterator[agent.app.health_server.MetricsServer]:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(_LargeCollector())  # type: ignore[arg-type]
    server = agent.app.health_server.MetricsServer(
        registry,
        host="127.0.0.1",
        port=0,
        readiness=_ready,
        max_connections=2,
        timeout_s=0.5,
    )
    await server.start()
    yield server
    await server.aclose()


async def test_connections_over_the_limit_are_closed_unanswered(
    small_server: agent.app.health_server.MetricsServer,
) -> None:
    """With the connection limit held by idle clients, another connection is closed at once
    without an answer; once they are dropped, requests are answered again."""
    idle = [await asyncio.open_connection("127.0.0.1", small_server.port) for _ in range(2)]
    try:
        await wait_for(lambda: small_server.open_connections == 2, "2 open", within_s=2)
        reader, writer = await asyncio.open_connection("127.0.0.1", small_server.port)
        try:
            refused = await asyncio.wait_for(reader.read(), 0.4)  # well before the idle timeout
        except ConnectionResetError:
            refused = b""
        finally:
            writer.close()
        assert refused == b""
    finally:
        for _, idle_writer in idle:
            idle_writer.close()
    await wait_for(lambda: small_server.open_connections == 0, "none open", within_s=2)
    answer = await _exchange("127.0.0.1", small_server.port, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")


async def test_a_client_that_stops_reading_is_dropped(
    small_server: agent.app.health_server.MetricsServer,
) -> None:
    """A scrape whose client never reads the (large) answer frees its connection after the
    timeout instead of holding it for ever."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", small_server.port))
    try:
        client.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        await wait_for(lambda: small_server.open_connections == 1, "1 open", within_s=2)
        await wait_for(lambda: small_server.open_connections == 0, "dropped", within_s=5)
    finally:
        client.close()
