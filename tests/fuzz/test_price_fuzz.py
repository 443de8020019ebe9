"""Fuzzing the price-source parsers: a PriceSourceError or exact, positive, finite prices.

tests/pricing/test_parsers.py pins each source's saved answers and named error payloads;
these properties throw arbitrary bytes, arbitrary JSON and randomly mutated saved answers
at every parser, and arbitrary statuses, headers and bodies at the status classifier.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from agent.net import parse_retry_after
from agent.pricing.errors import BadPayload, PriceSourceError, RateLimited, SourceDisabled
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
from tests.support.mutations import byte_mutations, fuzzing, hostile_values, json_documents, mutated
from tests.support.price_fixtures import FIXTURES

USDT_USD = Decimal("1.0002")
PYTH_IDS = {
    "SOL": "0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
    "USDC": "EAA020C61CC479712813461CE153894A96A6C00B21ED0CFC2798D1F9A9E9C94A",
}
JUPITER_MINTS = {
    "SOL": "So11111111111111111111111111111111111111112",
    "USDC": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
}
Parser = Callable[[bytes], dict[str, Observation]]
# name -> (parser with its instruments bound, the instruments, the saved answers to mutate:
# a good one and the source's documented error payloads)
SOURCES: dict[str, tuple[Parser, Mapping[str, str], tuple[str, ...]]] = {
    "coingecko": (
        partial(parse_coingecko, ids={"SOL": "solana", "USDC": "usd-coin", "USDT": "tether"}),
        {"SOL": "solana", "USDC": "usd-coin", "USDT": "tether"},
        ("coingecko_ok.json", "coingecko_429.json", "coingecko_error_10002.json"),
    ),
    "kraken": (
        partial(parse_kraken, pairs={"SOL": "SOLUSD", "USDC": "USDCUSD", "USDT": "USDTZUSD"}),
        {"SOL": "SOLUSD", "USDC": "USDCUSD", "USDT": "USDTZUSD"},
        ("kraken_ok.json", "kraken_unknown_pair.json", "kraken_rate_limit_exceeded.json"),
    ),
    "kraken-one-pair": (
        partial(parse_kraken, pairs={"BTC": "XBTUSD"}),
        {"BTC": "XBTUSD"},
        ("kraken_xbt.json", "kraken_service_unavailable.json"),
    ),
    "binance-24hr": (
        partial(parse_binance, symbols={"SOL": "SOLUSDT", "RAY": "RAYUSDT"}),
        {"SOL": "SOLUSDT", "RAY": "RAYUSDT"},
        ("binance_24hr.json", "binance_invalid_symbol.json"),
    ),
    "binance-price-in-usd": (
        partial(parse_binance, symbols={"SOL": "SOLUSDT", "RAY": "RAYUSDT"}, usdt_usd=USDT_USD),
        {"SOL": "SOLUSDT", "RAY": "RAYUSDT"},
        ("binance_price.json", "binance_429.json"),
    ),
    "pyth": (
        partial(parse_pyth, feeds=PYTH_IDS),
        PYTH_IDS,
        ("pyth_ok.json", "pyth_wide_conf.json"),
    ),
    "jupiter": (partial(parse_jupiter, mints=JUPITER_MINTS), JUPITER_MINTS, ("jupiter_ok.json",)),
}
REASONS = {"rate_limited", "unavailable", "bad_payload", "unknown_instrument", "disabled"}


def _finite_decimal(value: Any) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def check_observations(
    result: dict[str, Observation], instruments: Mapping[str, str], name: str
) -> None:
    """Only requested symbols, each with an exact positive finite price (never a float), a
    finite change, a finite positive timestamp, and the quote currency the source promises."""
    assert isinstance(result, dict) and set(result) <= set(instruments)
    for observation in result.values():
        assert isinstance(observation, Observation)
        assert _finite_decimal(observation.usd) and observation.usd > 0
        assert observation.change_24h is None or _finite_decimal(observation.change_24h)
        observed = observation.observed_at
        assert observed is None or (type(observed) is float and 0 < observed < math.inf)
        expected_quote = "USDT" if name == "binance-24hr" else "USD"
        assert observation.quote == expected_quote
        converted = convert_usdt(observation, USDT_USD)  # must not trap either
        assert _finite_decimal(converted.usd) and converted.quote == "USD"


def check_refusal(error: PriceSourceError, source: str) -> None:
    """A refusal names its source, a bounded reason label and, when given, a usable wait."""
    assert error.source == source and error.reason in REASONS and error.detail
    retry_after = getattr(error, "retry_after_s", None)
    assert retry_after is None or 0 <= retry_after < math.inf


def bodies(fixtures: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes and JSON, and saved answers mutated structurally or byte by byte."""
    saved = [(FIXTURES / name).read_bytes() for name in fixtures]
    return st.one_of(
        st.sampled_from(saved),
        st.binary(max_size=512),
        json_documents().map(lambda value: json.dumps(value).encode()),
        *(mutated(json.loads(answer)).map(str.encode) for answer in saved),
        *(mutated(json.loads(answer)).map(str.encode) for answer in saved[:1]),
        *(byte_mutations(answer).map(lambda named: named[1]) for answer in saved),
    )


BODIES = {name: bodies(fixtures) for name, (_parse, _instruments, fixtures) in SOURCES.items()}


@pytest.mark.parametrize("name", sorted(SOURCES))
@fuzzing(250)
@given(data=st.data())
def test_answers_are_refused_or_parse_into_exact_prices(name: str, data: st.DataObject) -> None:
    """Each parser raises a PriceSourceError or returns exact, positive, finite Decimal prices."""
    parse, instruments, _fixtures = SOURCES[name]
    body = data.draw(BODIES[name], label="body")
    try:
        result = parse(body)
    except PriceSourceError as error:
        event(error.reason)
        check_refusal(error, name.split("-")[0])
        return
    event("parsed")
    check_observations(result, instruments, name)


DEEP = b"[" * 100_000 + b"]" * 100_000


def _pyth_with(**price: Any) -> bytes:
    item = {"id": PYTH_IDS["SOL"][2:], "price": {"price": "1", "conf": "0", "expo": -8, **price}}
    return json.dumps({"parsed": [item]}).encode()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        # Found by fuzzing, fixed in agent/pricing/decoding.py and parsers.py: each leaked a builtin exception
        # (RecursionError, decimal.Overflow, decimal.InvalidOperation) or was accepted as an
        # absurd value (a price of 1.1e4991 USD, an infinite timestamp).
        pytest.param("coingecko", DEEP, id="deep nesting"),
        pytest.param("pyth", DEEP, id="deep nesting pyth"),
        pytest.param(
            "kraken-one-pair",
            b'{"error":[],"result":{"X":{"c":["1e999999"],"o":"1e-999999"}}}',
            id="kraken change overflows",
        ),
        pytest.param("pyth", _pyth_with(expo=10**12), id="pyth exponent beyond scaleb"),
        pytest.param("pyth", _pyth_with(expo=-(10**7)), id="pyth negative exponent"),
        pytest.param("pyth", _pyth_with(price="1" * 5_000), id="pyth price of 5,000 digits"),
        pytest.param(
            "coingecko",
            b'{"solana":{"usd":1,"last_updated_at":1e400}}',
            id="timestamp beyond float",
        ),
        pytest.param(
            "binance-price-in-usd",
            b'[{"symbol":"SOLUSDT","price":"9.9999e999999"}]',
            id="usdt conversion overflows",
        ),
        # Found by atheris (fuzz/price_responses.py): a TypeError, an unhashable error code.
        pytest.param(
            "coingecko", b'{"status":{"error_code":{"o":10}}}', id="coingecko error_code object"
        ),
        pytest.param("coingecko", b'{"status":{"error_code":[10002]}}', id="error_code list"),
    ],
)
def test_bodies_found_by_fuzzing_are_bad_payload(name: str, body: bytes) -> None:
    """Deep nesting, numbers beyond 1e±100 and non-numeric error codes are BadPayload."""
    parse, _instruments, _fixture = SOURCES[name]
    with pytest.raises(BadPayload) as refusal:
        parse(body)
    check_refusal(refusal.value, name.split("-")[0])


HEADER_VALUES = st.one_of(
    hostile_values().map(str),
    st.sampled_from(["1", "0", "-5", "2.5", "nan", "inf", "1e400", "", " "]),
    st.builds(
        "{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} {}".format,
        st.sampled_from(["Mon", "Wed", "Xyz"]),
        st.integers(0, 99),
        st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
        st.integers(0, 99_999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.sampled_from(["GMT", "UTC", "-0000", "+2359", "-9999", "EST", ""]),
    ),
)


@fuzzing(400)
@given(value=st.none() | HEADER_VALUES, now=st.floats(0, 4e9))
@example(value="Mon, 01 Jan 0001 00:00:00 +2359", now=0.0)
def test_retry_after_is_none_or_a_finite_wait(value: str | None, now: float) -> None:
    """Any Retry-After header value gives None or a finite, non-negative number of seconds."""
    wait = parse_retry_after(value, now)
    assert wait is None or (type(wait) is float and 0 <= wait < math.inf)


@fuzzing(400)
@given(
    status=st.integers(100, 599) | st.sampled_from([200, 400, 401, 403, 418, 429, 451, 503]),
    headers=st.fixed_dictionaries(
        {}, optional={"retry-after": HEADER_VALUES, "location": HEADER_VALUES}
    ),
    body=st.one_of(
        st.binary(max_size=256),
        st.just(DEEP),
        mutated({"code": -1121, "msg": "IP banned until 1760000180000."}).map(str.encode),
    ),
)
def test_check_status_passes_2xx_and_classifies_the_rest(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    """A 2xx passes; any other status raises a PriceSourceError with a finite wait, if any."""
    try:
        check_status("binance", status, headers, body, 1_760_000_000.0)
    except PriceSourceError as error:
        event(error.reason)
        assert not 200 <= status < 300
        check_refusal(error, "binance")
        if status == 418:
            assert isinstance(error, SourceDisabled)
        if status == 429:
            assert isinstance(error, RateLimited)
    else:
        assert 200 <= status < 300
