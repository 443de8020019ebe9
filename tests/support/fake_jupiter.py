"""A fake Jupiter on loopback speaking the documented /swap/v1 and /swap/v2/build shapes.

* Quotes follow a constant-product model per pair (``add_pair``), so a bigger amount gets a
  worse price and a higher ``priceImpactPct`` (here: the fraction ``x / (reserve_in + x)``).
  Unknown pairs answer 400 ``NO_ROUTES_FOUND``; ExactOut answers 400 ``NOT_SUPPORTED``.
* /swap-instructions and /build answer instructions built for the posted user
  (``userPublicKey`` / ``taker``) and the quote's mints by :func:`swap_instructions_doc`
  (in ``tests/support/jupiter_tamper.py``, re-exported here).
* ``tamper`` rewrites the instructions document before it is served (adversarial tests; the
  rewrites are in ``jupiter_tamper``), ``quote_tamper`` each quote; ``remaining_accounts``
  maps a quote's ``maxAccounts`` (default 64) to the number of pool accounts the swap carries.
* Faults are planned one per request (``plan``), or drawn at random for requests nothing is
  planned for (``chaos``, a seeded :class:`FaultMix`); an optional sliding-window limit answers
  429 with ``x-ratelimit-*`` headers like Jupiter's gateway. Every request is logged with a
  monotonic timestamp and the fault it got.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from solders.pubkey import Pubkey

from tests.support.jupiter_tamper import (
    ALT,
    DEFAULT_COMPUTE_UNIT_LIMIT,
    DEFAULT_COMPUTE_UNIT_PRICE,
    swap_instructions_doc,
)

__all__ = [
    "ALT",
    "ALT_ADDRESSES",
    "DEFAULT_COMPUTE_UNIT_LIMIT",
    "DEFAULT_COMPUTE_UNIT_PRICE",
    "SOL",
    "USDC",
    "FakeJupiter",
    "Fault",
    "FaultMix",
    "LoggedRequest",
    "Pool",
    "swap_instructions_doc",
]

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
DEEP_SOL_RESERVE = 400_000 * 10**9
DEEP_USDC_RESERVE = 60_000_000 * 10**6
ALT_ADDRESSES = [SOL, USDC]  # what the fake says the table holds (/build lists it)

FaultKind = Literal[
    "429", "429_reset", "500", "502", "503", "html", "garbage", "truncated", "wrong_shape",
    "hang", "401", "403", "ok",
]  # fmt: skip


@dataclass(frozen=True)
class Fault:
    """What to do with one request instead of answering it normally ("ok" = answer)."""

    kind: FaultKind
    retry_after: float | None = None  # Retry-After header (seconds) for 429/503
    reset_in: float = 1.0  # for 429_reset: x-ratelimit-reset = now + reset_in


# What an unhealthy API answers: throttling, server errors, silence and garbage of each kind.
CHAOS = (
    Fault("429", retry_after=0.2),
    Fault("500"),
    Fault("502"),
    Fault("503", retry_after=0.1),
    Fault("html"),
    Fault("hang"),
    Fault("garbage"),
    Fault("truncated"),
    Fault("wrong_shape"),
)


@dataclass
class FaultMix:
    """A seeded share of requests get one of ``kinds`` (drawn uniformly); the rest are answered."""

    rate: float
    rng: random.Random
    kinds: tuple[Fault, ...] = CHAOS

    def next(self) -> Fault:
        return self.rng.choice(self.kinds) if self.rng.random() < self.rate else Fault("ok")


@dataclass(frozen=True)
class Pool:
    reserve_in: int
    reserve_out: int
    fee_bps: int = 30
    amm_key: str = "HXpGFJGCEEFdV31tDmjDBaJMEB1fKLiAoKoWr3Fnonid"
    label: str = "Meteora DLMM"

    def out_for(self, amount: int) -> tuple[int, int, str]:
        """(out, fee, price impact as a decimal string) of an ExactIn swap of ``amount``."""
        fee = amount * self.fee_bps // 10_000
        x = amount - fee
        out = self.reserve_out * x // (self.reserve_in + x)
        return out, fee, f"{x / (self.reserve_in + x):.10f}"


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    t: float  # time.monotonic() when the head was read
    status: int = 0
    fault: FaultKind = "ok"


@dataclass
class FakeJupiter:
    pools: dict[tuple[str, str], Pool] = field(default_factory=dict)
    limit: int | None = None  # requests allowed per sliding window (None: unlimited)
    window_s: float = 60.0
    requests: list[LoggedRequest] = field(default_factory=list)
    compute_unit_limit: int = DEFAULT_COMPUTE_UNIT_LIMIT
    # rewrites each instructions document (v1 body, /build's instruction part) before serving
    tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    quote_tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    remaining_accounts: Callable[[int], int] | None = None
    chaos: FaultMix | None = None  # faults for requests nothing was planned for
    _max_accounts: dict[str, int] = field(default_factory=dict)  # quote JSON -> maxAccounts
    _faults: deque[Fault] = field(default_factory=deque)
    _served: deque[float] = field(default_factory=deque)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def add_pair(
        self, mint_a: str, mint_b: str, reserve_a: int, reserve_b: int, fee_bps: int = 30
    ) -> None:
        self.pools[(mint_a, mint_b)] = Pool(reserve_a, reserve_b, fee_bps)
        self.pools[(mint_b, mint_a)] = Pool(reserve_b, reserve_a, fee_bps)

    def add_deep_sol_usdc(self) -> FakeJupiter:
        """A deep SOL/USDC market at the static price (150) with a 1 bp fee: Jupiter wins small
        SOL/USDC trades, other venues the pairs the fake cannot route."""
        self.add_pair(SOL, USDC, DEEP_SOL_RESERVE, DEEP_USDC_RESERVE, fee_bps=1)
        return self

    def plan(self, *faults: Fault | FaultKind) -> None:
        """Use these faults for the next requests, one each, in order."""
        self._faults.extend(f if isinstance(f, Fault) else Fault(f) for f in faults)

    def lookup_tables(self) -> dict[Pubkey, list[Pubkey]]:
        """The lookup tables the fake's answers name, with their addresses (for a fake RPC)."""
        return {Pubkey.from_string(ALT): [Pubkey.from_string(a) for a in ALT_ADDRESSES]}

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/swap/v1"

    async def start(self) -> FakeJupiter:
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", 0)
        return self

    async def __aenter__(self) -> FakeJupiter:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # --- HTTP ---------------------------------------------------------------------------------
    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        t = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        url = urlsplit(target)
        req = LoggedRequest(method, url.path, dict(parse_qsl(url.query)), headers, body, t)
        self.requests.append(req)
        fault = self._next_fault()
        req.fault = fault.kind
        if fault.kind == "hang":
            await asyncio.Event().wait()
        status, extra_headers, payload = self._answer(req, fault)
        req.status = status
        head_out = [f"HTTP/1.1 {status} X", f"content-length: {len(payload)}", "connection: close"]
        head_out += [f"{k}: {v}" for k, v in extra_headers.items()]
        writer.write(("\r\n".join(head_out) + "\r\n\r\n").encode() + payload)
        await writer.drain()

    def _next_fault(self) -> Fault:
        if self._faults:
            return self._faults.popleft()
        return self.chaos.next() if self.chaos is not None else Fault("ok")

    def _answer(self, req: LoggedRequest, fault: Fault) -> tuple[int, dict[str, str], bytes]:
        json_type = {"content-type": "application/json"}
        if fault.kind in ("429", "429_reset"):
            h = {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
            if fault.kind == "429_reset":
                h |= {
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": f"{time.time() + fault.reset_in:.3f}",
                }
            return 429, h, b"[API Gateway] Too many requests"
        if fault.kind in ("500", "503"):
            h = {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
            return int(fault.kind), h | json_type, b'{"error":"Something unexpected occurred"}'
        if fault.kind == "502":
            return 502, {"content-type": "text/plain"}, b"upstream connect error"
        if fault.kind == "garbage":  # a 200 whose body is not JSON at all
            return 200, json_type, b"\x00\xffnot json \x89PNG\r\n"
        if fault.kind in ("401", "403"):
            return int(fault.kind), json_type, b'{"message":"Invalid API key"}'
        if fault.kind == "html":
            return (
                502,
                {"content-type": "text/html"},
                b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
        limited = self._rate_limit()
        if limited is not None:
            return limited
        status, doc = self._route(req)
        if fault.kind == "wrong_shape" and isinstance(doc, dict):
            # Valid JSON missing half of what the schema requires.
            doc = {k: v for i, (k, v) in enumerate(sorted(doc.items())) if i % 2}
        payload = json.dumps(doc).encode()
        if fault.kind == "truncated":
            payload = payload[: len(payload) // 2]
        return status, json_type | self._limit_headers(), payload

    def _rate_limit(self) -> tuple[int, dict[str, str], bytes] | None:
        if self.limit is None:
            return None
        now = time.monotonic()
        while self._served and self._served[0] <= now - self.window_s:
            self._served.popleft()
        if len(self._served) >= self.limit:
            return 429, self._limit_headers(), b"[API Gateway] Too many requests"
        self._served.append(now)
        return None

    def _limit_headers(self) -> dict[str, str]:
        if self.limit is None:
            return {}
        reset = time.time() + (
            self._served[0] + self.window_s - time.monotonic() if self._served else 0
        )
        return {
            "x-ratelimit-remaining": str(self.limit - len(self._served)),
            "x-ratelimit-reset": f"{reset:.3f}",
        }

    def _route(self, req: LoggedRequest) -> tuple[int, Any]:
        if req.method == "GET" and req.path == "/swap/v1/quote":
            status, quote = self._quote(req.query)
            if status == 200:
                self._max_accounts[json.dumps(quote, sort_keys=True)] = _max_accounts(req.query)
            return status, quote
        if req.method == "POST" and req.path == "/swap/v1/swap-instructions":
            body = json.loads(req.body)
            return self._instructions(
                body["quoteResponse"],
                body.get("userPublicKey"),
                v2=False,
                price=body.get("computeUnitPriceMicroLamports"),
                wrap=body.get("wrapAndUnwrapSol", True) is not False,
            )
        if req.method == "GET" and req.path == "/swap/v2/build":
            status, quote = self._quote(req.query | {"instructionVersion": "V2"})
            if status != 200:
                return status, quote
            wrap = req.query.get("wrapAndUnwrapSol", "true") != "false"
            self._max_accounts[json.dumps(quote, sort_keys=True)] = _max_accounts(req.query)
            status, doc = self._instructions(quote, req.query.get("taker"), v2=True, wrap=wrap)
            if status != 200:
                return status, doc
            doc.pop("addressLookupTableAddresses", None)  # /build lists the tables' contents
            return 200, quote | doc | {
                "tipInstruction": None,
                "addressesByLookupTableAddress": {ALT: ALT_ADDRESSES},
                "blockhashWithMetadata": {"blockhash": list(range(32)), "lastValidBlockHeight": 279632475},
            }  # fmt: skip
        return 404, {"error": "Not found"}

    def _instructions(
        self, quote: dict[str, Any], user: Any, *, v2: bool, wrap: bool, price: Any = None
    ) -> tuple[int, Any]:
        try:
            Pubkey.from_string(user)
        except (TypeError, ValueError):
            return 400, {
                "error": f"Invalid user public key {user!r:.60}",
                "errorCode": "INVALID_REQUEST",
            }
        pools = None
        if self.remaining_accounts is not None:
            pools = self.remaining_accounts(
                self._max_accounts.get(json.dumps(quote, sort_keys=True), 64)
            )
        doc = swap_instructions_doc(
            quote, user, v2=v2, wrap_and_unwrap_sol=wrap, pool_accounts=pools,
            compute_unit_limit=self.compute_unit_limit,
            compute_unit_price=DEFAULT_COMPUTE_UNIT_PRICE if price is None else int(price),
        )  # fmt: skip
        return 200, doc if self.tamper is None else self.tamper(doc)

    def _quote(self, q: dict[str, str]) -> tuple[int, Any]:
        pool = self.pools.get((q.get("inputMint", ""), q.get("outputMint", "")))
        if pool is None:
            return 400, {"error": "No routes found", "errorCode": "NO_ROUTES_FOUND"}
        if q.get("swapMode", "ExactIn") != "ExactIn":
            return 400, {"error": "ExactOut not supported here", "errorCode": "NOT_SUPPORTED"}
        amount, slippage = int(q["amount"]), int(q.get("slippageBps", "50"))
        out, fee, impact = pool.out_for(amount)
        version = q.get("instructionVersion", "V1")
        step: dict[str, Any] = {
            "swapInfo": {
                "ammKey": pool.amm_key, "label": pool.label,
                "inputMint": q["inputMint"], "outputMint": q["outputMint"],
                "inAmount": str(amount), "outAmount": str(out),
            },
            "percent": 100,
        }  # fmt: skip
        if version == "V2":
            step["bps"] = 10_000
        doc = {
            "inputMint": q["inputMint"], "inAmount": str(amount),
            "outputMint": q["outputMint"], "outAmount": str(out),
            "otherAmountThreshold": str(out * (10_000 - slippage) // 10_000),
            "swapMode": "ExactIn", "slippageBps": slippage, "priceImpactPct": impact,
            "platformFee": None, "routePlan": [step], "contextSlot": 324307186,
            "timeTaken": 0.001, "instructionVersion": version, "feeCharged": str(fee),
        }  # fmt: skip
        return 200, doc if self.quote_tamper is None else self.quote_tamper(doc)


# --- instructions ---------------------------------------------------------------------------
def _max_accounts(query: Mapping[str, str]) -> int:
    return int(query.get("maxAccounts", "64"))  # Jupiter's documented default
