"""Where a trade can fill: the :class:`Venue` protocol the pipeline quotes and fills through,
the OTC pools (:class:`OtcVenue`) and the local DEX (:class:`LocalDexVenue`); Jupiter is
:mod:`agent.venues.jupiter`, with its own face.

A venue never holds a database connection: it reaches its shared books through
:class:`PoolBooks` and :class:`BookKeeper`, protocols the store implements.
"""

from agent.venues.base import LegFailed, Venue
from agent.venues.books import BookKeeper, PoolBooks
from agent.venues.localdex import LocalDexPool, LocalDexVenue
from agent.venues.otc import OtcPool, OtcVenue

__all__ = [
    "BookKeeper",
    "LegFailed",
    "LocalDexPool",
    "LocalDexVenue",
    "OtcPool",
    "OtcVenue",
    "PoolBooks",
    "Venue",
]
