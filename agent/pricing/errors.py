"""The errors a price source's answer raises, grouped by what the caller does next::

    PriceSourceError
    ├── RateLimited(retry_after)    back off, honouring retry_after when given
    ├── SourceUnavailable           transient (5xx, timeout, connection): retry later
    ├── BadPayload                  the answer breaks the protocol: alert, back off
    │   └── UnknownInstrument       a configured id/pair/symbol is unknown: drop it, alert
    └── SourceDisabled(retry_after) stop polling (401/403, 451 geo-block, 418 IP ban)

The status classifier, the parsers and the source adapters raise them; each source's health
record (:mod:`agent.pricing.health`) turns them into a backoff, an open breaker or a pause.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadPayload",
    "PriceSourceError",
    "RateLimited",
    "SourceDisabled",
    "SourceUnavailable",
    "UnknownInstrument",
]


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
