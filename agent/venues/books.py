"""How a venue reaches its shared books: a small protocol the store implements.

A venue never holds a database connection. Inside the recorder's transaction it is handed
:class:`PoolBooks` (its books, locked where the database can, until commit); at start and in
the scheduled jobs it asks a :class:`BookKeeper` to run its work on the books in a
transaction of its own. Book values are the domain's (OtcInventory, OtcBook, AmmReserves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from agent.domain.amm import AmmReserves
from agent.domain.otc_pricing import OtcBook, OtcInventory

__all__ = ["BookKeeper", "PoolBooks"]

T = TypeVar("T")


class PoolBooks(Protocol):
    """The OTC pools' inventories and the local DEX's reserves, in one open transaction."""

    def seed_otc_pool(
        self, pool_id: str, base_mint: str, quote_mint: str, start: OtcInventory
    ) -> None:
        """Create the pool's book on first start; a restart keeps the inventory it had."""
        ...

    def load_otc_pools(self) -> dict[str, OtcBook]: ...

    def lock_otc_books(self, pool_ids: Iterable[str]) -> dict[str, OtcInventory]: ...

    def save_otc_books(self, after: Mapping[str, OtcInventory], fills: Mapping[str, int]) -> None:
        """Write the moved inventories and count each pool's fills."""
        ...

    def count_otc_rejects(self, rejects: Mapping[str, int]) -> None: ...

    def seed_localdex_pool(
        self, pool_id: str, base_mint: str, quote_mint: str, base: int, quote: int, fee_bps: int
    ) -> None: ...

    def load_localdex_pools(self) -> dict[str, AmmReserves]: ...

    def lock_localdex_pools(self, pool_ids: Iterable[str]) -> dict[str, AmmReserves]: ...

    def save_localdex_pools(
        self, before: Mapping[str, AmmReserves], after: Mapping[str, AmmReserves]
    ) -> None:
        """Write reserves that still have the version they were read at (optimistic)."""
        ...


class BookKeeper(Protocol):
    """Runs ``work(books, *args)`` in a transaction of its own and returns what it returns."""

    async def write(self, work: Callable[..., T], *args: Any) -> T: ...

    async def read(self, work: Callable[..., T], *args: Any) -> T: ...
