"""The stream intake's pure parsing: sorting entries, dead-letter fields, blocks, error codes."""

from __future__ import annotations

import pytest

from agent.domain.outcomes import Reason
from agent.intake.stream.entries import (
    DeadLetter,
    StreamItem,
    block_within,
    group_missing,
    sort_entry,
)


@pytest.mark.parametrize(
    ("fields", "deliveries", "expected"),
    [
        ({b"intent": b"abc"}, 1, StreamItem("1-0", b"abc", None, 1, 5.0)),
        ({b"intent": b"abc", b"x": b"y"}, 3, StreamItem("1-0", b"abc", None, 3, 5.0)),
        ({b"intent": b"abc"}, 4, "delivered 4 times without reaching a terminal state"),
        ({b"x": b"y"}, 1, "malformed entry: no 'intent' field (1 other field)"),
        ({b"intent": b""}, 9, "malformed entry: the 'intent' field is empty"),
        ({b"intent": b"123456789"}, 1, Reason.TOO_LARGE),
        ({}, 2, None),
        (None, 2, None),
    ],
    ids=["ok", "extra-fields", "too-often", "no-intent", "empty", "too-large", "deleted", "nil"],
)
def test_sort_entry_table(
    fields: dict[bytes, bytes] | None, deliveries: int, expected: object
) -> None:
    """Each kind of entry is sorted into an item, a dead letter with its reason, or nothing."""
    sorted_entry = sort_entry(
        "1-0", fields, deliveries=deliveries, received_at=5.0, max_deliveries=3, max_entry_bytes=8
    )
    if isinstance(expected, Reason):
        assert isinstance(sorted_entry, StreamItem)
        assert sorted_entry.raw is None
        assert sorted_entry.unreadable is not None
        assert sorted_entry.unreadable.reason is expected
    elif isinstance(expected, str):
        assert isinstance(sorted_entry, DeadLetter)
        assert sorted_entry.reason == expected
        assert sorted_entry.deliveries == deliveries
    else:
        assert sorted_entry == expected


def test_dead_letter_keeps_every_original_field() -> None:
    """Original fields named like the dead-letter metadata are kept under an original: prefix."""
    letter = DeadLetter("1-0", "why", 2, {b"reason": b"r", b"original:reason": b"o", b"a": b"b"})

    assert letter.fields() == {
        b"entry_id": b"1-0",
        b"reason": b"why",
        b"deliveries": b"2",
        b"original:reason": b"r",
        b"original:original:reason": b"o",
        b"a": b"b",
    }


@pytest.mark.parametrize(
    ("block_ms", "socket_timeout_s", "expected"),
    [
        (0, 10.0, None),
        (-5, 10.0, None),
        (2000, 10.0, 2000),
        (20_000, 10.0, 9000),
        (5000, 1.0, 500),
        (5000, None, 5000),
        (5000, 0.001, 1),
    ],
)
def test_block_within_table(
    block_ms: int, socket_timeout_s: float | None, expected: int | None
) -> None:
    """A block never reaches the socket timeout, and 0 or less means no BLOCK at all."""
    assert block_within(block_ms, socket_timeout_s) == expected


@pytest.mark.parametrize(
    ("message", "missing"),
    [
        ("NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option", True),
        ("UNBLOCKED the stream key no longer exists", True),
        ("UNBLOCKED the consumer group this client was blocked on no longer exists", True),
        ("UNBLOCKED client unblocked via CLIENT UNBLOCK", False),
        ("BUSYGROUP Consumer Group name already exists", False),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
    ],
)
def test_group_missing_table(message: str, missing: bool) -> None:
    """Only NOGROUP and a block released by a deleted stream or group mean the group is gone."""
    assert group_missing(message) is missing
