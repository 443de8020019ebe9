"""What the pipeline needs from a venue: quotes, and fills that move the shared books.

A fill happens in two steps. ``prepare`` runs outside any database transaction (an RFQ
maker's execution delay and last look happen here). The recorder then moves the books inside
the transaction that records the outcome, through the :class:`~agent.venues.books.PoolBooks`
it hands over: ``lock`` reads the pools' books (locked until commit where the database can),
``apply`` is the pure step from one book and one quote to the next book and the realised
output, and ``save`` writes the books back. A fill is therefore committed exactly when its
records are; ``committed`` refreshes the venue's cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from agent.domain.allocation import Curve
from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.venues.books import PoolBooks

__all__ = ["LegFailed", "Venue"]

BookT = TypeVar("BookT")


class LegFailed(Exception):
    """This venue will not fill this quote; the pipeline re-plans without it.

    ``quote`` names the leg that failed when the failure concerns one leg of several.
    """

    def __init__(self, reason: Reason, detail: str = "", quote: Quote | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.quote = quote
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class Venue(Protocol[BookT]):
    """A venue whose pools each keep a book of type ``BookT`` (OTC inventory, AMM reserves;
    an empty tuple for a venue whose liquidity is elsewhere)."""

    name: str

    async def quote(self, request: QuoteRequest, now: float) -> list[Quote | QuoteMiss]: ...

    async def curves(
        self, request: QuoteRequest, quotes: Sequence[Quote], now: float
    ) -> list[Curve]:
        """The venue's output at any size, for split routing (``quotes``: its own answers
        for the full amount, just given)."""
        ...

    async def prepare(self, quote: Quote) -> None: ...

    def lock(self, books: PoolBooks, pool_ids: Iterable[str]) -> dict[str, BookT]: ...

    def apply(self, book: BookT, quote: Quote) -> tuple[BookT, int]: ...

    def revert(self, book: BookT, quote: Quote, realised_out: int) -> BookT: ...

    def save(
        self,
        books: PoolBooks,
        before: Mapping[str, BookT],
        after: Mapping[str, BookT],
        fills: Mapping[str, int],
        declines: Mapping[str, int],
    ) -> None: ...

    def committed(self, after: Mapping[str, BookT]) -> None: ...
