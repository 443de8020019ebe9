"""HTTP status classification: statuses to errors, with Retry-After or the ban's length."""

from __future__ import annotations

import pytest

from agent.pricing.errors import (
    BadPayload,
    PriceSourceError,
    RateLimited,
    SourceDisabled,
    SourceUnavailable,
    UnknownInstrument,
)
from agent.pricing.http_status import check_status
from tests.support.price_fixtures import NOW, fixture

# (status, headers, body, error, retry_after)
STATUSES = [
    pytest.param(200, {}, b"", None, None, id="200-ok"),
    pytest.param(429, {"retry-after": "119"}, fixture("coingecko_429.json"), RateLimited, 119.0,
                 id="429-json-retry-after"),
    pytest.param(429, {}, fixture("coingecko_429_cloudflare.html"), RateLimited, None,
                 id="429-cloudflare-html"),
    pytest.param(429, {"retry-after": "Thu, 09 Oct 2025 08:56:00 GMT"}, b"", RateLimited, 100.0,
                 id="429-http-date"),
    pytest.param(429, {"retry-after": "Thu, 09 Oct 2025 08:36:40 GMT"}, b"", RateLimited, 0.0,
                 id="429-http-date-in-past"),
    pytest.param(418, {"retry-after": "7200"}, fixture("binance_418.json"), SourceDisabled, 7200.0,
                 id="418-ban-retry-after"),
    pytest.param(418, {}, fixture("binance_418.json"), SourceDisabled, 120.0,
                 id="418-ban-from-body"),
    pytest.param(451, {}, fixture("binance_451.json"), SourceDisabled, None, id="451-geo-block"),
    pytest.param(401, {}, b"", SourceDisabled, None, id="401"),
    pytest.param(403, {}, b"<html>", SourceDisabled, None, id="403-waf"),
    pytest.param(500, {}, b"", SourceUnavailable, None, id="500"),
    pytest.param(503, {}, b"<html>", SourceUnavailable, None, id="503-html"),
    pytest.param(520, {}, b"", SourceUnavailable, None, id="520-cloudflare"),
    pytest.param(400, {}, fixture("binance_invalid_symbol.json"), UnknownInstrument, None,
                 id="400-invalid-symbol"),
    pytest.param(400, {}, b'{"code":-1100,"msg":"Illegal characters"}', BadPayload, None,
                 id="400-other"),
    pytest.param(414, {}, b"", BadPayload, None, id="414-uri-too-long"),
    pytest.param(301, {"location": "https://elsewhere"}, b"", BadPayload, None, id="301-redirect"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "headers", "body", "error", "retry_after"), STATUSES)
def test_check_status(
    status: int,
    headers: dict[str, str],
    body: bytes,
    error: type[PriceSourceError] | None,
    retry_after: float | None,
) -> None:
    """HTTP statuses map to errors by what to do next, with Retry-After or the ban's length."""
    if error is None:
        assert check_status("src", status, headers, body, NOW) is None
        return
    with pytest.raises(error) as caught:
        check_status("src", status, headers, body, NOW)
    assert type(caught.value) is error
    assert caught.value.source == "src"
    assert getattr(caught.value, "retry_after_s", None) == retry_after
