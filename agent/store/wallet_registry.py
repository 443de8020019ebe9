"""The wallet registry: policies from SQL, cached, refreshed so CLI changes need no restart."""

from __future__ import annotations

import time
from collections.abc import Callable

from agent.domain.policy import WalletPolicy
from agent.store import wallets as wallet_rows
from agent.store.database import Store

__all__ = ["WalletRegistry"]


class WalletRegistry:
    def __init__(
        self,
        store: Store,
        *,
        min_refresh_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._policies: dict[str, WalletPolicy] = {}
        self._min_interval = min_refresh_interval_s
        self._clock = clock
        self._refreshed_at = float("-inf")

    async def refresh(self) -> None:
        listed = await self._store.read(wallet_rows.list_wallets)
        self._policies = {policy.pubkey: policy for policy, _source in listed}
        self._refreshed_at = self._clock()

    async def get(self, pubkey: str) -> WalletPolicy | None:
        """The wallet's policy; an unknown wallet triggers at most one refresh per interval."""
        policy = self._policies.get(pubkey)
        if policy is None and self._clock() - self._refreshed_at >= self._min_interval:
            await self.refresh()
            policy = self._policies.get(pubkey)
        return policy

    def policies(self) -> list[WalletPolicy]:
        return list(self._policies.values())

    def __len__(self) -> int:
        return len(self._policies)
