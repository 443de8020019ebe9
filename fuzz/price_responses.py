"""Atheris harness: every price-source parser and the status classifier on arbitrary bodies.

Not part of the test suite and atheris is no dependency of the project; run it by hand:

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/price_responses.py -runs=100000 var/fuzz/prices tests/fixtures/prices

Every input goes to the CoinGecko, Kraken, Binance, Pyth and Jupiter Price parsers (a
PriceSourceError or exact, positive, finite Decimal prices) and, as a body and a Retry-After
header, to check_status. Anything else is a crash libFuzzer reports with its input.
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import partial

import atheris
import harness

with atheris.instrument_imports(include=["agent"]):
    from agent.pricing.errors import PriceSourceError
    from agent.pricing.http_status import check_status
    from agent.pricing.parsers import (
        convert_usdt,
        parse_binance,
        parse_coingecko,
        parse_jupiter,
        parse_kraken,
        parse_pyth,
    )

# The instruments of the saved answers in tests/fixtures/prices.
PARSERS = (
    partial(parse_coingecko, ids={"SOL": "solana", "USDC": "usd-coin", "USDT": "tether"}),
    partial(parse_kraken, pairs={"SOL": "SOLUSD", "USDC": "USDCUSD", "USDT": "USDTZUSD"}),
    partial(parse_kraken, pairs={"BTC": "XBTUSD"}),
    partial(parse_binance, symbols={"SOL": "SOLUSDT", "RAY": "RAYUSDT"}),
    partial(parse_binance, symbols={"SOL": "SOLUSDT"}, usdt_usd=Decimal("1.0002")),
    partial(
        parse_pyth,
        feeds={
            "SOL": "0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
            "USDC": "EAA020C61CC479712813461CE153894A96A6C00B21ED0CFC2798D1F9A9E9C94A",
        },
    ),
    partial(
        parse_jupiter,
        mints={
            "SOL": "So11111111111111111111111111111111111111112",
            "USDC": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        },
    ),
)


def _finite(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def test_one_input(data: bytes) -> None:
    for parse in PARSERS:
        try:
            observations = parse(data)
        except PriceSourceError:
            continue
        for observation in observations.values():
            if not (_finite(observation.usd) and observation.usd > 0):
                raise AssertionError(f"price {observation.usd!r}")
            if observation.change_24h is not None and not _finite(observation.change_24h):
                raise AssertionError(f"change {observation.change_24h!r}")
            observed = observation.observed_at
            if observed is not None and not (type(observed) is float and math.isfinite(observed)):
                raise AssertionError(f"timestamp {observed!r}")
            convert_usdt(observation, Decimal("1.0002"))
    header = data[:40].decode("latin-1")
    for status in (200, 400, 418, 429, 503):
        try:
            check_status("binance", status, {"retry-after": header}, data, 1.7e9)
        except PriceSourceError as error:
            wait = getattr(error, "retry_after_s", None)
            if wait is not None and not 0 <= wait < math.inf:
                raise AssertionError(f"wait {wait!r}") from None


def main() -> None:
    harness.fuzz(test_one_input)


if __name__ == "__main__":
    main()
