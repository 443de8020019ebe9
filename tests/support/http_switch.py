"""A loopback HTTP server whose behaviour a test switches mid-run: answer, fail, hang, or go away.

Stands in for a public API (a price source) that goes down and comes back. Every request is
answered by the current :attr:`SwitchableServer.mode`:

* ``"ok"``: 200 with the configured JSON body;
* ``"500"``, ``"503"``: that status with a small error body;
* ``"hang"``: read the request and never answer (the client's timeout must fire);
* ``"refuse"``: stop listening altogether (:meth:`refuse`; connections are refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Literal

from onchain.localnet import end_connections

__all__ = ["SwitchableServer"]

Mode = Literal["ok", "500", "503", "hang"]


class SwitchableServer:
    def __init__(self, body: bytes, mode: Mode = "ok") -> None:
        self.body = body
        self.mode: Mode = mode
        # (request line, the mode it met, when it arrived: unix seconds)
        self.requests: list[tuple[str, Mode, float]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> SwitchableServer:
        """Listen (again, on the same port once it had one)."""
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
            self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def refuse(self) -> None:
        """Stop listening and drop open connections: the port refuses from now on."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await end_connections(self._writers, self._connections)

    async def aclose(self) -> None:
        await self.refuse()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        mode = self.mode
        self.requests.append((lines[0], mode, time.time()))
        if mode == "hang":
            # Never answer; the task ends when the client gives up and closes the connection.
            while await reader.read(65_536):
                pass
            return False
        status, body = (200, self.body) if mode == "ok" else (int(mode), b'{"error":"down"}')
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        return True
