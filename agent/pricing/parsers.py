"""One pure parser per price source, turning a response body into :class:`Observation` values.

Nothing here does I/O. Fetchers check the HTTP status first (:mod:`agent.pricing.http_status`),
then hand over the raw body; a parser returns the observations it found or raises one of the
errors in :mod:`agent.pricing.errors`. The strict JSON and number readers they share are in
:mod:`agent.pricing.decoding`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from agent.pricing.decoding import (
    MAX_DIGITS,
    load_json,
    read_change,
    read_decimal,
    read_object,
    read_price,
    read_timestamp,
)
from agent.pricing.errors import (
    BadPayload,
    RateLimited,
    SourceDisabled,
    SourceUnavailable,
    UnknownInstrument,
)

__all__ = [
    "Observation",
    "convert_usdt",
    "kraken_altname",
    "parse_binance",
    "parse_coingecko",
    "parse_jupiter",
    "parse_kraken",
    "parse_pyth",
]


@dataclass(frozen=True, slots=True)
class Observation:
    """One source's price for one token.

    ``quote`` is "USD" unless the source prices in a stablecoin it could not convert (Binance
    pairs are USDT-quoted); ``observed_at`` is the source's own timestamp (epoch seconds) when it
    sends one, else None.
    """

    usd: Decimal
    change_24h: Decimal | None = None
    observed_at: float | None = None
    quote: str = "USD"


def convert_usdt(observation: Observation, usdt_usd: Decimal) -> Observation:
    """A USDT-quoted observation in USD, given what one USDT is worth in USD."""
    if observation.quote != "USDT":
        return observation
    return replace(observation, usd=observation.usd * usdt_usd, quote="USD")


# --- CoinGecko --------------------------------------------------------------------------------

_COINGECKO_DISABLED = {10002, 10005, 10010, 10011}  # missing key, plan, key/host mismatch


def parse_coingecko(body: bytes | str, ids: Mapping[str, str]) -> dict[str, Observation]:
    """``/simple/price`` with ``vs_currencies=usd``; ``ids`` maps symbol -> CoinGecko id.

    Unknown ids are dropped by CoinGecko without an error, so a missing id is simply absent
    from the result; the caller fails over for it. A null ``usd_24h_change`` (a stale price,
    per the docs) leaves ``change_24h`` None.
    """
    source = "coingecko"
    payload = read_object(source, load_json(source, body), "response")
    status = payload.get("status")
    if isinstance(status, dict) and "error_code" in status:
        code = status.get("error_code")
        if code == 429:
            raise RateLimited(source, "error_code 429 in body")
        # Only a number can be one of the codes (and an object or a list cannot be hashed).
        if isinstance(code, int | Decimal) and code in _COINGECKO_DISABLED:
            raise SourceDisabled(source, f"error_code {code}")
        raise BadPayload(source, f"error_code {code!r:.60}")
    if isinstance(payload.get("error"), str):
        raise BadPayload(source, f"error {payload['error']!r}")
    observations: dict[str, Observation] = {}
    for symbol, coin_id in ids.items():
        entry = payload.get(coin_id)
        if entry is None:
            continue
        entry = read_object(source, entry, coin_id)
        if "usd" not in entry:
            raise BadPayload(source, f"{coin_id} has no usd price")
        observations[symbol] = Observation(
            usd=read_price(source, entry["usd"], f"{coin_id}.usd"),
            change_24h=read_change(
                source, entry.get("usd_24h_change"), f"{coin_id}.usd_24h_change"
            ),
            observed_at=read_timestamp(
                source, entry.get("last_updated_at"), f"{coin_id}.last_updated_at"
            ),
        )
    return observations


# --- Kraken -----------------------------------------------------------------------------------

# Error codes are "Category:Message" strings, sometimes followed by ":detail".
_KRAKEN_RATE_LIMITED = ("EGeneral:Too many requests", "EAPI:Rate limit exceeded")
_KRAKEN_UNKNOWN = ("EQuery:Unknown asset pair",)
_KRAKEN_FIAT = ("USD", "EUR", "GBP", "JPY", "CAD", "CHF", "AUD")


def parse_kraken(body: bytes | str, pairs: Mapping[str, str]) -> dict[str, Observation]:
    """``/0/public/Ticker``; ``pairs`` maps symbol -> the pair name we sent.

    Kraken answers HTTP 200 even when throttling, so the ``error`` array decides first. The
    ``result`` is keyed by Kraken's own pair name (XBTUSD comes back as XXBTZUSD), so a lone
    pair is mapped by position and several by a tolerant key match, never by indexing with the
    request string alone. The ticker has no timestamp; ``change_24h`` is against today's open.
    """
    source = "kraken"
    payload = read_object(source, load_json(source, body), "response")
    errors = payload.get("error", [])
    if not isinstance(errors, list):
        raise BadPayload(source, "error is not a list")
    if errors:
        _raise_kraken(errors)
    result = read_object(source, payload.get("result"), "result")
    observations: dict[str, Observation] = {}
    for symbol, key in _match_kraken_keys(pairs, result).items():
        ticker = read_object(source, result[key], key)
        last = ticker.get("c")
        if not isinstance(last, list) or not last:
            raise BadPayload(source, f"{key}.c is not a [price, volume] list")
        usd = read_price(source, last[0], f"{key}.c[0]")
        change = None
        if ticker.get("o") is not None:
            opened = read_price(source, ticker["o"], f"{key}.o")
            change = (usd - opened) / opened * 100
        observations[symbol] = Observation(usd=usd, change_24h=change)
    return observations


def _raise_kraken(errors: list[object]) -> None:
    source = "kraken"
    codes = [str(error) for error in errors]
    for code in codes:
        if code.startswith(_KRAKEN_RATE_LIMITED):
            raise RateLimited(source, code)
    for code in codes:
        if code.startswith(_KRAKEN_UNKNOWN):
            raise UnknownInstrument(source, code)
    for code in codes:
        if code.startswith("EService:"):  # EService:Unavailable / EService:Busy
            raise SourceUnavailable(source, code)
    raise BadPayload(source, ", ".join(codes))


def kraken_altname(name: str) -> str:
    """Kraken's legacy internal pair name reduced to its altname: XXBTZUSD -> XBTUSD.

    Legacy names prefix fiat with Z (ZUSD) and older crypto assets of four letters with X
    (XXBT, XETH); newer assets (SOL, USDC, USDT) carry no prefix.
    """
    name = name.upper()
    for fiat in _KRAKEN_FIAT:
        if name.endswith("Z" + fiat) and len(name) > 4:
            base, quote = name[: -len(fiat) - 1], fiat
            break
        if name.endswith(fiat):
            base, quote = name[: -len(fiat)], fiat
            break
    else:
        return name
    if len(base) == 4 and base[0] == "X":
        base = base[1:]
    return base + quote


def _match_kraken_keys(pairs: Mapping[str, str], result: Mapping[str, object]) -> dict[str, str]:
    """symbol -> result key; requested pairs that Kraken left out are simply absent."""
    if len(pairs) == 1 and len(result) == 1:
        # One pair asked, one answered: the answer is that pair, whatever Kraken calls it.
        return {next(iter(pairs)): next(iter(result))}
    by_altname: dict[str, list[str]] = {}
    for key in result:
        by_altname.setdefault(kraken_altname(key), []).append(key)
    matched: dict[str, str] = {}
    for symbol, requested in pairs.items():
        if requested in result:
            matched[symbol] = requested
            continue
        candidates = by_altname.get(kraken_altname(requested), [])
        if len(candidates) > 1:
            raise BadPayload("kraken", f"pair {requested} matches {sorted(candidates)}")
        if candidates:
            matched[symbol] = candidates[0]
    return matched


# --- Binance ----------------------------------------------------------------------------------


def parse_binance(
    body: bytes | str, symbols: Mapping[str, str], *, usdt_usd: Decimal | None = None
) -> dict[str, Observation]:
    """``/api/v3/ticker/price`` or ``/ticker/24hr`` (one object or a list); symbol -> SOLUSDT.

    Binance pairs are USDT-quoted and Binance has no USDT/USD market. Given ``usdt_usd`` the
    price is converted and quoted in USD; without it the observation keeps ``quote="USDT"`` so
    the caller converts once it knows USDT's USD price (or serves it flagged as USDT).
    """
    source = "binance"
    payload = load_json(source, body)
    if isinstance(payload, dict) and "code" in payload and "msg" in payload:
        if payload["code"] == -1121:
            raise UnknownInstrument(source, f"code -1121: {payload['msg']}")
        raise BadPayload(source, f"code {payload['code']!r}")
    tickers = payload if isinstance(payload, list) else [payload]
    by_pair: dict[str, dict[str, Any]] = {}
    for ticker in tickers:
        ticker = read_object(source, ticker, "ticker")
        if not isinstance(ticker.get("symbol"), str):
            raise BadPayload(source, "ticker without a symbol")
        by_pair[ticker["symbol"]] = ticker
    observations: dict[str, Observation] = {}
    for symbol, pair in symbols.items():
        ticker = by_pair.get(pair)
        if ticker is None:
            continue
        if "lastPrice" in ticker:  # 24hr
            price = read_price(source, ticker["lastPrice"], f"{pair}.lastPrice")
            change = read_change(
                source, ticker.get("priceChangePercent"), f"{pair}.priceChangePercent"
            )
            observed = read_timestamp(
                source, ticker.get("closeTime"), f"{pair}.closeTime", scale=1000
            )
        elif "price" in ticker:  # ticker/price
            price, change, observed = (
                read_price(source, ticker["price"], f"{pair}.price"),
                None,
                None,
            )
        else:
            raise BadPayload(source, f"{pair} has neither price nor lastPrice")
        observation = Observation(price, change, observed, quote="USDT")
        observations[symbol] = (
            observation if usdt_usd is None else convert_usdt(observation, usdt_usd)
        )
    return observations


# --- Pyth Hermes ------------------------------------------------------------------------------


def parse_pyth(
    body: bytes | str, feeds: Mapping[str, str], *, max_conf_ratio: Decimal = Decimal("0.02")
) -> dict[str, Observation]:
    """``/v2/updates/price/latest`` parsed items; ``feeds`` maps symbol -> feed id (0x optional).

    The value is ``price * 10**expo``. A feed whose confidence interval is wider than
    ``max_conf_ratio`` of the price is left out: the publishers disagree, so it is no price.
    """
    source = "pyth"
    payload = read_object(source, load_json(source, body), "response")
    parsed = payload.get("parsed")
    if not isinstance(parsed, list):
        raise BadPayload(source, "no parsed list")
    by_id: dict[str, dict[str, Any]] = {}
    for item in parsed:
        item = read_object(source, item, "parsed item")
        if not isinstance(item.get("id"), str):
            raise BadPayload(source, "parsed item without an id")
        by_id[_feed_key(item["id"])] = item
    observations: dict[str, Observation] = {}
    for symbol, feed_id in feeds.items():
        item = by_id.get(_feed_key(feed_id))
        if item is None:
            continue
        quote = read_object(source, item.get("price"), f"{symbol}.price")
        expo = quote.get("expo")
        if isinstance(expo, bool) or not isinstance(expo, int) or abs(expo) > MAX_DIGITS:
            raise BadPayload(source, f"{symbol}.price.expo is {expo!r:.60}")
        usd = read_price(source, quote.get("price"), f"{symbol}.price.price").scaleb(expo)
        conf = read_decimal(source, quote.get("conf", "0"), f"{symbol}.price.conf").scaleb(expo)
        if not conf.is_finite() or conf < 0:
            raise BadPayload(source, f"{symbol}.price.conf is {conf}")
        if conf > usd * max_conf_ratio:
            continue
        observations[symbol] = Observation(
            usd=usd,
            observed_at=read_timestamp(source, quote.get("publish_time"), f"{symbol}.publish_time"),
        )
    return observations


def _feed_key(feed_id: str) -> str:
    return feed_id.lower().removeprefix("0x")


# --- Jupiter Price v3 -------------------------------------------------------------------------


def parse_jupiter(body: bytes | str, mints: Mapping[str, str]) -> dict[str, Observation]:
    """``/price/v3?ids=<mints>``; ``mints`` maps symbol -> mint. Unpriced mints are omitted."""
    source = "jupiter"
    payload = read_object(source, load_json(source, body), "response")
    if isinstance(payload.get("error"), str):
        raise BadPayload(source, f"error {payload['error']!r}")
    observations: dict[str, Observation] = {}
    for symbol, mint in mints.items():
        entry = payload.get(mint)
        if entry is None:
            continue
        entry = read_object(source, entry, mint)
        if entry.get("usdPrice") is None:
            continue
        observations[symbol] = Observation(
            usd=read_price(source, entry["usdPrice"], f"{mint}.usdPrice"),
            change_24h=read_change(source, entry.get("priceChange24h"), f"{mint}.priceChange24h"),
        )
    return observations
