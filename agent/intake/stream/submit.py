"""The submitter's side of the Redis stream intake: appending a signed envelope, once.

Used by ``otc-agent intent new --queue`` and the demo, never by the daemon. An outage raises
:class:`~agent.intake.stream.client.StreamUnavailable`; envelope bytes are never put into it.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from agent.intake.stream.client import unavailable_on_outage
from agent.intake.stream.entries import ENTRY_FIELD, text

__all__ = ["SUBMIT_DEDUPE_S", "submit", "submitted_key"]

_SUBMIT_ONCE = """
local added = redis.call('GET', KEYS[2])
if added then return added end
added = redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], added, 'EX', ARGV[3])
return added
"""

# How long an envelope submitted again is taken for a retry of the same call. A client retries
# a call whose reply it lost (redis-py does, on a timeout) within seconds.
SUBMIT_DEDUPE_S = 60


def submitted_key(stream: str, envelope: bytes) -> str:
    """The key that remembers, for SUBMIT_DEDUPE_S, which entry an envelope was added as."""
    return f"{stream}:submitted:{hashlib.sha256(envelope).hexdigest()}"


async def submit(client: aioredis.Redis, stream: str, envelope: bytes) -> str:
    """Append a signed envelope to the intents stream; returns its entry's id.

    Idempotent for SUBMIT_DEDUPE_S: the same bytes again (a retried call whose reply was lost)
    return the first entry's id instead of adding a second entry, which the daemon would
    refuse as a replay under an id the caller never saw answered.
    """
    if not envelope:
        raise ValueError("an empty envelope cannot be submitted")
    with unavailable_on_outage("submit"):
        entry_id = await client.eval(
            _SUBMIT_ONCE,
            2,
            stream,
            submitted_key(stream, envelope),
            ENTRY_FIELD,
            envelope,
            SUBMIT_DEDUPE_S,
        )
    return text(entry_id)
