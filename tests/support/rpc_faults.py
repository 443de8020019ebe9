"""A fault-injecting HTTP proxy on loopback, in front of a JSON-RPC server, for tests.

A test decides what the proxy does with each request: pass it through, answer an HTTP error
(429 with or without Retry-After, 500, 503, ...), a garbage body, truncated JSON, hang (never
answer, so the client's timeout must fire), reset the connection, or forward the request and
lose the answer (the server acted; the client cannot know). Planned faults are used one per
request, in order; when none are left, ``rule`` (given the request's JSON-RPC method) decides
if set, else ``default`` applies.

Bounded: it listens on 127.0.0.1 and forwards to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx

from onchain.localnet import end_connections

__all__ = [
    "GARBAGE",
    "HANG",
    "LOST",
    "PASS",
    "RESET",
    "TRUNCATED",
    "Fault",
    "RpcFaultProxy",
    "Seen",
    "status",
]

LOOPBACK = "127.0.0.1"
FaultKind = Literal["pass", "status", "garbage", "truncated", "hang", "reset", "lost"]


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    status: int = 200
    retry_after: str | None = None


PASS = Fault("pass")
GARBAGE = Fault("garbage")  # 200 with an HTML page, as a captive proxy or load balancer sends
TRUNCATED = Fault("truncated")  # 200 with the first half of the real JSON answer
HANG = Fault("hang")  # read the request, never answer
RESET = Fault("reset")  # drop the connection without answering or forwarding
LOST = Fault("lost")  # forward, then drop the connection instead of relaying the answer


def status(code: int, retry_after: str | None = None) -> Fault:
    """Answer with this HTTP status (and Retry-After header if given) without forwarding."""
    return Fault("status", code, retry_after)


@dataclass(frozen=True, slots=True)
class Seen:
    method: str | None  # the JSON-RPC method; "batch" for a batch; None if unreadable
    fault: Fault
    at: float  # the event loop's clock when the request arrived


class RpcFaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = LOOPBACK) -> None:
        if upstream_host != LOOPBACK:
            raise ValueError("the fault proxy forwards to 127.0.0.1 only")
        self._upstream = httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{upstream_port}")
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[object]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._planned: deque[Fault] = deque()
        self.default = PASS
        # Decides the fault of a request nothing is planned for, by its method (None: default).
        self.rule: Callable[[str | None], Fault] | None = None
        self.seen: list[Seen] = []

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def plan(self, *faults: Fault) -> None:
        """What the next requests get, one fault each, before ``default`` applies again."""
        self._planned.extend(faults)

    def methods(self) -> list[str | None]:
        return [seen.method for seen in self.seen]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await end_connections(self._writers, self._connections)
        await self._upstream.aclose()

    async def __aenter__(self) -> RpcFaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _next_fault(self, method: str | None) -> Fault:
        if self._planned:
            return self._planned.popleft()
        return self.rule(method) if self.rule is not None else self.default

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,  # a request head it cannot read
            httpx.HTTPError,  # the upstream is gone: the client sees a dropped connection
        ):
            pass
        finally:
            self._writers.discard(writer)
            self._connections.discard(task)
            writer.transport.abort()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await reader.readexactly(length)
        method = _method(body)
        fault = self._next_fault(method)
        self.seen.append(Seen(method, fault, asyncio.get_running_loop().time()))
        if fault.kind == "hang":
            await reader.read()  # until the client gives up and closes
            return False
        if fault.kind == "reset":
            return False
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            await _respond(writer, fault.status, b"unavailable", "text/plain", headers)
            return True
        if fault.kind == "garbage":
            await _respond(writer, 200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return True
        answer = await self._upstream.post(
            "/", content=body, headers={"Content-Type": "application/json"}
        )
        if fault.kind == "lost":
            return False
        content = (
            answer.content[: len(answer.content) // 2]
            if fault.kind == "truncated"
            else answer.content
        )
        await _respond(writer, answer.status_code, content, "application/json")
        return True


def _method(body: bytes) -> str | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if isinstance(payload, list):
        return "batch"
    method = payload.get("method") if isinstance(payload, dict) else None
    return method if isinstance(method, str) else None


async def _respond(
    writer: asyncio.StreamWriter,
    code: int,
    body: bytes,
    content_type: str,
    extra: dict[str, str] | None = None,
) -> None:
    lines = [
        f"HTTP/1.1 {code} Fault",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (extra or {}).items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
