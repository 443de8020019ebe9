"""One adapter per price provider: fetch over a shared ``httpx.AsyncClient``, then parse.

Each adapter only builds the request, maps transport failures onto the errors in
:mod:`agent.pricing.errors`, classifies the HTTP status (:mod:`agent.pricing.http_status`) and
hands the raw body to its source's pure parser in :mod:`agent.pricing.parsers`. The client is
injected (tests pass ``httpx.MockTransport``); the adapters never close it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import structlog

from agent.domain.tokens import Token
from agent.net import BudgetExhausted, TokenBucket
from agent.pricing.errors import BadPayload, RateLimited, SourceUnavailable, UnknownInstrument
from agent.pricing.http_status import check_status
from agent.pricing.parsers import (
    Observation,
    parse_binance,
    parse_coingecko,
    parse_jupiter,
    parse_kraken,
    parse_pyth,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "SOURCE_NAMES",
    "BinanceSource",
    "CoinGeckoSource",
    "JupiterSource",
    "KrakenSource",
    "PriceSource",
    "PythSource",
    "SourceKeys",
    "StaticSource",
    "build_sources",
]

log = structlog.get_logger("agent.pricing")

# Prices are refreshed in the background; a source that cannot answer within a few seconds is
# treated as down rather than holding up the other sources.
DEFAULT_TIMEOUT = httpx.Timeout(4.0, connect=2.0)

SOURCE_NAMES = ("coingecko", "kraken", "binance", "pyth", "jupiter", "static")


class PriceSource(Protocol):
    """What the failover oracle needs from a source."""

    name: str

    def supports(self, token: Token) -> bool:
        """Whether this source has an id for the token (and has not found it unknown)."""
        ...

    async def fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        """Observations by symbol for the supported tokens it could price.

        :raises PriceSourceError: one of its subclasses, for the whole request.
        """
        ...


class _HttpSource:
    """Request plumbing shared by the network sources."""

    name: str

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str = "",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._clock = clock
        # Instruments the source answered "unknown" for; asked no more, reported for alerts.
        self.unknown: set[str] = set()

    def instrument(self, token: Token) -> str:
        """The token's id at this source; empty when it has none."""
        raise NotImplementedError

    def supports(self, token: Token) -> bool:
        ident = self.instrument(token)
        return bool(ident) and ident not in self.unknown

    async def fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        wanted = [t for t in tokens if self.supports(t)]
        if not wanted:
            return {}
        try:
            return await self._fetch(wanted)
        except UnknownInstrument:
            if len(wanted) == 1:
                self._forget(wanted[0])
                return {}
        # One unknown instrument fails the whole batch (Kraken, Binance): ask one at a time to
        # find it, so the other tokens still get prices. Happens once; it is remembered.
        observations: dict[str, Observation] = {}
        for token in wanted:
            try:
                observations.update(await self._fetch([token]))
            except UnknownInstrument:
                self._forget(token)
        return observations

    def _forget(self, token: Token) -> None:
        ident = self.instrument(token)
        self.unknown.add(ident)
        log.error("price_instrument_unknown", source=self.name, symbol=token.symbol, id=ident)

    async def _fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        raise NotImplementedError

    async def _get(
        self,
        path: str,
        params: Mapping[str, str] | tuple[tuple[str, str], ...],
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        url = f"{self._base_url}/{path.lstrip('/')}" if path else self._base_url
        try:
            response = await self._client.get(
                url,
                params=params,
                headers=headers,
                timeout=self._timeout,
                # A redirect means a moved endpoint (configuration); following it could carry an
                # API key header to another host.
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(self.name, f"timeout ({type(exc).__name__})") from exc
        except httpx.DecodingError as exc:
            raise BadPayload(self.name, f"undecodable body ({exc})") from exc
        except httpx.RequestError as exc:  # connection refused, DNS, protocol errors
            raise SourceUnavailable(self.name, type(exc).__name__) from exc
        check_status(
            self.name, response.status_code, response.headers, response.content, self._clock()
        )
        return response.content


class CoinGeckoSource(_HttpSource):
    """``/simple/price``; a demo key goes in ``x-cg-demo-api-key``, a pro key on the pro host."""

    name = "coingecko"
    DEMO_URL = "https://api.coingecko.com/api/v3"
    PRO_URL = "https://pro-api.coingecko.com/api/v3"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str = "",
        pro: bool = False,
        base_url: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        default = self.PRO_URL if pro else self.DEMO_URL
        super().__init__(
            client, base_url=base_url or default, api_key=api_key, timeout=timeout, clock=clock
        )
        # A key sent to the wrong host is rejected (10010/10011), so the header follows the plan.
        self._key_header = "x-cg-pro-api-key" if pro else "x-cg-demo-api-key"

    def instrument(self, token: Token) -> str:
        return token.coingecko_id

    async def _fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        ids = {t.symbol: t.coingecko_id for t in tokens}
        params = {
            "ids": ",".join(sorted(set(ids.values()))),
            "vs_currencies": "usd",
            "include_24hr_change": "true",
            "include_last_updated_at": "true",
            "precision": "full",
        }
        headers = {self._key_header: self._api_key} if self._api_key else None
        return parse_coingecko(await self._get("simple/price", params, headers), ids)


class KrakenSource(_HttpSource):
    """``/0/public/Ticker``: keyless, limited per IP to about one call a second."""

    name = "kraken"
    URL = "https://api.kraken.com/0/public"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client, base_url=base_url, timeout=timeout, clock=clock)

    def instrument(self, token: Token) -> str:
        return token.kraken_pair

    async def _fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        pairs = {t.symbol: t.kraken_pair for t in tokens}
        # Only the pairs we need: long pair lists have drawn Cloudflare 414/520 answers.
        params = {"pair": ",".join(sorted(set(pairs.values())))}
        return parse_kraken(await self._get("Ticker", params), pairs)


class BinanceSource(_HttpSource):
    """``/api/v3/ticker/24hr`` (or ``ticker/price``) for USDT-quoted symbols.

    Observations come back with ``quote="USDT"``; the oracle converts them to USD. The market-
    data-only host ``https://data-api.binance.vision/api/v3`` can be passed as ``base_url``.
    """

    name = "binance"
    URL = "https://api.binance.com/api/v3"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = URL,
        endpoint: str = "ticker/24hr",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if endpoint not in ("ticker/24hr", "ticker/price"):
            raise ValueError(f"unsupported Binance endpoint {endpoint!r}")
        super().__init__(client, base_url=base_url, timeout=timeout, clock=clock)
        self._endpoint = endpoint

    def instrument(self, token: Token) -> str:
        return token.binance_symbol

    async def _fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        symbols = {t.symbol: t.binance_symbol for t in tokens}
        pairs = sorted(set(symbols.values()))
        # Both forms weigh 2 for up to 20 symbols on ticker/24hr; one symbol reads simpler.
        params = (
            {"symbol": pairs[0]}
            if len(pairs) == 1
            else {"symbols": json.dumps(pairs, separators=(",", ":"))}
        )
        return parse_binance(await self._get(self._endpoint, params), symbols)


class PythSource(_HttpSource):
    """Hermes ``/v2/updates/price/latest``; since the 2026 Core upgrade it needs a bearer key."""

    name = "pyth"
    URL = "https://pyth.dourolabs.app/hermes"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str = URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client, base_url=base_url, api_key=api_key, timeout=timeout, clock=clock)

    def instrument(self, token: Token) -> str:
        return token.pyth_feed_id

    async def _fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        feeds = {t.symbol: t.pyth_feed_id for t in tokens}
        params = (
            *(("ids[]", feed) for feed in sorted(set(feeds.values()))),
            # An invalid id would otherwise fail the whole request; dropped, it just goes missing.
            ("parsed", "true"),
            ("ignore_invalid_price_ids", "true"),
        )
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else None
        return parse_pyth(await self._get("v2/updates/price/latest", params, headers), feeds)


class JupiterSource(_HttpSource):
    """Price API v3 by mint; ``x-api-key`` raises the limit (keyless is 30/min, shared)."""

    name = "jupiter"
    URL = "https://api.jup.ag/price/v3"
    MAX_IDS = 50

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str = "",
        base_url: str = URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        limiter: TokenBucket | None = None,
        max_budget_wait_s: float = 2.0,
    ) -> None:
        super().__init__(client, base_url=base_url, api_key=api_key, timeout=timeout, clock=clock)
        # Jupiter limits requests per account: prices share the swap venue's request budget.
        self._limiter = limiter
        self._max_budget_wait_s = max_budget_wait_s

    def instrument(self, token: Token) -> str:
        return token.mint

    async def _take_budget(self) -> None:
        if self._limiter is None:
            return
        try:
            await self._limiter.acquire(self._max_budget_wait_s)
        except BudgetExhausted as exc:
            raise RateLimited(
                self.name, "no request budget left (shared with the Jupiter venue)", exc.wait_s
            ) from None

    async def _fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        mints = {t.symbol: t.mint for t in tokens}
        unique = sorted(set(mints.values()))
        headers = {"x-api-key": self._api_key} if self._api_key else None
        observations: dict[str, Observation] = {}
        for start in range(0, len(unique), self.MAX_IDS):
            chunk = unique[start : start + self.MAX_IDS]
            await self._take_budget()
            body = await self._get("", {"ids": ",".join(chunk)}, headers)
            wanted = {symbol: mint for symbol, mint in mints.items() if mint in chunk}
            observations.update(parse_jupiter(body, wanted))
        return observations


class StaticSource:
    """Token.static_usd from configuration: the last resort, never down."""

    name = "static"

    def supports(self, token: Token) -> bool:
        return token.static_usd > 0

    async def fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        return {t.symbol: Observation(usd=t.static_usd) for t in tokens if self.supports(t)}


@dataclass(frozen=True)
class SourceKeys:
    """Optional API keys; empty means keyless (Pyth is skipped without one)."""

    coingecko: str = field(default="", repr=False)
    coingecko_pro: bool = False
    jupiter: str = field(default="", repr=False)
    pyth: str = field(default="", repr=False)


def build_sources(
    names: Sequence[str],
    client: httpx.AsyncClient,
    *,
    keys: SourceKeys | None = None,
    urls: Mapping[str, str] | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    clock: Callable[[], float] = time.time,
    jupiter_limiter: TokenBucket | None = None,
) -> list[PriceSource]:
    """Sources in the configured order (``PricesConfig.sources``), sharing one client;
    ``urls`` replaces a source's public base URL (by source name); Jupiter's takes its
    requests from ``jupiter_limiter``, the process's Jupiter budget.

    :raises ValueError: for a name not in :data:`SOURCE_NAMES`.
    """
    keys = keys or SourceKeys()
    urls = urls or {}
    sources: list[PriceSource] = []
    for name in names:
        if name == "coingecko":
            sources.append(
                CoinGeckoSource(
                    client,
                    api_key=keys.coingecko,
                    pro=keys.coingecko_pro,
                    base_url=urls.get(name),
                    timeout=timeout,
                    clock=clock,
                )
            )
        elif name == "kraken":
            url = urls.get(name, KrakenSource.URL)
            sources.append(KrakenSource(client, base_url=url, timeout=timeout, clock=clock))
        elif name == "binance":
            url = urls.get(name, BinanceSource.URL)
            sources.append(BinanceSource(client, base_url=url, timeout=timeout, clock=clock))
        elif name == "pyth":
            if not keys.pyth:
                # Hermes answers 401 without a key since the Core upgrade; skip, don't hammer.
                log.warning("price_source_skipped", source="pyth", reason="no API key")
                continue
            url = urls.get(name, PythSource.URL)
            sources.append(
                PythSource(client, api_key=keys.pyth, base_url=url, timeout=timeout, clock=clock)
            )
        elif name == "jupiter":
            sources.append(
                JupiterSource(
                    client,
                    api_key=keys.jupiter,
                    base_url=urls.get(name, JupiterSource.URL),
                    timeout=timeout,
                    clock=clock,
                    limiter=jupiter_limiter,
                )
            )
        elif name == "static":
            sources.append(StaticSource())
        else:
            raise ValueError(f"unknown price source {name!r}; expected one of {SOURCE_NAMES}")
    return sources
