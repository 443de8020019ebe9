"""What the pipeline needs from a venue: quotes, and fills that move the shared books.

A fill happens in two steps. ``prepare`` runs outside any database transaction (an RFQ
maker's execution delay and last look happen here); ``fill`` runs inside the transaction that
also records the outcome, and moves the venue's books with conditional updates, so a fill is
committed exactly when its records are. ``committed`` lets the venue refresh its cache after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest

__all__ = ["Fill", "LegFailed", "Venue"]


class LegFailed(Exception):
    """This venue will not fill this quote; the pipeline falls back to the next candidate."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


@dataclass(frozen=True, slots=True)
class Fill:
    quote: Quote
    realised_out: int
    state_after: Any  # the venue's own view of its book after the fill, for `committed`


class Venue(Protocol):
    name: str

    async def quote(self, request: QuoteRequest, now: float) -> list[Quote | QuoteMiss]: ...

    async def prepare(self, quote: Quote) -> None: ...

    async def fill(self, connection: AsyncConnection, quote: Quote) -> Fill: ...

    async def record_failure(
        self, connection: AsyncConnection, quote: Quote, reason: Reason
    ) -> None: ...

    def committed(self, fill: Fill) -> None: ...
