"""The stream intake's Redis client, and the outage error the intake and its submitters share.

Errors: :class:`StreamUnavailable` means Redis cannot be reached or timed out; pause and retry.
Any other Redis error is a bug or a misconfiguration and propagates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

__all__ = ["StreamUnavailable", "check_client", "connect", "unavailable_on_outage"]

# The client the intake builds for itself. Options in the URL's query string win over these.
_CONNECT_TIMEOUT_S = 2.0
# Longer than any block the daemon asks for; blocks are shortened to fit under it anyway.
_SOCKET_TIMEOUT_S = 10.0
# A PING before reusing a connection idle this long finds connections a firewall dropped.
_HEALTH_CHECK_INTERVAL_S = 15
# One quick retry, which redis-py applies to connecting and to the command alike (so up to
# four attempts): enough for a stale connection; an outage is left to the caller's pauses.
_RETRY = Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=1)


class StreamUnavailable(Exception):
    """Redis cannot be reached, is loading, or timed out: pause, then retry the call."""

    def __init__(self, cause: BaseException, *, operation: str = "a call") -> None:
        self.cause = cause
        self.operation = operation
        first_line = (str(cause).splitlines() or [""])[0]
        super().__init__(
            f"redis unavailable during {operation}: {type(cause).__name__}: {first_line}"
        )


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
        socket_timeout=_SOCKET_TIMEOUT_S,
        health_check_interval=_HEALTH_CHECK_INTERVAL_S,
        retry=_RETRY,
    )


def check_client(client: aioredis.Redis) -> None:
    kwargs = client.get_connection_kwargs()
    if kwargs.get("decode_responses"):
        raise ValueError("the stream intake needs a client with decode_responses=False")
    # The replies are parsed in their RESP2 shapes.
    if kwargs.get("protocol") not in (None, 2, "2") or not kwargs.get("legacy_responses", True):
        raise ValueError("the stream intake needs a RESP2 client with the legacy reply shapes")


@contextlib.contextmanager
def unavailable_on_outage(operation: str) -> Iterator[None]:
    try:
        yield
    except (redis_errors.AuthenticationError, redis_errors.AuthorizationError):
        # Wrong credentials do not heal by waiting: the operator has to act.
        raise
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
        # BusyLoadingError (a restarting server loading its data) is a ConnectionError.
        raise StreamUnavailable(exc, operation=operation) from exc
