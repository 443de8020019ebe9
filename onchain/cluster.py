"""One interface for every cluster the agent executes on, local SVM or JSON-RPC.

Errors are grouped by what the caller does next: :class:`ClusterUnavailable` (retry later),
:class:`ClusterRejected` (the cluster refused this transaction; the leg fails with the
reason), :class:`ClusterBadResponse` (a garbled answer; alert and treat as unavailable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

__all__ = [
    "EXPIRED",
    "Blockhash",
    "Cluster",
    "ClusterBadResponse",
    "ClusterError",
    "ClusterRejected",
    "ClusterUnavailable",
    "Confirmation",
    "Simulation",
]


class ClusterError(Exception):
    """Base of everything a cluster call can raise."""


class ClusterUnavailable(ClusterError):
    """Down, slow or rate-limited: nothing happened, try again later."""

    def __init__(self, what: str, detail: str = "") -> None:
        self.what = what
        self.detail = detail
        super().__init__(f"{what}: {detail}" if detail else what)


class ClusterRejected(ClusterError):
    """The cluster refused the transaction (bad blockhash, insufficient funds, program error)."""

    def __init__(self, reason: str, logs: Sequence[str] = ()) -> None:
        self.reason = reason
        self.logs = tuple(logs)
        super().__init__(reason)


class ClusterBadResponse(ClusterError):
    """The answer did not parse as the protocol says; treat as unavailable and alert."""

    def __init__(self, method: str, detail: str) -> None:
        self.method = method
        super().__init__(f"{method}: {detail}")


@dataclass(frozen=True, slots=True)
class Blockhash:
    blockhash: Hash
    last_valid_block_height: int


@dataclass(frozen=True, slots=True)
class Simulation:
    err: str | None
    units_consumed: int
    logs: tuple[str, ...]
    # Post-state of the accounts asked for, in the order asked (None where absent).
    accounts: tuple[Account | None, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.err is None


# Confirmation.err when the blockhash expired before the transaction was seen: it can never land.
EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Confirmation:
    signature: Signature
    slot: int
    err: str | None
    units_consumed: int | None = None
    logs: tuple[str, ...] = ()

    @property
    def expired(self) -> bool:
        return self.err == EXPIRED


class Cluster(Protocol):
    name: str

    async def latest_blockhash(self) -> Blockhash: ...

    async def block_height(self) -> int: ...

    async def get_accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]: ...

    async def simulate(
        self,
        transaction: VersionedTransaction,
        *,
        accounts: Sequence[Pubkey] = (),
        sig_verify: bool = True,
        replace_recent_blockhash: bool = False,
    ) -> Simulation: ...

    async def send(self, transaction: VersionedTransaction) -> Signature: ...

    async def confirm(self, signature: Signature, last_valid_block_height: int) -> Confirmation: ...

    async def aclose(self) -> None: ...
