"""Error classification by status and documented errorCode, never by message text."""

from __future__ import annotations

import httpx
import pytest

from agent.net import RateLimited
from agent.venues.jupiter import (
    NoRoute,
    Rejected,
    Unauthorised,
    Unavailable,
    classify_response,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (200, {}, b'{"inAmount":"1"}', None),
        (400, {}, b'{"error":"Could not find any route","errorCode":"COULD_NOT_FIND_ANY_ROUTE"}', NoRoute),
        (400, {}, b'{"error":"No routes found","errorCode":"NO_ROUTES_FOUND"}', NoRoute),
        (400, {}, b'{"error":"The token X is not tradable","errorCode":"TOKEN_NOT_TRADABLE"}', NoRoute),
        (400, {}, b'{"error":"..","errorCode":"ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT"}', NoRoute),
        (400, {}, b'{"error":"..","errorCode":"INVALID_COMPUTE_UNIT_PRICE_AND_PRIORITIZATION_FEE"}', Rejected),
        (400, {}, b'{"error":"Could not find any route"}', Rejected),
        (200, {}, b'{"error":"Could not find any route","errorCode":"COULD_NOT_FIND_ANY_ROUTE"}', NoRoute),
        (200, {}, b'{"error":"x","errorCode":"FAILED_TO_GET_SWAP_AND_ACCOUNT_METAS"}', Rejected),
        (404, {}, b"Not found", Rejected),
        (401, {}, b'{"message":"Invalid API key"}', Unauthorised),
        (403, {}, b"Request blocked by firewall", Unauthorised),
        (429, {}, b"[API Gateway] Too many requests", RateLimited),
        (500, {}, b'{"error":"Something unexpected occurred"}', Unavailable),
        (502, {}, b"<html><body>Bad Gateway</body></html>", Unavailable),
        (503, {"retry-after": "2"}, b"", Unavailable),
        (504, {}, b'{"error":"Gateway time', Unavailable),
    ],
    ids=["ok", "could-not-find", "no-routes", "not-tradable", "not-consumed", "composing-code",
         "400-no-code", "200-route-code", "200-other-code", "404", "401", "403", "429", "500",
         "502-html", "503", "504-truncated"],
)  # fmt: skip
def test_classification_table(
    status: int, headers: dict[str, str], body: bytes, expected: type | None
) -> None:
    """Each status/body pair maps to the error class that tells the caller what to do."""
    error = classify_response(status, httpx.Headers(headers), body, NOW)
    assert type(error) is expected if expected is not None else error is None


def test_message_text_is_ignored() -> None:
    """A routing message without the documented code is not a NoRoute."""
    error = classify_response(400, httpx.Headers(), b'{"error":"NO_ROUTES_FOUND"}', NOW)
    assert isinstance(error, Rejected) and error.code == ""


def test_no_route_carries_code() -> None:
    """NoRoute keeps the documented errorCode for the router's records."""
    error = classify_response(400, httpx.Headers(), b'{"errorCode":"TOKEN_NOT_TRADABLE"}', NOW)
    assert isinstance(error, NoRoute) and error.code == "TOKEN_NOT_TRADABLE"


@pytest.mark.parametrize(
    ("headers", "retry_after", "reset_at"),
    [
        ({}, None, None),
        ({"Retry-After": "3"}, 3.0, None),
        ({"x-ratelimit-remaining": "-2", "x-ratelimit-reset": str(NOW + 12)}, 12.0, NOW + 12),
        ({"retry-after": "1.5", "x-ratelimit-reset": str(NOW + 12)}, 1.5, NOW + 12),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0, None),
        ({"retry-after": "soon"}, None, None),
    ],
    ids=["no-hint", "retry-after", "reset-only", "retry-after-wins", "http-date-past", "garbage"],
)
def test_rate_limited_reset(
    headers: dict[str, str], retry_after: float | None, reset_at: float | None
) -> None:
    """A 429 carries Retry-After when given, else the time to x-ratelimit-reset, else None."""
    error = classify_response(429, httpx.Headers(headers), b"", NOW)
    assert isinstance(error, RateLimited)
    assert (error.retry_after_s, error.reset_at) == (retry_after, reset_at)
