"""A small asyncio HTTP server for /metrics, /healthz and /readyz, inside the daemon's loop.

It speaks just enough HTTP/1.1 for Prometheus and probes: GET only, one request per
connection, bounded request size and time, a bounded number of connections at once (a
connection over the limit is closed unanswered, so idle or unread ones cannot exhaust the
daemon's file descriptors). Bound to loopback by default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["MetricsServer"]

log = structlog.get_logger("agent.http")

MAX_REQUEST_BYTES = 8192
# Reading the request, and separately writing the answer (a client that stops reading).
REQUEST_TIMEOUT_S = 5.0
# Prometheus and a couple of probes need a handful.
MAX_CONNECTIONS = 32


class MetricsServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str,
        port: int,
        readiness: Callable[[], Awaitable[tuple[bool, str]]],
        max_connections: int = MAX_CONNECTIONS,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._readiness = readiness
        self._max_connections = max_connections
        self._timeout_s = timeout_s
        self._server: asyncio.Server | None = None
        self.open_connections = 0

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        log.info("metrics_listening", host=self._host, port=self.port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open_connections >= self._max_connections:
            writer.transport.abort()
            return
        self.open_connections += 1
        try:
            await self._answer(reader, writer)
        finally:
            self.open_connections -= 1

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._timeout_s)
            if len(head) > MAX_REQUEST_BYTES:
                raise ValueError("request too large")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            status, content_type, body = await self._route(method, target.split("?", 1)[0])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        reason = {
            200: "OK",
            400: "Bad Request",
            404: "Not Found",
            405: "Method Not Allowed",
            503: "Service Unavailable",
        }[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
            + body
        )
        try:
            await asyncio.wait_for(writer.drain(), self._timeout_s)
        except (TimeoutError, ConnectionError):
            writer.transport.abort()  # the client stopped reading (or left): drop what is unsent
        finally:
            writer.close()

    async def _route(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method != "GET":
            return 405, "text/plain", b"only GET\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            ready, detail = await self._readiness()
            return (200 if ready else 503), "text/plain", f"{detail}\n".encode()
        return 404, "text/plain", b"not found\n"
