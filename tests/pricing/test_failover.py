"""FailoverOracle: order, cache, staleness, disagreement, offline, snapshot, settings."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest

from agent.domain.prices import PricePoint, PriceUnavailable
from agent.domain.tokens import Token
from agent.pricing.errors import SourceUnavailable
from agent.pricing.failover import MAX_CLOCK_AHEAD_S, FailoverOracle, FailoverSettings
from agent.pricing.health import BreakerSettings, SourceBackoff
from agent.pricing.snapshot import OraclePrice
from agent.pricing.sources import build_sources
from tests.support.price_fixtures import RAY, SOL, USDC, USDT, FakeClock
from tests.support.scripted_sources import NO_JITTER, PRICES, SINGLE, ScriptedSource

D = Decimal


def _sources(failing: set[str], missing: dict[str, set[str]]) -> list[ScriptedSource]:
    sources = []
    for name in ("coingecko", "kraken", "binance"):
        prices = {s: p for s, p in PRICES.items() if s not in missing.get(name, set())}
        error = SourceUnavailable(name, "down") if name in failing else None
        sources.append(ScriptedSource(name, prices, error=error))
    return sources


# (failing sources, symbols each source lacks, expected source per symbol)
ORDER = [
    pytest.param(set(), {}, {"SOL": "coingecko", "USDC": "coingecko", "USDT": "coingecko"},
                 id="all-up-first-wins"),
    pytest.param({"coingecko"}, {}, {"SOL": "kraken", "USDC": "kraken", "USDT": "kraken"},
                 id="first-down"),
    pytest.param({"coingecko", "kraken"}, {},
                 {"SOL": "binance", "USDC": "binance", "USDT": "binance"}, id="two-down"),
    pytest.param({"coingecko", "kraken", "binance"}, {},
                 {"SOL": "static", "USDC": "static", "USDT": "static"}, id="all-down-static"),
    pytest.param(set(), {"coingecko": {"SOL"}},
                 {"SOL": "kraken", "USDC": "coingecko", "USDT": "coingecko"},
                 id="per-token-failover-on-missing"),
    pytest.param({"kraken"}, {"coingecko": {"SOL", "USDT"}, "binance": {"USDT"}},
                 {"SOL": "binance", "USDC": "coingecko", "USDT": "static"},
                 id="mixed-down-and-missing"),
]  # fmt: skip


@pytest.mark.parametrize(("failing", "missing", "expected"), ORDER)
async def test_failover_order(
    failing: set[str], missing: dict[str, set[str]], expected: dict[str, str]
) -> None:
    """Each token is served by the first source in order that answers for it, static last."""
    oracle = FailoverOracle(_sources(failing, missing), [SOL, USDC, USDT], settings=SINGLE)
    await oracle.refresh()
    served = {t.symbol: (await oracle.price(t)).source for t in (SOL, USDC, USDT)}
    assert served == expected


async def test_later_sources_are_asked_only_for_what_is_missing() -> None:
    """A later source is asked only for tokens the earlier ones did not price."""
    sources = _sources(set(), {"coingecko": {"SOL"}})
    oracle = FailoverOracle(sources, [SOL, USDC, USDT], settings=SINGLE)
    await oracle.refresh()
    assert [s.calls for s in sources] == [[["SOL", "USDC", "USDT"]], [["SOL"]], []]


async def test_price_is_a_price_point() -> None:
    """price() returns a PricePoint (the PriceOracle protocol) carrying the oracle's flags."""
    oracle = FailoverOracle(_sources(set(), {}), [SOL], settings=SINGLE, clock=FakeClock())
    point = await oracle.price(SOL)
    assert isinstance(point, PricePoint)
    assert isinstance(point, OraclePrice)
    assert (point.usd, point.source, point.stale, point.quote) == (
        D("147.2"),
        "coingecko",
        False,
        "USD",
    )


@pytest.mark.parametrize(
    ("advance", "refetched", "stale"),
    [(0, False, False), (299, False, False), (300, False, False), (301, True, False)],
)
async def test_cache_expiry(advance: float, refetched: bool, stale: bool) -> None:
    """Within the TTL price() answers from the cache; after it, a miss triggers one refresh."""
    clock = FakeClock()
    source = ScriptedSource("coingecko", PRICES)
    oracle = FailoverOracle([source], [SOL], settings=SINGLE, clock=clock)
    await oracle.refresh()
    clock.advance(advance)
    point = await oracle.price(SOL)
    assert len(source.calls) == (2 if refetched else 1)
    assert point.stale is stale
    assert point.fetched_at == clock.now if refetched else point.fetched_at == clock.now - advance
    snap = oracle.snapshot()
    assert (snap.cache_hits, snap.cache_misses) == ((0, 1) if refetched else (1, 0))


async def test_cold_cache_triggers_one_refresh_then_hits() -> None:
    """The first price() on a cold cache refreshes once; later calls are cache hits."""
    source = ScriptedSource("coingecko", PRICES)
    oracle = FailoverOracle([source], [SOL, USDC], settings=SINGLE, clock=FakeClock())
    assert (await oracle.price(SOL)).source == "coingecko"
    assert (await oracle.price(USDC)).source == "coingecko"
    assert source.calls == [["SOL", "USDC"]]
    assert (oracle.cache_hits, oracle.cache_misses, oracle.refreshes) == (1, 1, 1)


async def test_cache_ttl_is_configurable() -> None:
    """cache_ttl_s sets when an entry stops being fresh."""
    clock = FakeClock()
    source = ScriptedSource("coingecko", PRICES)
    settings = FailoverSettings(cache_ttl_s=10, refresh_cooldown_s=5, cross_check=False)
    oracle = FailoverOracle([source], [SOL], settings=settings, clock=clock)
    await oracle.refresh()
    clock.advance(11)
    await oracle.price(SOL)
    assert len(source.calls) == 2


async def test_miss_refreshes_at_most_once_per_cooldown() -> None:
    """Repeated misses within refresh_cooldown_s do not hit the network again."""
    clock = FakeClock()
    source = ScriptedSource("coingecko", {})  # never prices SOL: every price() is a miss
    settings = FailoverSettings(cross_check=False, refresh_cooldown_s=30)
    nostatic = Token("SOL", SOL.mint, 9, coingecko_id="solana")
    oracle = FailoverOracle([source], [nostatic], settings=settings, clock=clock)
    for _ in range(3):
        with pytest.raises(PriceUnavailable):
            await oracle.price(nostatic)
    assert len(source.calls) == 1
    clock.advance(31)
    with pytest.raises(PriceUnavailable):
        await oracle.price(nostatic)
    assert len(source.calls) == 2


async def test_offline_serves_static_fast() -> None:
    """With every network source refusing connections, price() serves static at once."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no network", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        sources = build_sources(["coingecko", "kraken", "binance", "static"], client)
        oracle = FailoverOracle(sources, [SOL, USDC, USDT, RAY])
        started = time.monotonic()
        points = [await oracle.price(t) for t in (SOL, USDC, USDT, RAY)]
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert [(p.source, p.usd) for p in points] == [
        ("static", D(150)),
        ("static", D(1)),
        ("static", D(1)),
        ("static", D("2.5")),
    ]
    snap = oracle.snapshot()
    assert {n: (s.status, s.failures) for n, s in snap.sources.items()} == {
        name: ("backing_off", {"unavailable": 1}) for name in ("coingecko", "kraken", "binance")
    }
    assert {s: t.source for s, t in snap.tokens.items()} == dict.fromkeys(
        ("SOL", "USDC", "USDT", "RAY"), "static"
    )


async def test_price_waits_only_briefly_for_a_slow_refresh() -> None:
    """A hanging source holds price() no longer than price_timeout_s; static is served."""
    slow = ScriptedSource("coingecko", PRICES, delay=30)
    settings = FailoverSettings(price_timeout_s=0.05, cross_check=False)
    oracle = FailoverOracle([slow], [SOL], settings=settings)
    started = time.monotonic()
    point = await oracle.price(SOL)
    assert time.monotonic() - started < 1.0
    assert point.source == "static"
    await oracle.aclose()


async def test_slow_source_times_out_per_fetch() -> None:
    """A source slower than fetch_timeout_s counts as unavailable and the next one answers."""
    slow = ScriptedSource("coingecko", PRICES, delay=30)
    fast = ScriptedSource("kraken", PRICES)
    settings = FailoverSettings(fetch_timeout_s=0.05, cross_check=False)
    oracle = FailoverOracle([slow, fast], [SOL], settings=settings, clock=FakeClock())
    await oracle.refresh()
    assert (await oracle.price(SOL)).source == "kraken"
    assert oracle.snapshot().sources["coingecko"].failures == {"unavailable": 1}


async def test_concurrent_refreshes_share_one_fetch() -> None:
    """Refreshes started while one runs join it instead of fetching again."""
    source = ScriptedSource("coingecko", PRICES, delay=0.01)
    oracle = FailoverOracle([source], [SOL], settings=SINGLE)
    await asyncio.gather(oracle.refresh(), oracle.refresh(), oracle.price(SOL))
    assert len(source.calls) == 1


# (primary, other, tolerance, flagged)
DISAGREEMENTS = [
    pytest.param(D("150"), D("150.3"), D("0.02"), False, id="within-tolerance"),
    pytest.param(D("150"), D("153"), D("0.02"), False, id="at-tolerance"),
    pytest.param(D("150"), D("160"), D("0.02"), True, id="above"),
    pytest.param(D("150"), D("140"), D("0.02"), True, id="below"),
    pytest.param(D("150"), D("150.3"), D("0.001"), True, id="tight-tolerance"),
]


@pytest.mark.parametrize(("primary", "other", "tolerance", "flagged"), DISAGREEMENTS)
async def test_disagreement_flagged(
    primary: Decimal, other: Decimal, tolerance: Decimal, flagged: bool
) -> None:
    """With two answers the primary is served unaveraged and a wide spread is flagged."""
    sources = [
        ScriptedSource("coingecko", {"SOL": primary}),
        ScriptedSource("kraken", {"SOL": other}),
        ScriptedSource("binance", {"SOL": D(1)}),
    ]
    settings = FailoverSettings(disagreement_tolerance=tolerance)
    oracle = FailoverOracle(sources, [SOL], settings=settings, clock=FakeClock())
    await oracle.refresh()
    point = await oracle.price(SOL)
    assert (point.usd, point.source) == (primary, "coingecko")
    assert sources[2].calls == []  # two answers suffice
    assert (point.disagreement is not None) is flagged
    assert ("SOL" in oracle.disagreements) is flagged
    if point.disagreement is not None:
        d = point.disagreement
        assert (d.primary_source, d.other_source, d.other_usd) == ("coingecko", "kraken", other)
        assert d.spread == abs(other - primary) / primary


async def test_disagreement_clears_when_sources_agree_again() -> None:
    """A flagged disagreement is dropped once the next refresh finds the sources in line."""
    clock = FakeClock()
    other = ScriptedSource("kraken", {"SOL": D(200)})
    oracle = FailoverOracle(
        [ScriptedSource("coingecko", {"SOL": D(150)}), other], [SOL], clock=clock
    )
    await oracle.refresh()
    assert set(oracle.disagreements) == {"SOL"}
    other.prices = {"SOL": D("150.1")}
    await oracle.refresh()
    assert oracle.disagreements == {}


@pytest.mark.parametrize(
    ("usdt_answer", "expected_usd", "expected_quote"),
    [
        (D("1.001"), D("147.147"), "USD"),
        (None, D(147), "USDT"),
    ],
    ids=["converted-with-live-usdt", "no-usdt-price-flagged-usdt"],
)
async def test_usdt_quoted_prices(
    usdt_answer: Decimal | None, expected_usd: Decimal, expected_quote: str
) -> None:
    """Binance's USDT prices are converted with USDT's live USD price, else flagged USDT."""
    first = ScriptedSource("coingecko", {"USDT": usdt_answer} if usdt_answer else {})
    binance = ScriptedSource("binance", {"SOL": D(147)}, quote="USDT")
    oracle = FailoverOracle([first, binance], [SOL, USDT], settings=SINGLE, clock=FakeClock())
    await oracle.refresh()
    point = await oracle.price(SOL)
    assert (point.source, point.usd, point.quote) == ("binance", expected_usd, expected_quote)


@pytest.mark.parametrize(
    ("advance", "source", "stale"),
    [(100, "coingecko", False), (1000, "coingecko", True), (3700, "static", False)],
    ids=["fresh", "stale-live-beats-static", "too-old-falls-to-static"],
)
async def test_stale_live_price_then_static(advance: float, source: str, stale: bool) -> None:
    """When sources fail, a live price is served flagged stale up to max_stale_s, then static."""
    clock = FakeClock()
    live = ScriptedSource("coingecko", PRICES)
    oracle = FailoverOracle([live], [SOL], settings=SINGLE, clock=clock)
    await oracle.refresh()
    live.error = SourceUnavailable("coingecko", "down")
    clock.advance(advance)
    point = await oracle.price(SOL)
    assert (point.source, point.stale) == (source, stale)


async def test_old_source_timestamp_fails_over() -> None:
    """An observation older than max_observation_age_s is not used; the next source serves."""
    clock = FakeClock()
    old = ScriptedSource("pyth", PRICES, observed_at=clock.now - 901)
    fresh = ScriptedSource("coingecko", PRICES, observed_at=clock.now - 30)
    oracle = FailoverOracle([old, fresh], [SOL], settings=SINGLE, clock=clock)
    await oracle.refresh()
    point = await oracle.price(SOL)
    assert (point.source, point.observed_at) == ("coingecko", clock.now - 30)
    assert oracle.snapshot().sources["pyth"].failures == {"stale": 1}


@pytest.mark.parametrize(
    ("ahead_s", "served_by", "failures"),
    [
        (0, "pyth", {}),
        (MAX_CLOCK_AHEAD_S, "pyth", {}),  # honest clock skew is tolerated
        (MAX_CLOCK_AHEAD_S + 1, "coingecko", {"future": 1}),
        (86_400 * 365, "coingecko", {"future": 1}),
    ],
)
async def test_a_source_timestamp_from_the_future_fails_over(
    ahead_s: float, served_by: str, failures: dict[str, int]
) -> None:
    """An observation dated further ahead than clock skew explains is refused (it would pass
    every age check while it stays ahead); the next source serves."""
    clock = FakeClock()
    ahead = ScriptedSource("pyth", PRICES, observed_at=clock.now + ahead_s)
    fresh = ScriptedSource("coingecko", PRICES, observed_at=clock.now - 30)
    oracle = FailoverOracle([ahead, fresh], [SOL], settings=SINGLE, clock=clock)
    await oracle.refresh()
    assert (await oracle.price(SOL)).source == served_by
    assert oracle.snapshot().sources["pyth"].failures == failures


async def test_no_price_anywhere_raises() -> None:
    """PriceUnavailable only when no source, not even static, has a price."""
    nothing = Token("NOPE", "Nope1111", 6)
    oracle = FailoverOracle([ScriptedSource("coingecko", {})], [nothing], clock=FakeClock())
    with pytest.raises(PriceUnavailable):
        await oracle.price(nothing)


async def test_source_bug_is_contained() -> None:
    """A source raising an unexpected exception is counted as an error; the next one serves."""
    broken = ScriptedSource("coingecko", PRICES, error=KeyError("oops"))
    oracle = FailoverOracle(
        [broken, ScriptedSource("kraken", PRICES)], [SOL], settings=SINGLE, clock=FakeClock()
    )
    await oracle.refresh()
    assert (await oracle.price(SOL)).source == "kraken"
    assert oracle.snapshot().sources["coingecko"].failures == {"error": 1}


async def test_snapshot_reports_tokens_and_sources() -> None:
    """snapshot() gives the active source and age per token and health per source."""
    clock = FakeClock()
    sources = _sources({"coingecko"}, {})
    oracle = FailoverOracle(sources, [SOL, RAY], settings=SINGLE, retry=NO_JITTER, clock=clock)
    await oracle.refresh()
    clock.advance(12)
    snap = oracle.snapshot()
    assert {s: (t.source, t.age_s, t.stale) for s, t in snap.tokens.items()} == {
        "SOL": ("kraken", 12, False),
        "RAY": ("static", 12, False),
    }
    assert {n: (s.status, s.retry_in_s) for n, s in snap.sources.items()} == {
        "coingecko": ("backing_off", 18),
        "kraken": ("up", None),
        "binance": ("up", None),
    }
    assert snap.sources["kraken"].failures == {"missing": 1}  # asked for RAY, had none
    assert (snap.refreshes, snap.last_refresh_at) == (1, clock.now - 12)
    assert oracle.source_names == ("coingecko", "kraken", "binance", "static")


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: SourceBackoff(initial_delay_s=0), "initial_delay_s"),
        (lambda: SourceBackoff(jitter=1.5), "jitter"),
        (lambda: SourceBackoff(multiplier=0.5), "multiplier"),
        (lambda: SourceBackoff(disabled_recheck_s=0), "disabled_recheck_s"),
        (lambda: BreakerSettings(failure_threshold=0), "failure_threshold"),
        (lambda: BreakerSettings(open_s=0), "open_s"),
        (lambda: FailoverSettings(cache_ttl_s=0), "cache_ttl_s"),
        (lambda: FailoverSettings(max_stale_s=-1), "max_stale_s"),
        (lambda: FailoverSettings(disagreement_tolerance=D(0)), "disagreement_tolerance"),
        (lambda: FailoverOracle([ScriptedSource("a"), ScriptedSource("a")]), "twice"),
    ],
)
def test_settings_are_validated(factory: object, match: str) -> None:
    """Nonsensical settings are rejected when built, not discovered at runtime."""
    with pytest.raises(ValueError, match=match):
        factory()  # type: ignore[operator]
