"""Pure parsing for the Redis stream intake: entries, replies and error codes. No I/O.

An entry read from the intents stream ends up as exactly one of:

* a :class:`StreamItem` handed to the pipeline (an oversized envelope too, marked unreadable,
  so that its rejection is recorded like an oversized file's);
* a :class:`DeadLetter`, copied to the dead-letter stream with its original fields and then
  acknowledged: malformed entries at once, any entry once it was delivered too often;
* nothing, for an id that is still pending but whose entry was deleted from the stream
  (``XDEL``, trimming): there is nothing left to process, so it is only acknowledged.

Envelope bytes are data: they never appear in a reason, a detail or an exception message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.typing import EncodableT, FieldT

from agent.domain.outcomes import IntentRejected, Reason

__all__ = [
    "ENTRY_FIELD",
    "DeadLetter",
    "StreamItem",
    "block_within",
    "decode_fields",
    "entry_millis",
    "error_code",
    "group_missing",
    "oldest_age",
    "read_claimed",
    "read_entries",
    "result_fields",
    "sort_entry",
    "text",
]

ENTRY_FIELD = b"intent"

# An original field named like one a dead letter adds is kept under this prefix rather than
# overwritten, so that nothing the producer wrote is lost.
_ORIGINAL_PREFIX = b"original:"

Fields = Mapping[bytes, bytes]
# The fields of an entry to add, typed as redis-py's XADD takes them (an invariant dict).
NewFields = dict[FieldT, EncodableT]


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One stream entry handed to the pipeline."""

    entry_id: str
    raw: bytes | None
    unreadable: IntentRejected | None
    deliveries: int
    received_at: float

    @property
    def resumed(self) -> bool:
        """Delivered before: an earlier attempt may already have committed a terminal state."""
        return self.deliveries > 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry that will never be processed, with why; it is kept whole, then acknowledged."""

    entry_id: str
    reason: str
    deliveries: int
    original: Fields

    def fields(self) -> NewFields:
        document: NewFields = {
            b"entry_id": self.entry_id.encode(),
            b"reason": self.reason.encode(),
            b"deliveries": str(self.deliveries).encode(),
        }
        for name, value in self.original.items():
            key = name
            while key in document:
                key = _ORIGINAL_PREFIX + key
            document[key] = value
        return document


def sort_entry(
    entry_id: str,
    fields: Fields | None,
    *,
    deliveries: int,
    received_at: float,
    max_deliveries: int,
    max_entry_bytes: int,
) -> StreamItem | DeadLetter | None:
    """Decide what one entry becomes; ``None`` means it was deleted and is only acknowledged."""
    # XADD refuses an entry without fields, so an empty mapping is a deleted entry whose id is
    # still in the pending list (XREADGROUP's history form replies with nil fields for it).
    if not fields:
        return None
    if ENTRY_FIELD not in fields:
        return DeadLetter(
            entry_id,
            f"malformed entry: no {ENTRY_FIELD.decode()!r} field "
            f"({len(fields)} other field{'s' if len(fields) != 1 else ''})",
            deliveries,
            fields,
        )
    raw = fields[ENTRY_FIELD]
    if not raw:
        return DeadLetter(
            entry_id,
            f"malformed entry: the {ENTRY_FIELD.decode()!r} field is empty",
            deliveries,
            fields,
        )
    if deliveries > max_deliveries:
        return DeadLetter(
            entry_id,
            f"delivered {deliveries} times without reaching a terminal state",
            deliveries,
            fields,
        )
    if len(raw) > max_entry_bytes:
        rejection = IntentRejected(
            Reason.TOO_LARGE,
            f"stream entry is too large: {len(raw)} bytes, limit is {max_entry_bytes} bytes",
        )
        return StreamItem(entry_id, None, rejection, deliveries, received_at)
    return StreamItem(entry_id, raw, None, deliveries, received_at)


def read_entries(response: Any) -> list[tuple[str, Fields | None]]:
    """The entries of a one-stream XREADGROUP reply (RESP2 shape), ids decoded.

    A reply with no entries is ``None`` after a block timed out, else an empty list.
    """
    if not response:
        return []
    ((_stream, entries),) = response
    return [(text(entry_id), fields) for entry_id, fields in entries if entry_id is not None]


def read_claimed(reply: Any) -> tuple[str, list[tuple[str, Fields | None]], list[str]]:
    """An XAUTOCLAIM reply as (next cursor, claimed entries, ids of deleted entries).

    Redis 7 adds the third part: pending ids whose entries were deleted, which it has dropped
    from the pending list (acknowledging them again is harmless). Redis 6.2 has no third part.
    """
    cursor, claimed = text(reply[0]), reply[1]
    deleted = [text(entry_id) for entry_id in reply[2]] if len(reply) > 2 else []
    entries = [(text(entry_id), fields) for entry_id, fields in claimed if entry_id is not None]
    return cursor, entries, deleted


def result_fields(
    entry_id: str, *, status: str, reason: str | None, intent_id: str | None, result: str
) -> NewFields:
    return {
        b"entry_id": entry_id,
        b"status": str(status),
        b"reason": "" if reason is None else str(reason),
        b"intent_id": "" if intent_id is None else intent_id,
        b"result": result,
    }


def entry_millis(entry_id: str | bytes) -> int:
    """The millisecond timestamp part of a stream id (``"1700000000000-0"`` -> 1700000000000)."""
    return int(text(entry_id).partition("-")[0])


def oldest_age(entry_ids: list[str | bytes], *, now: float) -> float | None:
    """Seconds since the oldest of ``entry_ids`` was added (ids carry their time); None if none."""
    if not entry_ids:
        return None
    oldest_ms = min(entry_millis(entry_id) for entry_id in entry_ids)
    return max(0.0, now - oldest_ms / 1000)


def block_within(block_ms: int, socket_timeout_s: float | None) -> int | None:
    """The BLOCK to send for a wait of ``block_ms``: None for none, and short of the socket timeout.

    A block as long as the socket timeout would end in a client-side TimeoutError (seen as an
    outage) instead of an empty reply, so it is cut short; waiting less is always correct.
    """
    if block_ms <= 0:
        return None
    if socket_timeout_s is None:
        return block_ms
    timeout_ms = int(socket_timeout_s * 1000)
    # Leave the server time to answer an expired block before the socket gives up.
    limit_ms = timeout_ms - min(1000, timeout_ms // 2)
    return max(1, min(block_ms, limit_ms))


def error_code(message: str) -> str:
    """The code a Redis error reply starts with (redis-py has no exception class for most)."""
    return message.split(" ", 1)[0]


def group_missing(message: str) -> bool:
    """Whether an error reply means the stream or the consumer group no longer exists."""
    code = error_code(message)
    # A blocked XREADGROUP is released with UNBLOCKED when its stream or group is deleted.
    return code == "NOGROUP" or (code == "UNBLOCKED" and "no longer exists" in message)


def decode_fields(fields: Fields) -> dict[str, str]:
    """A stream entry as text, for people and tests; undecodable bytes become U+FFFD."""
    return {
        text(name, errors="replace"): text(value, errors="replace")
        for name, value in fields.items()
    }


def text(value: str | bytes, *, errors: str = "strict") -> str:
    return value.decode("utf-8", errors) if isinstance(value, bytes) else value
