"""USD prices from public providers: one source per provider (CoinGecko, Kraken, Binance, Pyth,
Jupiter), the pure parsers of their answers, the errors they raise, and each source's health.

:func:`build_sources` makes the configured sources; :class:`FailoverOracle` fails over between
them per token, caches what they answer and backs off a failing source (:class:`SourceBackoff`,
:class:`BreakerSettings`): it is the :class:`~agent.domain.prices.PriceOracle` the agent asks.
"""

from agent.pricing.errors import (
    BadPayload,
    PriceSourceError,
    RateLimited,
    SourceDisabled,
    SourceUnavailable,
    UnknownInstrument,
)
from agent.pricing.failover import FailoverOracle, FailoverSettings
from agent.pricing.health import BreakerSettings, SourceBackoff
from agent.pricing.http_status import check_status
from agent.pricing.parsers import (
    Observation,
    convert_usdt,
    parse_binance,
    parse_coingecko,
    parse_jupiter,
    parse_kraken,
    parse_pyth,
)
from agent.pricing.sources import (
    BinanceSource,
    CoinGeckoSource,
    JupiterSource,
    KrakenSource,
    PriceSource,
    PythSource,
    SourceKeys,
    build_sources,
)

__all__ = [
    "BadPayload",
    "BinanceSource",
    "BreakerSettings",
    "CoinGeckoSource",
    "FailoverOracle",
    "FailoverSettings",
    "JupiterSource",
    "KrakenSource",
    "Observation",
    "PriceSource",
    "PriceSourceError",
    "PythSource",
    "RateLimited",
    "SourceBackoff",
    "SourceDisabled",
    "SourceKeys",
    "SourceUnavailable",
    "UnknownInstrument",
    "build_sources",
    "check_status",
    "convert_usdt",
    "parse_binance",
    "parse_coingecko",
    "parse_jupiter",
    "parse_kraken",
    "parse_pyth",
]
