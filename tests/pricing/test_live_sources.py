"""Each source against its real endpoint (opt in with --live).

Optional keys come from OTC_AGENT_TEST_COINGECKO_API_KEY, OTC_AGENT_TEST_JUPITER_API_KEY and
OTC_AGENT_TEST_PYTH_API_KEY; Pyth is skipped without one (Hermes requires a key since 2026).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from agent.pricing.errors import SourceDisabled
from agent.pricing.failover import FailoverOracle
from agent.pricing.parsers import Observation
from agent.pricing.sources import (
    BinanceSource,
    CoinGeckoSource,
    JupiterSource,
    KrakenSource,
    PythSource,
    build_sources,
)
from tests.support.price_fixtures import SOL, USDC, USDT

pytestmark = pytest.mark.live

# Wide on purpose: the test checks the wire format and units, not the market.
SOL_RANGE = (Decimal(1), Decimal(100_000))
STABLE_RANGE = (Decimal("0.9"), Decimal("1.1"))


@pytest.fixture(name="client")
async def _client() -> AsyncIterator[httpx.AsyncClient]:
    """A real client, as the daemon builds one."""
    async with httpx.AsyncClient(headers={"user-agent": "otc-agent-live-test"}) as client:
        yield client


def _assert_sane(observations: dict[str, Observation], symbols: set[str]) -> None:
    assert set(observations) == symbols
    for symbol, observation in observations.items():
        low, high = SOL_RANGE if symbol == "SOL" else STABLE_RANGE
        assert low < observation.usd < high, (symbol, observation)


async def test_coingecko_live(client: httpx.AsyncClient) -> None:
    """CoinGecko /simple/price prices SOL, USDC and USDT in USD."""
    key = os.environ.get("OTC_AGENT_TEST_COINGECKO_API_KEY", "")
    observations = await CoinGeckoSource(client, api_key=key).fetch([SOL, USDC, USDT])
    _assert_sane(observations, {"SOL", "USDC", "USDT"})


async def test_kraken_live(client: httpx.AsyncClient) -> None:
    """Kraken's Ticker answers SOLUSD, USDCUSD and USDTZUSD under its own pair names."""
    observations = await KrakenSource(client).fetch([SOL, USDC, USDT])
    _assert_sane(observations, {"SOL", "USDC", "USDT"})


@pytest.mark.parametrize("base_url", [BinanceSource.URL, "https://data-api.binance.vision/api/v3"])
async def test_binance_live(client: httpx.AsyncClient, base_url: str) -> None:
    """Binance ticker/24hr prices SOLUSDT and USDCUSDT (USDT-quoted)."""
    try:
        observations = await BinanceSource(client, base_url=base_url).fetch([SOL, USDC])
    except SourceDisabled as exc:  # 451 from restricted locations (US clouds) is expected
        pytest.skip(f"Binance is unavailable from here: {exc}")
    _assert_sane(observations, {"SOL", "USDC"})
    assert {o.quote for o in observations.values()} == {"USDT"}


async def test_pyth_live(client: httpx.AsyncClient) -> None:
    """Pyth Hermes prices the SOL and USDC feeds with a bearer key."""
    key = os.environ.get("OTC_AGENT_TEST_PYTH_API_KEY", "")
    if not key:
        pytest.skip("OTC_AGENT_TEST_PYTH_API_KEY is not set")
    observations = await PythSource(client, api_key=key).fetch([SOL, USDC])
    _assert_sane(observations, {"SOL", "USDC"})
    assert all(o.observed_at is not None for o in observations.values())


async def test_jupiter_live(client: httpx.AsyncClient) -> None:
    """Jupiter Price v3 prices the SOL and USDC mainnet mints."""
    key = os.environ.get("OTC_AGENT_TEST_JUPITER_API_KEY", "")
    observations = await JupiterSource(client, api_key=key).fetch([SOL, USDC])
    _assert_sane(observations, {"SOL", "USDC"})


async def test_failover_oracle_live(client: httpx.AsyncClient) -> None:
    """The default order prices SOL from a live source, not from static."""
    sources = build_sources(["coingecko", "kraken", "binance", "static"], client)
    oracle = FailoverOracle(sources, [SOL, USDC, USDT])
    await oracle.refresh()
    point = await oracle.price(SOL)
    assert point.source != "static"
    assert SOL_RANGE[0] < point.usd < SOL_RANGE[1]
