"""onchain.wire: the one reading of Retry-After, and the strict JSON field readers every client shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import pytest

from onchain.wire import (
    MAX_RETRY_AFTER_S,
    BadPayload,
    as_amount,
    as_number,
    as_object,
    as_uint,
    parse_retry_after,
)

NOW = 1_760_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("3", 3.0),
        (" 0.25 ", 0.25),
        ("1.5", 1.5),
        ("-3", None),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("1e300", None),
        ("soon", None),
        ("Thu, 09 Oct 2025 08:56:00 GMT", 1_760_000_160.0 - NOW),
        ("Thu, 09 Oct 2025 08:50:00 GMT", 0.0),
        ("Thu, 09 Oct 2025 08:56:00", None),
        ("Wed, 21 Oct 2015 07:28:00", None),
        ("999999999", MAX_RETRY_AFTER_S),
        (str(10**30), MAX_RETRY_AFTER_S),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is delta-seconds (fractions too) or a GMT date relative to now, held to the
    cap; a negative number, a zoneless date or any other text is None."""
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_dates_count_from_now() -> None:
    """An HTTP date ten seconds ahead is a ten-second wait; one behind is no wait."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ahead = format_datetime(now + timedelta(seconds=10), usegmt=True)
    behind = format_datetime(now - timedelta(seconds=10), usegmt=True)
    assert parse_retry_after(ahead, now.timestamp()) == 10
    assert parse_retry_after(behind, now.timestamp()) == 0


@pytest.mark.parametrize(
    ("reader", "value", "expected"),
    [
        (as_uint, 7, 7),
        (as_uint, -1, None),
        (as_uint, True, None),
        (as_uint, 1.0, None),
        (as_amount, "18446744073709551615", 2**64 - 1),
        (as_amount, "18446744073709551616", None),
        (as_amount, "-5", None),
        (as_number, Decimal("1.5"), Decimal("1.5")),
        (as_number, "150.25", Decimal("150.25")),
        (as_number, True, None),
        (as_number, "1e999", None),
        (as_number, 1.5, None),
        (as_object, {"a": 1}, {"a": 1}),
        (as_object, [1], None),
    ],
)
def test_readers_return_the_value_or_name_the_field(reader: Any, value: Any, expected: Any) -> None:
    """Each reader returns the typed value, or raises BadPayload naming the field's path."""
    if expected is None:
        with pytest.raises(BadPayload, match=r"answer\.field"):
            reader(value, "answer.field")
    else:
        assert reader(value, "answer.field") == expected
