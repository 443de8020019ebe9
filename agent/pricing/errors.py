"""The errors a price source's answer raises, grouped by what the caller does next::

    PriceSourceError
    ├── RateLimited(retry_after_s)    back off, honouring retry_after_s when given
    ├── SourceUnavailable             transient (5xx, timeout, connection): retry later
    ├── BadPayload                    the answer breaks the protocol: alert, back off
    │   └── UnknownInstrument         a configured id/pair/symbol is unknown: drop it, alert
    └── SourceDisabled(retry_after_s) stop polling (401/403, 451 geo-block, 418 IP ban)

Every one names its source. RateLimited and BadPayload are also the shared kinds of
:mod:`agent.net` (``agent.net.RateLimited``, ``agent.net.BadPayload``), so a caller that
treats any throttled or malformed answer alike catches them from every adapter.

The status classifier, the parsers and the source adapters raise them; each source's health
record (:mod:`agent.pricing.health`) turns them into a backoff, an open breaker or a pause.
"""

from __future__ import annotations

from typing import ClassVar

from agent import net

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
        # Not super(): RateLimited and BadPayload also derive from agent.net's kinds, whose
        # initialisers take other arguments; the message is set here for all of them.
        Exception.__init__(self, f"{source}: {detail}")


class RateLimited(PriceSourceError, net.RateLimited):
    """The source throttled us; wait ``retry_after_s`` seconds when it says how long."""

    reason = "rate_limited"

    def __init__(self, source: str, detail: str, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        self.reset_at = None
        suffix = f" (retry after {retry_after_s:g}s)" if retry_after_s is not None else ""
        PriceSourceError.__init__(self, source, f"rate limited: {detail}{suffix}")


class SourceUnavailable(PriceSourceError):
    """A transient failure (5xx, timeout, connection refused); retry after a backoff."""

    reason = "unavailable"

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(source, f"unavailable: {detail}")


class BadPayload(PriceSourceError, net.BadPayload):
    """The answer is not what the protocol promises; a bug or an outage worth an alert."""

    reason = "bad_payload"

    def __init__(self, source: str, detail: str) -> None:
        PriceSourceError.__init__(self, source, f"bad payload: {detail}")


class UnknownInstrument(BadPayload):
    """The source does not know an id/pair/symbol we asked for, failing the whole request."""

    reason = "unknown_instrument"


class SourceDisabled(PriceSourceError):
    """Polling must stop: bad key, geo-block, or an IP ban lasting ``retry_after_s`` seconds."""

    reason = "disabled"

    def __init__(self, source: str, detail: str, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        suffix = f" for {retry_after_s:g}s" if retry_after_s is not None else ""
        super().__init__(source, f"disabled{suffix}: {detail}")
