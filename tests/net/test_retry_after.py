"""The one reading of Retry-After: delta-seconds or a GMT date, held to one cap."""

from __future__ import annotations

import pytest

from agent.net import MAX_RETRY_AFTER_S, parse_retry_after

NOW = 1_760_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("nan", None),
        ("soon", None),
        ("Thu, 09 Oct 2025 08:56:00 GMT", 1_760_000_160.0 - NOW),
        ("Thu, 09 Oct 2025 08:50:00 GMT", 0.0),
        ("Thu, 09 Oct 2025 08:56:00", None),
        ("999999999", MAX_RETRY_AFTER_S),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is read as delta-seconds or an HTTP date relative to now; junk is None."""
    assert parse_retry_after(value, NOW) == expected
