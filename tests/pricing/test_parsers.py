"""Pure parsers and the errors they raise, against saved source responses."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal

import pytest

from agent.pricing.errors import (
    BadPayload,
    PriceSourceError,
    RateLimited,
    SourceDisabled,
    SourceUnavailable,
    UnknownInstrument,
)
from agent.pricing.parsers import (
    Observation,
    convert_usdt,
    kraken_altname,
    parse_binance,
    parse_coingecko,
    parse_jupiter,
    parse_kraken,
    parse_pyth,
)
from tests.support.price_fixtures import fixture

D = Decimal
Parser = Callable[[bytes, Mapping[str, str]], dict[str, Observation]]

CG_IDS = {"SOL": "solana", "USDC": "usd-coin", "USDT": "tether"}
KRAKEN_PAIRS = {"SOL": "SOLUSD", "USDC": "USDCUSD", "USDT": "USDTZUSD"}
BINANCE_SYMBOLS = {"SOL": "SOLUSDT", "RAY": "RAYUSDT"}
PYTH_FEEDS = {
    "SOL": "0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
    "USDC": "EAA020C61CC479712813461CE153894A96A6C00B21ED0CFC2798D1F9A9E9C94A",
}
JUPITER_MINTS = {
    "SOL": "So11111111111111111111111111111111111111112",
    "USDC": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
}


def _binance(body: bytes, symbols: Mapping[str, str]) -> dict[str, Observation]:
    return parse_binance(body, symbols)


# (parser, fixture, ids, expected observations)
PARSED = [
    pytest.param(
        parse_coingecko, "coingecko_ok.json", CG_IDS,
        {
            "SOL": Observation(D("147.23018"), D("-1.8422133"), 1_760_000_000.0),
            "USDC": Observation(D("0.999912"), D("0.00121"), 1_760_000_000.0),
            "USDT": Observation(D("1.000231"), D("0.0104"), 1_759_999_990.0),
        },
        id="coingecko-ok",
    ),
    pytest.param(
        parse_coingecko, "coingecko_null_change.json", {"SOL": "solana"},
        {"SOL": Observation(D("147.23018"), None, 1_760_000_000.0)},
        id="coingecko-null-24h-change",
    ),
    pytest.param(
        parse_coingecko, "coingecko_unknown_ids.json", {"SOL": "solana"}, {},
        id="coingecko-unknown-ids-empty",
    ),
    pytest.param(
        parse_coingecko, "coingecko_ok.json", {"SOL": "solana", "RAY": "raydium"},
        {"SOL": Observation(D("147.23018"), D("-1.8422133"), 1_760_000_000.0)},
        id="coingecko-missing-id-absent",
    ),
    pytest.param(
        parse_kraken, "kraken_ok.json", KRAKEN_PAIRS,
        {
            "SOL": Observation(D("147.30500"), (D("147.305") - 150) / 150 * 100),
            "USDC": Observation(D("0.99990000"), (D("0.9999") - D("0.9998")) / D("0.9998") * 100),
            "USDT": Observation(D("1.00020000"), D("0.02")),
        },
        id="kraken-ok-own-pair-names",
    ),
    pytest.param(
        parse_kraken, "kraken_ok.json", {"SOL": "SOLUSD", "USDT": "USDTUSD"},
        {
            "SOL": Observation(D("147.30500"), (D("147.305") - 150) / 150 * 100),
            "USDT": Observation(D("1.00020000"), D("0.02")),
        },
        id="kraken-altname-matches-USDTZUSD",
    ),
    pytest.param(
        parse_kraken, "kraken_xbt.json", {"BTC": "XBTUSD"},
        {"BTC": Observation(D("30303.20000"), (D("30303.2") - D("30502.8")) / D("30502.8") * 100)},
        id="kraken-single-pair-by-position",
    ),
    pytest.param(
        _binance, "binance_price.json", BINANCE_SYMBOLS,
        {
            "SOL": Observation(D("147.12"), None, None, "USDT"),
            "RAY": Observation(D("2.413"), None, None, "USDT"),
        },
        id="binance-ticker-price",
    ),
    pytest.param(
        _binance, "binance_24hr.json", BINANCE_SYMBOLS,
        {
            "SOL": Observation(D("147.12"), D("-1.920"), 1_760_000_000.0, "USDT"),
            "RAY": Observation(D("2.412"), D("-1.671"), 1_760_000_000.0, "USDT"),
        },
        id="binance-24hr-list",
    ),
    pytest.param(
        _binance, "binance_24hr_single.json", {"SOL": "SOLUSDT"},
        {"SOL": Observation(D("147.12"), D("-1.920"), 1_760_000_000.0, "USDT")},
        id="binance-24hr-single-object",
    ),
    pytest.param(
        parse_pyth, "pyth_ok.json", PYTH_FEEDS,
        {
            "SOL": Observation(D("147.23018000"), None, 1_760_000_050.0),
            "USDC": Observation(D("0.99991200"), None, 1_760_000_050.0),
        },
        id="pyth-ok-expo-and-0x-ids",
    ),
    pytest.param(
        parse_pyth, "pyth_wide_conf.json", PYTH_FEEDS, {},
        id="pyth-wide-confidence-omitted",
    ),
    pytest.param(
        parse_jupiter, "jupiter_ok.json", {**JUPITER_MINTS, "RAY": "4k3Dyjzvzp8e"},
        {
            "SOL": Observation(D("147.48"), D("1.29")),
            "USDC": Observation(D("0.9999"), D("-0.003")),
        },
        id="jupiter-v3-by-mint",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("parser", "name", "ids", "expected"), PARSED)
def test_parses_fixture(
    parser: Parser, name: str, ids: Mapping[str, str], expected: dict[str, Observation]
) -> None:
    """Each saved response parses to exact Decimal observations keyed by our symbols."""
    assert parser(fixture(name), ids) == expected


# (parser, body, ids, error type, retry_after)
ERRORS = [
    pytest.param(parse_coingecko, fixture("coingecko_429.json"), CG_IDS, RateLimited, None,
                 id="coingecko-429-body"),
    pytest.param(parse_coingecko, fixture("coingecko_error_10002.json"), CG_IDS, SourceDisabled,
                 None, id="coingecko-key-missing"),
    pytest.param(parse_coingecko, fixture("coingecko_429_cloudflare.html"), CG_IDS, BadPayload,
                 None, id="coingecko-cloudflare-html-on-200"),
    pytest.param(parse_coingecko, fixture("invalid.json"), CG_IDS, BadPayload, None,
                 id="coingecko-truncated-json"),
    pytest.param(parse_coingecko, b'{"solana": {"eur": 1}}', CG_IDS, BadPayload, None,
                 id="coingecko-no-usd"),
    pytest.param(parse_coingecko, b'[1, 2]', CG_IDS, BadPayload, None, id="coingecko-not-object"),
    pytest.param(parse_kraken, fixture("kraken_too_many_requests.json"), KRAKEN_PAIRS, RateLimited,
                 None, id="kraken-200-too-many-requests"),
    pytest.param(parse_kraken, fixture("kraken_rate_limit_exceeded.json"), KRAKEN_PAIRS,
                 RateLimited, None, id="kraken-200-rate-limit-exceeded"),
    pytest.param(parse_kraken, fixture("kraken_unknown_pair.json"), KRAKEN_PAIRS,
                 UnknownInstrument, None, id="kraken-unknown-asset-pair"),
    pytest.param(parse_kraken, fixture("kraken_service_unavailable.json"), KRAKEN_PAIRS,
                 SourceUnavailable, None, id="kraken-service-unavailable"),
    pytest.param(parse_kraken, b'{"error":["EGeneral:Invalid arguments"]}', KRAKEN_PAIRS,
                 BadPayload, None, id="kraken-other-error"),
    pytest.param(parse_kraken, b'{"error":[],"result":{"SOLUSD":{"c":[]}}}', {"SOL": "SOLUSD"},
                 BadPayload, None, id="kraken-empty-last-trade"),
    pytest.param(parse_kraken, b'{"error":[]}', KRAKEN_PAIRS, BadPayload, None,
                 id="kraken-no-result"),
    pytest.param(parse_kraken, fixture("invalid.json"), KRAKEN_PAIRS, BadPayload, None,
                 id="kraken-truncated-json"),
    pytest.param(_binance, fixture("binance_invalid_symbol.json"), BINANCE_SYMBOLS,
                 UnknownInstrument, None, id="binance-invalid-symbol"),
    pytest.param(_binance, fixture("binance_429.json"), BINANCE_SYMBOLS, BadPayload, None,
                 id="binance-error-object-on-200"),
    pytest.param(_binance, b'[{"symbol":"SOLUSDT"}]', BINANCE_SYMBOLS, BadPayload, None,
                 id="binance-no-price"),
    pytest.param(parse_pyth, b'{"binary":{}}', PYTH_FEEDS, BadPayload, None, id="pyth-no-parsed"),
    pytest.param(parse_pyth,
                 b'{"parsed":[{"id":"ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",'
                 b'"price":{"price":"1","conf":"0","expo":"x","publish_time":1}}]}',
                 PYTH_FEEDS, BadPayload, None, id="pyth-bad-expo"),
    pytest.param(parse_jupiter, b'{"error":"Unauthorized"}', JUPITER_MINTS, BadPayload, None,
                 id="jupiter-error"),
]  # fmt: skip


@pytest.mark.parametrize(("parser", "body", "ids", "error", "retry_after"), ERRORS)
def test_classifies_error_payload(
    parser: Parser,
    body: bytes,
    ids: Mapping[str, str],
    error: type[PriceSourceError],
    retry_after: float | None,
) -> None:
    """Throttle and error bodies raise the error class that says what the caller does next."""
    with pytest.raises(error) as caught:
        parser(body, ids)
    assert type(caught.value) is error
    assert getattr(caught.value, "retry_after_s", None) == retry_after


BAD_PRICES = [
    pytest.param(0, id="zero"),
    pytest.param(-1.5, id="negative"),
    pytest.param("NaN", id="nan-string"),
    pytest.param("Infinity", id="infinity-string"),
    pytest.param(True, id="bool"),
    pytest.param("abc", id="garbage-string"),
    pytest.param(None, id="null"),
    pytest.param([1], id="list"),
]


@pytest.mark.parametrize("value", BAD_PRICES)
def test_rejects_unusable_price(value: object) -> None:
    """A non-positive, non-finite or non-numeric price is a BadPayload, never a price."""
    body = json.dumps({"solana": {"usd": value}}).encode()
    with pytest.raises(BadPayload):
        parse_coingecko(body, {"SOL": "solana"})


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_rejects_json_constants(literal: bytes) -> None:
    """The non-standard JSON NaN/Infinity literals are rejected rather than read as floats."""
    with pytest.raises(BadPayload):
        parse_coingecko(b'{"solana": {"usd": ' + literal + b"}}", {"SOL": "solana"})


def test_prices_keep_every_digit() -> None:
    """JSON floats are read as Decimal, so no digit is lost to binary rounding."""
    body = b'{"solana": {"usd": 0.1000000000000000055511151231257827}}'
    assert parse_coingecko(body, {"SOL": "solana"})["SOL"].usd == D(
        "0.1000000000000000055511151231257827"
    )


@pytest.mark.parametrize(
    ("usdt_usd", "expected"),
    [
        (None, Observation(D("147.12"), D("-1.920"), 1_760_000_000.0, "USDT")),
        (D("1.001"), Observation(D("147.26712"), D("-1.920"), 1_760_000_000.0, "USD")),
    ],
    ids=["unconverted-keeps-usdt", "converted-with-usdt-price"],
)
def test_binance_usdt_conversion(usdt_usd: Decimal | None, expected: Observation) -> None:
    """Binance prices are marked USDT unless USDT's USD price is given, then converted."""
    parsed = parse_binance(
        fixture("binance_24hr_single.json"), {"SOL": "SOLUSDT"}, usdt_usd=usdt_usd
    )
    assert parsed["SOL"] == expected


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        (Observation(D(2), quote="USDT"), Observation(D("1.998"), quote="USD")),
        (Observation(D(2), quote="USD"), Observation(D(2), quote="USD")),
    ],
    ids=["usdt-converted", "usd-untouched"],
)
def test_convert_usdt(observation: Observation, expected: Observation) -> None:
    """Only USDT-quoted observations are converted."""
    assert convert_usdt(observation, D("0.999")) == expected


@pytest.mark.parametrize(
    ("name", "altname"),
    [
        ("XXBTZUSD", "XBTUSD"),
        ("XBTUSD", "XBTUSD"),
        ("XETHZEUR", "ETHEUR"),
        ("USDTZUSD", "USDTUSD"),
        ("SOLUSD", "SOLUSD"),
        ("USDCUSD", "USDCUSD"),
        ("SOLUSDT", "SOLUSDT"),
    ],
)
def test_kraken_altname(name: str, altname: str) -> None:
    """Kraken's legacy X/Z-prefixed pair names reduce to the names we configure."""
    assert kraken_altname(name) == altname


def test_kraken_maps_legacy_keys_for_several_pairs() -> None:
    """With several pairs, legacy result keys are matched by altname, not by position."""
    body = json.dumps(
        {
            "error": [],
            "result": {
                "XETHZUSD": {"c": ["2000.0", "1"], "o": "2000.0"},
                "XXBTZUSD": {"c": ["30000.0", "1"], "o": "30000.0"},
            },
        }
    ).encode()
    parsed = parse_kraken(body, {"BTC": "XBTUSD", "ETH": "ETHUSD"})
    assert {symbol: obs.usd for symbol, obs in parsed.items()} == {
        "BTC": D("30000.0"),
        "ETH": D("2000.0"),
    }


def test_kraken_ambiguous_keys_are_bad_payload() -> None:
    """Two result keys reducing to the same pair cannot be told apart, so nothing is guessed."""
    body = json.dumps(
        {
            "error": [],
            "result": {
                "XXBTZUSD": {"c": ["30000.0", "1"]},
                "XBTUSD": {"c": ["1.0", "1"]},
                "SOLUSD": {"c": ["150", "1"]},
            },
        }
    ).encode()
    with pytest.raises(BadPayload):
        parse_kraken(body, {"BTC": "XXBTUSD", "SOL": "SOLUSD"})


def test_error_messages_are_built_in_init() -> None:
    """Errors carry structured fields and a message composed from them."""
    error = RateLimited("kraken", "EGeneral:Too many requests", 30.0)
    assert (error.source, error.retry_after_s, error.reason) == ("kraken", 30.0, "rate_limited")
    assert str(error) == "kraken: rate limited: EGeneral:Too many requests (retry after 30s)"
