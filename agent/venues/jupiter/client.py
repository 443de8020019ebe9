"""The Jupiter HTTP client: /swap/v1/quote, /swap/v1/swap-instructions and /swap/v2/build.

Every request first passes the circuit breaker, then takes a slot from the process-wide
:class:`TokenBucket`. Unavailable answers are retried under the shared
:class:`~agent.net.RetryPolicy` (jittered exponential backoff; ``Retry-After`` wins over the
computed delay); NoRoute, Rejected, BadPayload and
Unauthorised are raised at once; RateLimited is raised with its reset unless the caller's
``max_wait_s`` covers the wait. The API key goes only into the ``x-api-key`` header: it is
never logged, never in an error message and never in ``repr``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
import structlog

from agent.net import BudgetExhausted, CircuitBreaker, RateLimited, RetryPolicy, TokenBucket
from agent.venues.jupiter.errors import (
    Unavailable,
    classify_response,
)
from agent.venues.jupiter.models import (
    BuildResponse,
    QuoteResponse,
    SwapInstructions,
    parse_build,
    parse_quote,
    parse_swap_instructions,
)

__all__ = ["DEFAULT_BASE_URL", "JUPITER_RETRIES", "JupiterClient", "SwapPlan"]

# Three tries per call: an intent waits on Jupiter no longer than its deadline allows anyway.
JUPITER_RETRIES = RetryPolicy(attempts=3)

log = structlog.get_logger("agent.venues.jupiter")

DEFAULT_BASE_URL = "https://api.jup.ag/swap/v1"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SwapPlan:
    """A quote and its instructions, from either API. ``lookup_tables`` and ``blockhash``
    are only known with v2 (/build); with v1 the caller fetches the ALTs by address. The
    tables' contents are the API's word: compile only with tables fetched from a trusted RPC."""

    quote: QuoteResponse
    instructions: SwapInstructions
    lookup_tables: Mapping[str, tuple[str, ...]] | None = None
    blockhash: bytes | None = None
    last_valid_block_height: int | None = None
    requests: int = 1


def _flag(value: bool) -> str:
    return "true" if value else "false"


class JupiterClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        http: httpx.AsyncClient,
        api_key: str = "",
        limiter: TokenBucket,
        breaker: CircuitBreaker,
        retry: RetryPolicy = JUPITER_RETRIES,
        api: Literal["v1", "v2"] = "v1",
        build_url: str | None = None,
        timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        observe: Callable[[str, str, float], None] | None = None,
    ) -> None:
        if api not in ("v1", "v2"):
            raise ValueError("api must be 'v1' or 'v2'")
        self.base_url = base_url.rstrip("/")
        if build_url is None:
            root = self.base_url.removesuffix("/v1")
            build_url = f"{root}/v2/build" if root != self.base_url else f"{self.base_url}/build"
        self.build_url = build_url
        self.api = api
        self._http = http
        self._headers = {"x-api-key": api_key} if api_key else {}
        self._limiter = limiter
        self._breaker = breaker
        self._retry = retry
        self._timeout: Any = (
            httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
        )
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        # (endpoint, status class such as "2xx" or "timeout", seconds) for every request sent.
        self._observe = observe

    def __repr__(self) -> str:
        keyed = "keyed" if self._headers else "keyless"
        return f"JupiterClient({self.base_url!r}, api={self.api!r}, {keyed})"

    @property
    def breaker_state(self) -> str:
        return self._breaker.state

    # --- public API ---------------------------------------------------------------------------
    async def quote(
        self,
        input_mint: str,
        output_mint: str,
        amount: int,
        slippage_bps: int,
        *,
        swap_mode: Literal["ExactIn", "ExactOut"] = "ExactIn",
        max_accounts: int | None = None,
        only_direct_routes: bool = False,
        instruction_version: Literal["V1", "V2"] = "V1",
        dexes: Sequence[str] = (),
        exclude_dexes: Sequence[str] = (),
        max_wait_s: float = 0.0,
    ) -> QuoteResponse:
        """GET /quote. ``max_wait_s`` bounds the time spent waiting for request budget."""
        params: dict[str, str] = {
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "slippageBps": str(slippage_bps),
            "swapMode": swap_mode,
            "onlyDirectRoutes": _flag(only_direct_routes),
            "instructionVersion": instruction_version,
        }
        if max_accounts is not None:
            params["maxAccounts"] = str(max_accounts)
        if dexes:
            params["dexes"] = ",".join(dexes)
        if exclude_dexes:
            params["excludeDexes"] = ",".join(exclude_dexes)
        url = f"{self.base_url}/quote"
        return await self._call("GET", url, parse_quote, max_wait_s, params=params)

    async def swap_instructions(
        self,
        quote: QuoteResponse,
        user_public_key: str,
        *,
        wrap_unwrap_sol: bool = True,
        compute_unit_price_micro_lamports: int | None = None,
        prioritization_fee_lamports: int | str | Mapping[str, Any] | None = None,
        dynamic_compute_unit_limit: bool = False,
        use_shared_accounts: bool | None = None,
        destination_token_account: str | None = None,
        payer: str | None = None,
        max_wait_s: float = 0.0,
    ) -> SwapInstructions:
        """POST /swap-instructions with the quote exactly as Jupiter sent it."""
        if (
            compute_unit_price_micro_lamports is not None
            and prioritization_fee_lamports is not None
        ):
            raise ValueError("compute unit price and prioritization fee are mutually exclusive")
        body: dict[str, Any] = {
            "userPublicKey": user_public_key,
            "quoteResponse": quote.raw,
            "wrapAndUnwrapSol": wrap_unwrap_sol,
            "dynamicComputeUnitLimit": dynamic_compute_unit_limit,
        }
        optional = {
            "computeUnitPriceMicroLamports": compute_unit_price_micro_lamports,
            "prioritizationFeeLamports": prioritization_fee_lamports,
            "useSharedAccounts": use_shared_accounts,
            "destinationTokenAccount": destination_token_account,
            "payer": payer,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        url = f"{self.base_url}/swap-instructions"
        return await self._call("POST", url, parse_swap_instructions, max_wait_s, json=body)

    async def build(
        self,
        input_mint: str,
        output_mint: str,
        amount: int,
        taker: str,
        slippage_bps: int,
        *,
        max_accounts: int | None = None,
        wrap_unwrap_sol: bool = True,
        payer: str | None = None,
        compute_unit_price_percentile: str | None = None,
        max_wait_s: float = 0.0,
    ) -> BuildResponse:
        """GET /swap/v2/build: quote and instructions in one request (ExactIn only)."""
        params: dict[str, str] = {
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "taker": taker,
            "slippageBps": str(slippage_bps),
            "wrapAndUnwrapSol": _flag(wrap_unwrap_sol),
        }
        if max_accounts is not None:
            params["maxAccounts"] = str(max_accounts)
        if payer is not None:
            params["payer"] = payer
        if compute_unit_price_percentile is not None:
            params["computeUnitPricePercentile"] = compute_unit_price_percentile
        return await self._call("GET", self.build_url, parse_build, max_wait_s, params=params)

    async def swap_plan(
        self,
        input_mint: str,
        output_mint: str,
        amount: int,
        taker: str,
        slippage_bps: int,
        *,
        max_accounts: int | None = None,
        max_wait_s: float = 0.0,
    ) -> SwapPlan:
        """Quote plus instructions through the configured API: v1 = 2 requests, v2 = 1."""
        if self.api == "v2":
            b = await self.build(
                input_mint, output_mint, amount, taker, slippage_bps,
                max_accounts=max_accounts, max_wait_s=max_wait_s,
            )  # fmt: skip
            return SwapPlan(
                b.quote, b.instructions, b.addresses_by_lookup_table_address,
                b.blockhash, b.last_valid_block_height, requests=1,
            )  # fmt: skip
        deadline = self._clock() + max_wait_s
        q = await self.quote(
            input_mint, output_mint, amount, slippage_bps,
            max_accounts=max_accounts, max_wait_s=max_wait_s,
        )  # fmt: skip
        left = max(0.0, deadline - self._clock())
        si = await self.swap_instructions(q, taker, max_wait_s=left)
        return SwapPlan(q, si, requests=2)

    # --- transport ----------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        url: str,
        parse: Callable[[bytes], T],
        max_wait_s: float,
        **kwargs: Any,
    ) -> T:
        deadline = self._clock() + max_wait_s
        attempt = 0
        while True:
            attempt += 1
            self._breaker.before_call()
            try:
                await self._limiter.acquire(max(0.0, deadline - self._clock()))
            except BudgetExhausted:
                self._breaker.release_probe()
                raise
            try:
                response = await self._send(method, url, **kwargs)
            except Unavailable as exc:
                error: Exception = exc
            else:
                self._limiter.observe_headers(response.headers)
                classified = classify_response(
                    response.status_code, response.headers, response.content, self._wall_clock()
                )
                if classified is None:
                    self._breaker.record_success()
                    return parse(response.content)
                error = classified
            if not isinstance(error, Unavailable):
                self._breaker.record_success()  # it answered, even if with a refusal
                if isinstance(error, RateLimited):
                    self._limiter.penalise(error.retry_after_s)
                    wait = error.retry_after_s
                    left = deadline - self._clock()
                    if attempt < self._retry.attempts and wait is not None and wait <= left:
                        log.info("jupiter_rate_limited_waiting", url=url, wait_s=wait)
                        continue  # the limiter, now paused until the reset, does the waiting
                raise error
            self._breaker.record_failure()
            delay = self._retry.delay_s(attempt - 1, error.retry_after_s, self._rng)
            if attempt >= self._retry.attempts or delay > self._retry.max_delay_s:
                raise error
            log.warning(
                "jupiter_retry", url=url, attempt=attempt, delay_s=round(delay, 3), error=str(error)
            )
            await self._sleep(delay)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        endpoint = url.rsplit("/", 1)[-1]
        outcome = "transport_error"
        try:
            response = await self._http.request(
                method, url, headers=self._headers, timeout=self._timeout, **kwargs
            )
            outcome = f"{response.status_code // 100}xx"
            return response
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            raise Unavailable(f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Unavailable(f"transport error ({type(exc).__name__})") from None
        finally:
            if self._observe is not None:
                self._observe(endpoint, outcome, time.perf_counter() - started)
