"""Pure parsers for price-source responses, and the errors they raise.

Nothing here does I/O. Fetchers hand over the raw status, headers and body; these functions
turn them into :class:`Observation` values or one of a few errors, grouped by what the caller
does next::

    PriceSourceError
    ├── RateLimited(retry_after)    back off, honouring retry_after when given
    ├── SourceUnavailable           transient (5xx, timeout, connection): retry later
    ├── BadPayload                  the answer breaks the protocol: alert, back off
    │   └── UnknownInstrument       a configured id/pair/symbol is unknown: drop it, alert
    └── SourceDisabled(retry_after) stop polling (401/403, 451 geo-block, 418 IP ban)

JSON is always decoded with ``parse_float=Decimal`` so no price ever passes through a binary
float. Prices must be finite and positive; ``change_24h`` is a percentage.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

__all__ = [
    "BadPayload",
    "Observation",
    "PriceSourceError",
    "RateLimited",
    "SourceDisabled",
    "SourceUnavailable",
    "UnknownInstrument",
    "check_status",
    "convert_usdt",
    "kraken_altname",
    "parse_binance",
    "parse_coingecko",
    "parse_jupiter",
    "parse_kraken",
    "parse_pyth",
    "parse_retry_after",
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


# --- errors -----------------------------------------------------------------------------------


class PriceSourceError(Exception):
    """A price source gave no usable answer; subclasses say what to do next."""

    reason: ClassVar[str] = "error"  # a bounded label for failure counters

    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        self.detail = detail
        super().__init__(f"{source}: {detail}")


class RateLimited(PriceSourceError):
    """The source throttled us; wait ``retry_after`` seconds when it says how long."""

    reason = "rate_limited"

    def __init__(self, source: str, detail: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        suffix = f" (retry after {retry_after:g}s)" if retry_after is not None else ""
        super().__init__(source, f"rate limited: {detail}{suffix}")


class SourceUnavailable(PriceSourceError):
    """A transient failure (5xx, timeout, connection refused); retry after a backoff."""

    reason = "unavailable"

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(source, f"unavailable: {detail}")


class BadPayload(PriceSourceError):
    """The answer is not what the protocol promises; a bug or an outage worth an alert."""

    reason = "bad_payload"

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(source, f"bad payload: {detail}")


class UnknownInstrument(BadPayload):
    """The source does not know an id/pair/symbol we asked for, failing the whole request."""

    reason = "unknown_instrument"


class SourceDisabled(PriceSourceError):
    """Polling must stop: bad key, geo-block, or an IP ban lasting ``retry_after`` seconds."""

    reason = "disabled"

    def __init__(self, source: str, detail: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        suffix = f" for {retry_after:g}s" if retry_after is not None else ""
        super().__init__(source, f"disabled{suffix}: {detail}")


# --- shared helpers ---------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; an undecorated one means the same
            return None
        return max(0.0, when.timestamp() - now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# Binance states the ban end in its 418 body; used only when the Retry-After header is missing.
_BANNED_UNTIL = re.compile(r"banned until (\d{10,16})")


def check_status(
    source: str, status: int, headers: Mapping[str, str], body: bytes, now: float
) -> None:
    """Raise the error an HTTP status means for a price source; return for 2xx.

    The body is consulted only for Binance's structured error codes (-1121 unknown symbol) and
    the ban end of a 418 without Retry-After: classification follows the status, never prose.
    """
    if 200 <= status < 300:
        return
    retry_after = parse_retry_after(headers.get("retry-after"), now)
    if status == 429:
        raise RateLimited(source, "HTTP 429", retry_after)
    if status == 418:  # Binance: automated IP ban after ignoring 429s, 2 minutes to 3 days
        if retry_after is None:
            retry_after = _ban_from_body(body, now)
        raise SourceDisabled(source, "HTTP 418 IP ban", retry_after)
    if status == 451:
        raise SourceDisabled(source, "HTTP 451 unavailable from this location")
    if status in (401, 403):
        raise SourceDisabled(source, f"HTTP {status} (API key missing or rejected, or WAF block)")
    if status >= 500:
        raise SourceUnavailable(source, f"HTTP {status}")
    if status == 400 and _error_code(body) == -1121:
        raise UnknownInstrument(source, "HTTP 400 invalid symbol (-1121)")
    if 300 <= status < 400:
        location = headers.get("location", "?")
        raise BadPayload(source, f"unexpected redirect HTTP {status} to {location}")
    raise BadPayload(source, f"HTTP {status}")


def _ban_from_body(body: bytes, now: float) -> float | None:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    message = payload.get("msg") if isinstance(payload, dict) else None
    match = _BANNED_UNTIL.search(message) if isinstance(message, str) else None
    if match is None:
        return None
    return max(0.0, int(match.group(1)) / 1000 - now)


def _error_code(body: bytes) -> int | None:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    code = payload.get("code") if isinstance(payload, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _load(source: str, body: bytes | str) -> Any:
    """Decode JSON with Decimal numbers; NaN/Infinity literals become Decimals and fail later."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except RecursionError:
        raise BadPayload(source, "body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        text = body if isinstance(body, str) else body[:200].decode("utf-8", "replace")
        kind = "an HTML page" if text.lstrip().startswith("<") else "not JSON"
        raise BadPayload(source, f"body is {kind}") from exc


# Far beyond any real price, percentage, exponent or timestamp, and small enough that no later
# Decimal operation (scaleb, a division, float()) can overflow or trap.
_MAX_DIGITS = 100


def _price(source: str, value: object, what: str) -> Decimal:
    """A finite, positive Decimal from a JSON number or numeric string."""
    number = _decimal(source, value, what)
    if not number.is_finite() or number <= 0:
        raise BadPayload(source, f"{what} is {number}, not a positive finite price")
    return number


def _decimal(source: str, value: object, what: str) -> Decimal:
    # bool is an int subclass, and Decimal(True) == 1: a JSON `true` must not become a price.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise BadPayload(source, f"{what} is {value!r:.60}, not a number")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise BadPayload(source, f"{what} is {value!r:.60}, not a number") from exc
    if number.is_finite() and (
        len(number.as_tuple().digits) > _MAX_DIGITS or abs(number.adjusted()) > _MAX_DIGITS
    ):
        raise BadPayload(source, f"{what} is out of range ({value!r:.60})")
    return number


def _change(source: str, value: object, what: str) -> Decimal | None:
    if value is None:
        return None
    number = _decimal(source, value, what)
    if not number.is_finite():
        raise BadPayload(source, f"{what} is {number}")
    return number


def _timestamp(source: str, value: object, what: str, *, scale: int = 1) -> float | None:
    if value is None:
        return None
    number = _decimal(source, value, what)
    if not number.is_finite() or number <= 0:
        raise BadPayload(source, f"{what} is {number}, not a timestamp")
    return float(number) / scale


def _object(source: str, value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadPayload(source, f"{what} is {type(value).__name__}, not an object")
    return value


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
    payload = _object(source, _load(source, body), "response")
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
        entry = _object(source, entry, coin_id)
        if "usd" not in entry:
            raise BadPayload(source, f"{coin_id} has no usd price")
        observations[symbol] = Observation(
            usd=_price(source, entry["usd"], f"{coin_id}.usd"),
            change_24h=_change(source, entry.get("usd_24h_change"), f"{coin_id}.usd_24h_change"),
            observed_at=_timestamp(
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
    payload = _object(source, _load(source, body), "response")
    errors = payload.get("error", [])
    if not isinstance(errors, list):
        raise BadPayload(source, "error is not a list")
    if errors:
        _raise_kraken(errors)
    result = _object(source, payload.get("result"), "result")
    observations: dict[str, Observation] = {}
    for symbol, key in _match_kraken_keys(pairs, result).items():
        ticker = _object(source, result[key], key)
        last = ticker.get("c")
        if not isinstance(last, list) or not last:
            raise BadPayload(source, f"{key}.c is not a [price, volume] list")
        usd = _price(source, last[0], f"{key}.c[0]")
        change = None
        if ticker.get("o") is not None:
            opened = _price(source, ticker["o"], f"{key}.o")
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
    payload = _load(source, body)
    if isinstance(payload, dict) and "code" in payload and "msg" in payload:
        if payload["code"] == -1121:
            raise UnknownInstrument(source, f"code -1121: {payload['msg']}")
        raise BadPayload(source, f"code {payload['code']!r}")
    tickers = payload if isinstance(payload, list) else [payload]
    by_pair: dict[str, dict[str, Any]] = {}
    for ticker in tickers:
        ticker = _object(source, ticker, "ticker")
        if not isinstance(ticker.get("symbol"), str):
            raise BadPayload(source, "ticker without a symbol")
        by_pair[ticker["symbol"]] = ticker
    observations: dict[str, Observation] = {}
    for symbol, pair in symbols.items():
        ticker = by_pair.get(pair)
        if ticker is None:
            continue
        if "lastPrice" in ticker:  # 24hr
            price = _price(source, ticker["lastPrice"], f"{pair}.lastPrice")
            change = _change(source, ticker.get("priceChangePercent"), f"{pair}.priceChangePercent")
            observed = _timestamp(source, ticker.get("closeTime"), f"{pair}.closeTime", scale=1000)
        elif "price" in ticker:  # ticker/price
            price, change, observed = _price(source, ticker["price"], f"{pair}.price"), None, None
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
    payload = _object(source, _load(source, body), "response")
    parsed = payload.get("parsed")
    if not isinstance(parsed, list):
        raise BadPayload(source, "no parsed list")
    by_id: dict[str, dict[str, Any]] = {}
    for item in parsed:
        item = _object(source, item, "parsed item")
        if not isinstance(item.get("id"), str):
            raise BadPayload(source, "parsed item without an id")
        by_id[_feed_key(item["id"])] = item
    observations: dict[str, Observation] = {}
    for symbol, feed_id in feeds.items():
        item = by_id.get(_feed_key(feed_id))
        if item is None:
            continue
        quote = _object(source, item.get("price"), f"{symbol}.price")
        expo = quote.get("expo")
        if isinstance(expo, bool) or not isinstance(expo, int) or abs(expo) > _MAX_DIGITS:
            raise BadPayload(source, f"{symbol}.price.expo is {expo!r:.60}")
        usd = _price(source, quote.get("price"), f"{symbol}.price.price").scaleb(expo)
        conf = _decimal(source, quote.get("conf", "0"), f"{symbol}.price.conf").scaleb(expo)
        if not conf.is_finite() or conf < 0:
            raise BadPayload(source, f"{symbol}.price.conf is {conf}")
        if conf > usd * max_conf_ratio:
            continue
        observations[symbol] = Observation(
            usd=usd,
            observed_at=_timestamp(source, quote.get("publish_time"), f"{symbol}.publish_time"),
        )
    return observations


def _feed_key(feed_id: str) -> str:
    return feed_id.lower().removeprefix("0x")


# --- Jupiter Price v3 -------------------------------------------------------------------------


def parse_jupiter(body: bytes | str, mints: Mapping[str, str]) -> dict[str, Observation]:
    """``/price/v3?ids=<mints>``; ``mints`` maps symbol -> mint. Unpriced mints are omitted."""
    source = "jupiter"
    payload = _object(source, _load(source, body), "response")
    if isinstance(payload.get("error"), str):
        raise BadPayload(source, f"error {payload['error']!r}")
    observations: dict[str, Observation] = {}
    for symbol, mint in mints.items():
        entry = payload.get(mint)
        if entry is None:
            continue
        entry = _object(source, entry, mint)
        if entry.get("usdPrice") is None:
            continue
        observations[symbol] = Observation(
            usd=_price(source, entry["usdPrice"], f"{mint}.usdPrice"),
            change_24h=_change(source, entry.get("priceChange24h"), f"{mint}.priceChange24h"),
        )
    return observations
