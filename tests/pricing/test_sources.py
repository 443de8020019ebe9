"""Source adapters over httpx.MockTransport: request shape, response mapping, failure mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest

from agent.domain.tokens import Token
from agent.net import TokenBucket
from agent.pricing.errors import (
    BadPayload,
    PriceSourceError,
    RateLimited,
    SourceDisabled,
    SourceUnavailable,
)
from agent.pricing.sources import (
    BinanceSource,
    CoinGeckoSource,
    JupiterSource,
    KrakenSource,
    PriceSource,
    PythSource,
    SourceKeys,
    StaticSource,
    build_sources,
)
from tests.support.price_fixtures import NOW, RAY, SOL, TOKENS, USDC, USDT, FakeClock, fixture

Handler = Callable[[httpx.Request], httpx.Response]
MakeClient = Callable[[Handler], httpx.AsyncClient]
SourceFactory = Callable[[httpx.AsyncClient], PriceSource]


@pytest.fixture(name="make_client")
async def _make_client() -> AsyncIterator[MakeClient]:
    """Build AsyncClients over a MockTransport handler; all are closed after the test."""
    clients: list[httpx.AsyncClient] = []

    def make(handler: Handler) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def _coingecko(client: httpx.AsyncClient) -> PriceSource:
    return CoinGeckoSource(client, clock=FakeClock())


def _kraken(client: httpx.AsyncClient) -> PriceSource:
    return KrakenSource(client, clock=FakeClock())


def _binance(client: httpx.AsyncClient) -> PriceSource:
    return BinanceSource(client, clock=FakeClock())


def _pyth(client: httpx.AsyncClient) -> PriceSource:
    return PythSource(client, api_key="pyth-key", clock=FakeClock())


def _jupiter(client: httpx.AsyncClient) -> PriceSource:
    return JupiterSource(client, api_key="jup-key", clock=FakeClock())


# (factory, fixture, expected url without query, expected query, expected headers, symbols)
REQUESTS = [
    pytest.param(
        _coingecko, "coingecko_ok.json", "https://api.coingecko.com/api/v3/simple/price",
        [("ids", "raydium,solana,tether,usd-coin"), ("vs_currencies", "usd"),
         ("include_24hr_change", "true"), ("include_last_updated_at", "true"),
         ("precision", "full")],
        {"x-cg-demo-api-key": None, "x-cg-pro-api-key": None}, {"SOL", "USDC", "USDT"},
        id="coingecko-keyless",
    ),
    pytest.param(
        lambda c: CoinGeckoSource(c, api_key="demo-key"), "coingecko_ok.json",
        "https://api.coingecko.com/api/v3/simple/price", None,
        {"x-cg-demo-api-key": "demo-key"}, {"SOL", "USDC", "USDT"}, id="coingecko-demo-key",
    ),
    pytest.param(
        lambda c: CoinGeckoSource(c, api_key="pro-key", pro=True), "coingecko_ok.json",
        "https://pro-api.coingecko.com/api/v3/simple/price", None,
        {"x-cg-pro-api-key": "pro-key"}, {"SOL", "USDC", "USDT"}, id="coingecko-pro-key",
    ),
    pytest.param(
        _kraken, "kraken_ok.json", "https://api.kraken.com/0/public/Ticker",
        [("pair", "SOLUSD,USDCUSD,USDTZUSD")], {}, {"SOL", "USDC", "USDT"}, id="kraken",
    ),
    pytest.param(
        _binance, "binance_24hr.json", "https://api.binance.com/api/v3/ticker/24hr",
        [("symbols", '["RAYUSDT","SOLUSDT","USDCUSDT"]')], {}, {"SOL", "RAY"}, id="binance-24hr",
    ),
    pytest.param(
        lambda c: BinanceSource(c, endpoint="ticker/price",
                                base_url="https://data-api.binance.vision/api/v3"),
        "binance_price.json", "https://data-api.binance.vision/api/v3/ticker/price",
        [("symbols", '["RAYUSDT","SOLUSDT","USDCUSDT"]')], {}, {"SOL", "RAY"},
        id="binance-price-data-host",
    ),
    pytest.param(
        _pyth, "pyth_ok.json", "https://pyth.dourolabs.app/hermes/v2/updates/price/latest",
        [("ids[]", "0xeaa020c61cc479712813461ce153894a96a6c00b21ed0cfc2798d1f9a9e9c94a"),
         ("ids[]", "2b89b9dc8fdf9f34709a5b106b472f0f39bb6ca9ce04b0fd7f2e971688e2e53b"),
         ("ids[]", "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"),
         ("parsed", "true"), ("ignore_invalid_price_ids", "true")],
        {"authorization": "Bearer pyth-key"}, {"SOL", "USDC"}, id="pyth",
    ),
    pytest.param(
        _jupiter, "jupiter_ok.json", "https://api.jup.ag/price/v3",
        [("ids", ",".join(sorted(t.mint for t in TOKENS)))],
        {"x-api-key": "jup-key"}, {"SOL", "USDC"}, id="jupiter",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("factory", "name", "url", "query", "headers", "symbols"), REQUESTS)
async def test_request_and_response(
    make_client: MakeClient,
    factory: SourceFactory,
    name: str,
    url: str,
    query: list[tuple[str, str]] | None,
    headers: dict[str, str | None],
    symbols: set[str],
) -> None:
    """Each source sends one request of the documented shape and maps the answer to symbols."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=fixture(name))

    observations = await factory(make_client(handler)).fetch(TOKENS)
    assert set(observations) == symbols
    assert len(seen) == 1
    request = seen[0]
    assert str(request.url.copy_with(query=None)) == url
    if query is not None:
        assert request.url.params.multi_items() == query
    for key, value in headers.items():
        assert request.headers.get(key) == value  # None: the header must be absent


async def test_binance_single_symbol_uses_symbol_param(make_client: MakeClient) -> None:
    """One Binance symbol is asked with symbol=, and the single-object answer is mapped."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=fixture("binance_24hr_single.json"))

    observations = await BinanceSource(make_client(handler)).fetch([SOL])
    assert seen[0].url.params.multi_items() == [("symbol", "SOLUSDT")]
    assert observations["SOL"].usd == Decimal("147.12")
    assert observations["SOL"].quote == "USDT"


def _respond(
    status: int, name: str | None = None, headers: dict[str, str] | None = None
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        body = fixture(name) if name else b""
        return httpx.Response(status, content=body, headers=headers)

    return handler


def _raise(error: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return handler


# (factory, handler, error, retry_after)
FAILURES = [
    pytest.param(_coingecko, _respond(429, "coingecko_429.json", {"retry-after": "119"}),
                 RateLimited, 119.0, id="coingecko-429-json-retry-after"),
    pytest.param(_coingecko, _respond(429, "coingecko_429_cloudflare.html"), RateLimited, None,
                 id="coingecko-429-cloudflare-html"),
    pytest.param(_coingecko, _respond(200, "coingecko_429_cloudflare.html"), BadPayload, None,
                 id="coingecko-200-html"),
    pytest.param(_coingecko, _respond(401, "coingecko_error_10002.json"), SourceDisabled, None,
                 id="coingecko-401"),
    pytest.param(_coingecko, _respond(200, "invalid.json"), BadPayload, None,
                 id="coingecko-invalid-json"),
    pytest.param(_coingecko, _raise(httpx.ReadTimeout), SourceUnavailable, None,
                 id="coingecko-read-timeout"),
    pytest.param(_kraken, _respond(200, "kraken_too_many_requests.json"), RateLimited, None,
                 id="kraken-200-too-many-requests"),
    pytest.param(_kraken, _respond(200, "kraken_rate_limit_exceeded.json"), RateLimited, None,
                 id="kraken-200-rate-limit-exceeded"),
    pytest.param(_kraken, _respond(520), SourceUnavailable, None, id="kraken-520"),
    pytest.param(_kraken, _raise(httpx.ConnectError), SourceUnavailable, None,
                 id="kraken-connect-error"),
    pytest.param(_kraken, _raise(httpx.ConnectTimeout), SourceUnavailable, None,
                 id="kraken-connect-timeout"),
    pytest.param(_binance, _respond(429, "binance_429.json", {"Retry-After": "30"}), RateLimited,
                 30.0, id="binance-429-retry-after"),
    pytest.param(_binance, _respond(418, "binance_418.json", {"Retry-After": "7200"}),
                 SourceDisabled, 7200.0, id="binance-418-ban"),
    pytest.param(_binance, _respond(451, "binance_451.json"), SourceDisabled, None,
                 id="binance-451-geo-block"),
    pytest.param(_binance, _respond(403, "coingecko_429_cloudflare.html"), SourceDisabled, None,
                 id="binance-403-waf"),
    pytest.param(_binance, _raise(httpx.ReadTimeout), SourceUnavailable, None,
                 id="binance-read-timeout"),
    pytest.param(_pyth, _respond(401), SourceDisabled, None, id="pyth-401"),
    pytest.param(_pyth, _respond(429, headers={"retry-after": "60"}), RateLimited, 60.0,
                 id="pyth-429"),
    pytest.param(_pyth, _respond(302, headers={"location": "https://elsewhere/"}), BadPayload,
                 None, id="pyth-redirect-not-followed"),
    pytest.param(_jupiter, _respond(429), RateLimited, None, id="jupiter-429"),
    pytest.param(_jupiter, _respond(200, "invalid.json"), BadPayload, None,
                 id="jupiter-invalid-json"),
    pytest.param(_jupiter, _raise(httpx.RemoteProtocolError), SourceUnavailable, None,
                 id="jupiter-protocol-error"),
]  # fmt: skip


@pytest.mark.parametrize(("factory", "handler", "error", "retry_after"), FAILURES)
async def test_failure_mapping(
    make_client: MakeClient,
    factory: SourceFactory,
    handler: Handler,
    error: type[PriceSourceError],
    retry_after: float | None,
) -> None:
    """Throttles, bans, timeouts and broken bodies surface as the matching error class."""
    with pytest.raises(error) as caught:
        await factory(make_client(handler)).fetch(TOKENS)
    assert type(caught.value) is error
    assert getattr(caught.value, "retry_after_s", None) == retry_after


async def test_retry_after_http_date_uses_the_source_clock(make_client: MakeClient) -> None:
    """An HTTP-date Retry-After is turned into seconds from the injected clock."""
    handler = _respond(429, headers={"Retry-After": "Thu, 09 Oct 2025 08:56:00 GMT"})
    source = BinanceSource(make_client(handler), clock=FakeClock(NOW))
    with pytest.raises(RateLimited) as caught:
        await source.fetch([SOL])
    assert caught.value.retry_after_s == 100.0


def _kraken_by_pair(request: httpx.Request) -> httpx.Response:
    """Kraken double: an unknown pair fails the whole request, as the real API does."""
    pairs = request.url.params["pair"].split(",")
    if "BOGUSUSD" in pairs:
        return httpx.Response(200, content=fixture("kraken_unknown_pair.json"))
    full = json.loads(fixture("kraken_ok.json"))["result"]
    return httpx.Response(200, json={"error": [], "result": {p: full[p] for p in pairs}})


def _binance_by_symbol(request: httpx.Request) -> httpx.Response:
    """Binance double: an unknown symbol answers 400 -1121 for the whole request."""
    params = request.url.params
    wanted = json.loads(params["symbols"]) if "symbols" in params else [params["symbol"]]
    if "BOGUSUSDT" in wanted:
        return httpx.Response(400, content=fixture("binance_invalid_symbol.json"))
    tickers = [t for t in json.loads(fixture("binance_24hr.json")) if t["symbol"] in wanted]
    return httpx.Response(200, json=tickers if len(wanted) > 1 else tickers[0])


BOGUS_KRAKEN = Token("BOGUS", "Bogus1111", 6, kraken_pair="BOGUSUSD")
BOGUS_BINANCE = Token("BOGUS", "Bogus1111", 6, binance_symbol="BOGUSUSDT")


@pytest.mark.parametrize(
    ("factory", "handler", "tokens", "expected", "first_calls"),
    [
        pytest.param(_kraken, _kraken_by_pair, [SOL, BOGUS_KRAKEN, USDT], {"SOL", "USDT"}, 4,
                     id="kraken-unknown-pair"),
        pytest.param(_binance, _binance_by_symbol, [SOL, BOGUS_BINANCE, RAY], {"SOL", "RAY"}, 4,
                     id="binance-invalid-symbol"),
    ],
)  # fmt: skip
async def test_unknown_instrument_is_isolated(
    make_client: MakeClient,
    factory: SourceFactory,
    handler: Handler,
    tokens: list[Token],
    expected: set[str],
    first_calls: int,
) -> None:
    """One unknown pair fails a batch; the source asks one at a time, then stops asking for it."""
    calls: list[httpx.Request] = []

    def counting(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return handler(request)

    source = factory(make_client(counting))
    assert set(await source.fetch(tokens)) == expected
    assert len(calls) == first_calls  # the failed batch, then one request per token
    assert not source.supports(tokens[1])
    assert set(await source.fetch(tokens)) == expected
    assert len(calls) == first_calls + 1  # a single batch without the unknown one


async def test_no_request_without_ids(make_client: MakeClient) -> None:
    """A source asked only for tokens it has no id for sends nothing and answers nothing."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request {request.url}")

    client = make_client(handler)
    assert await KrakenSource(client).fetch([RAY]) == {}
    assert await BinanceSource(client).fetch([USDT]) == {}


async def test_static_source() -> None:
    """The static source answers every token with a positive static_usd, in USD."""
    no_static = Token("NONE", "None1111", 6)
    observations = await StaticSource().fetch([SOL, USDC, no_static])
    assert {s: o.usd for s, o in observations.items()} == {"SOL": Decimal(150), "USDC": 1}
    assert all(o.quote == "USD" and o.observed_at is None for o in observations.values())


async def test_build_sources_keeps_order_and_skips_keyless_pyth(make_client: MakeClient) -> None:
    """build_sources follows the configured order and leaves out Pyth without a key."""
    client = make_client(_respond(500))
    names = ["coingecko", "kraken", "binance", "pyth", "jupiter", "static"]
    assert [s.name for s in build_sources(names, client)] == [
        "coingecko",
        "kraken",
        "binance",
        "jupiter",
        "static",
    ]
    with_key = build_sources(["pyth"], client, keys=SourceKeys(pyth="k"))
    assert [s.name for s in with_key] == ["pyth"]
    with pytest.raises(ValueError, match="unknown price source"):
        build_sources(["coinmarketcap"], client)


async def test_build_sources_points_each_source_at_its_configured_url(
    make_client: MakeClient,
) -> None:
    """A base URL given for a source replaces its public API's; a pro CoinGecko key goes to
    the given host in the pro header."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    names = ["coingecko", "kraken", "binance", "pyth", "jupiter"]
    urls = {name: f"http://127.0.0.1:9/{name}-proxy/" for name in names}
    keys = SourceKeys(coingecko="cg", coingecko_pro=True, pyth="py", jupiter="jp")
    for source in build_sources(names, make_client(record), keys=keys, urls=urls):
        with pytest.raises(PriceSourceError):
            await source.fetch([SOL])

    assert [f"{r.url.scheme}://{r.url.host}:{r.url.port}" for r in seen] == [
        "http://127.0.0.1:9"
    ] * len(names)
    assert [r.url.path.split("/")[1] for r in seen] == [f"{name}-proxy" for name in names]
    assert seen[0].headers["x-cg-pro-api-key"] == "cg"
    assert "x-cg-demo-api-key" not in seen[0].headers


async def test_keys_are_not_in_repr() -> None:
    """API keys never show up in a repr (logs, tracebacks)."""
    assert "secret" not in repr(SourceKeys(coingecko="secret", jupiter="secret", pyth="secret"))


async def test_jupiter_prices_share_the_venue_budget(make_client: MakeClient) -> None:
    """Jupiter prices take slots from the swap venue's bucket; with none left they are rate limited, unsent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=fixture("jupiter_ok.json"))

    clock = FakeClock()
    limiter = TokenBucket(0.5, burst=1, clock=clock)
    source = JupiterSource(
        make_client(handler), clock=clock, limiter=limiter, max_budget_wait_s=0.0
    )
    assert await source.fetch([SOL, USDC])
    with pytest.raises(RateLimited) as limited:
        await source.fetch([SOL, USDC])
    assert len(sent) == 1 and limited.value.retry_after_s == pytest.approx(2.0)
