"""The agent's parts assembled from a validated configuration into a Runtime: store, oracle,
venues, router; started in order (books, then the chain), when the pipeline, the group commit
and the settler are built with everything they use; closed in the reverse order.

This module is where parts meet: each is built here and handed its collaborators through its
constructor, and nothing attaches one part to another afterwards.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from prometheus_client import CollectorRegistry

from agent.app.builders import (
    build_jupiter,
    build_localdex_pools,
    build_oracle,
    build_otc_pools,
    build_tokens,
    wallet_policies,
)
from agent.config import AgentConfig, ConfigError
from agent.domain.risk import CoolDownPolicy
from agent.domain.router import MakerProfile, Router, RouterSettings
from agent.domain.tokens import TokenRegistry
from agent.ledger.group_commit import Recorder
from agent.metrics.catalog import Metrics
from agent.net import TokenBucket
from agent.pipeline.deadlines import DeadlineWaiter
from agent.pipeline.legs import LegPlanner
from agent.pipeline.pipeline import Pipeline, PipelineSettings
from agent.pricing.failover import FailoverOracle
from agent.settlement.chain import (
    ChainContext,
    PoolVaults,
    build_local_chain,
    held_wallet_keys,
    pool_authority,
)
from agent.settlement.executor import ChainExecutor
from agent.settlement.settler import Settler
from agent.settlement.signing import LegSigner
from agent.store import wallets as wallet_rows
from agent.store.database import Store
from agent.store.pools import PoolBookKeeper
from agent.store.wallet_registry import WalletRegistry
from agent.venues.base import Venue
from agent.venues.jupiter.venue import JupiterVenue
from agent.venues.localdex import LocalDexVenue
from agent.venues.otc import OtcVenue
from onchain.rpc_cluster import RpcCluster
from onchain.transactions import ComputeBudget

__all__ = ["Runtime", "build_runtime"]


@dataclass
class Runtime:
    config: AgentConfig
    store: Store
    tokens: TokenRegistry
    oracle: FailoverOracle
    metrics: Metrics
    wallets: WalletRegistry
    otc: OtcVenue | None
    localdex: LocalDexVenue | None
    http: httpx.AsyncClient
    books: PoolBookKeeper
    router: Router
    settings: PipelineSettings
    jupiter: JupiterVenue | None = None
    # The wall clock the pipeline decides by (deadlines, quote ages, usage days).
    clock: Callable[[], float] = time.time
    # Venues are waited on no longer than an intent has left (agent.pipeline.deadlines).
    waiter: DeadlineWaiter = field(init=False)
    _pipeline: Pipeline | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.waiter = DeadlineWaiter(lambda: self.clock())

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline :meth:`start` built (for the chain it started, in dry-run and send)."""
        if self._pipeline is None:
            raise RuntimeError("the runtime is not started: start() builds the pipeline")
        return self._pipeline

    @property
    def venues(self) -> list[Venue]:
        return [v for v in (self.otc, self.localdex, self.jupiter) if v is not None]

    def venues_up(self) -> list[str]:
        """Venues that may be asked now: the local ones always, Jupiter while its breaker allows."""
        return [v.name for v in self.venues if v is not self.jupiter or self.jupiter.up]

    def build_pipeline(self, executor: ChainExecutor | None, *, replica_id: str = "") -> Pipeline:
        """A pipeline over these parts, with its own group commit and settler; ``executor``
        (dry-run and send) signs each fill as it is reserved and settles it."""
        venues = {venue.name: venue for venue in self.venues}
        signer = LegSigner(executor) if executor is not None else None
        recorder = Recorder(self.store, venues, preparer=signer)
        settler = Settler(
            recorder=recorder,
            store=self.store,
            tokens=self.tokens,
            metrics=self.metrics,
            mode=self.settings.mode,
            executor=executor,
            signer=signer,
        )
        return Pipeline(
            settings=self.settings,
            store=self.store,
            tokens=self.tokens,
            wallets=self.wallets,
            oracle=self.oracle,
            venues=self.venues,
            metrics=self.metrics,
            router=self.router,
            waiter=self.waiter,
            planner=LegPlanner(venues, self.router, self.waiter),
            recorder=recorder,
            settler=settler,
            executor=executor,
            replica_id=replica_id,
            clock=self.clock,
        )

    async def start(
        self,
        *,
        replica_id: str = "",
        ours: Callable[[str | None], bool] = lambda _replica: True,
    ) -> None:
        """Migrate, load wallets and books, then the chain for dry-run and send, and build the
        pipeline on it; settle what a crash left executing, for the replicas ``ours`` accepts.
        ``replica_id`` names this replica on every fill it reserves."""
        await self.start_books()
        mode = self.config.execution.mode
        if mode == "paper":
            self._pipeline = self.build_pipeline(None, replica_id=replica_id)
            return
        if mode == "send":
            for index, wallet in enumerate(self.config.wallets):
                if not wallet.keypair:
                    raise ConfigError(
                        self.config.source_dir,
                        f"wallets[{index}].keypair",
                        "send mode signs for the wallet: its keypair file is required",
                    )
        in_process = self.config.cluster.name == "local" and not self.config.cluster.url
        if mode == "send" and in_process:
            # The in-process chain did not survive the restart: transactions in flight are lost.
            # Give their reservations back before the new chain is seeded from the books.
            abandoning = self.build_pipeline(None, replica_id=replica_id)
            try:
                await abandoning.settle_leftovers(abandon=True, ours=ours)
            finally:
                await abandoning.aclose()
        self._pipeline = self.build_pipeline(await self._chain_executor(), replica_id=replica_id)
        await self._pipeline.settle_leftovers(abandon=False, ours=ours)

    async def start_books(self) -> None:
        """Migrate, register configured wallets, load the books. Raises StoreUnavailable."""
        await self.oracle.refresh()  # bounded: offline, every network source fails fast
        await self.store.upgrade()
        for policy in wallet_policies(self.config):
            await self.store.write(wallet_rows.upsert_wallet, policy, "config")
        await self.wallets.refresh()
        if self.otc is not None:
            await self.otc.start(self.books)
        if self.localdex is not None:
            await self.localdex.start(self.books)

    async def _chain_executor(self) -> ChainExecutor:
        """The cluster the configuration names: in-process, or over JSON-RPC when a URL is set."""
        config = self.config
        keys_dir = config.home_path / "keys" / "pools"
        if config.cluster.url:
            chain = ChainContext(cluster=RpcCluster(config.cluster.url, name=config.cluster.name))
            for pool_id in self._pool_ids():
                if not (keys_dir / f"{pool_id}.json").exists() and config.cluster.name != "local":
                    raise ConfigError(
                        config.source_dir,
                        "cluster.name",
                        f"no authority key for pool {pool_id}: put it at {keys_dir}/{pool_id}.json (0600)",
                    )
                chain.authorities[pool_id] = pool_authority(keys_dir, pool_id)
            chain.wallet_keys = held_wallet_keys(self.wallets.policies())
        else:
            chain = await self.local_chain()
        budget = ComputeBudget(
            config.execution.compute_unit_limit, config.execution.compute_unit_price_micro_lamports
        )
        return ChainExecutor(
            chain,
            self.tokens,
            mode=config.execution.mode,
            budget=budget,
            swap_cluster=self.jupiter.lookup_cluster if self.jupiter else None,
        )

    def _pool_ids(self) -> list[str]:
        return [
            *(self.otc.pools if self.otc else {}),
            *(self.localdex.pools if self.localdex else {}),
        ]

    async def local_chain(self) -> ChainContext:
        """A fresh LiteSVM whose vaults hold what the books say (also served by `localnet`)."""
        vaults = []
        for pool_id, book in (self.otc.books if self.otc else {}).items():
            pool = self.otc.pools[pool_id]  # type: ignore[union-attr]
            vaults.append(
                PoolVaults(
                    pool_id, pool.base, book.inventory.base, pool.quote, book.inventory.quote
                )
            )
        for pool_id, reserves in (self.localdex.reserves if self.localdex else {}).items():
            pool = self.localdex.pools[pool_id]  # type: ignore[union-attr]
            vaults.append(PoolVaults(pool_id, pool.base, reserves.base, pool.quote, reserves.quote))
        prices = {
            t.symbol: (await self.oracle.price(t)).usd for t in self.tokens if t.static_usd > 0
        }
        return build_local_chain(
            tokens=self.tokens,
            mint_seed=self.config.cluster.mint_seed,
            keys_dir=self.config.home_path / "keys" / "pools",
            vaults=vaults,
            wallets=self.wallets.policies(),
            prices=prices,
        )

    async def aclose(self) -> None:
        # Venue calls given up on at an intent's deadline first, while their clients are open.
        await self.waiter.aclose()
        await self.oracle.aclose()
        await self.http.aclose()
        if self.jupiter is not None and self.jupiter.lookup_cluster is not None:
            await self.jupiter.lookup_cluster.aclose()
        if self._pipeline is not None:
            await self._pipeline.aclose()
            if self._pipeline.executor is not None:
                await self._pipeline.executor.chain.cluster.aclose()
        await self.store.aclose()


def build_runtime(
    config: AgentConfig,
    *,
    registry: CollectorRegistry | None = None,
    rng: random.Random | None = None,
    store: Store | None = None,
) -> Runtime:
    tokens = build_tokens(config)
    store = store or Store.from_url(
        config.database_url, connect_timeout_s=config.database.connect_timeout_s
    )
    http = httpx.AsyncClient(follow_redirects=False)
    # One budget for every Jupiter request of the process (swaps and prices): one account.
    jupiter_limiter = TokenBucket(config.venues.jupiter.rps, burst=1)
    oracle = build_oracle(config, tokens, http, jupiter_limiter)
    metrics = Metrics(registry or CollectorRegistry(), oracle=oracle)
    wallets = WalletRegistry(store)
    venues_config = config.venues
    otc = (
        OtcVenue(
            build_otc_pools(config, tokens),
            oracle,
            rng=rng,
            honour_execution_delay=config.execution.honour_execution_delay,
        )
        if venues_config.otc.enabled
        else None
    )
    localdex = (
        LocalDexVenue(build_localdex_pools(config, tokens), oracle)
        if venues_config.localdex.enabled
        else None
    )
    jupiter = (
        build_jupiter(config, http, metrics, jupiter_limiter)
        if venues_config.jupiter.enabled
        else None
    )
    venues: list[Venue] = [v for v in (otc, localdex, jupiter) if v is not None]
    for venue in venues:
        if venue is not jupiter:
            metrics.venue_up.labels(venue.name).set(1)
    if jupiter is not None or "jupiter" in config.prices.sources:
        metrics.watch_rate_limits({"jupiter": jupiter_limiter})
    enabled = tuple(v.name for v in venues)
    routing = config.routing
    router = Router(
        RouterSettings(
            split=routing.split,
            max_legs=routing.max_legs,
            samples=routing.samples,
            cool_down=CoolDownPolicy(base_s=routing.cool_down_s, max_s=routing.max_cool_down_s),
        ),
        {
            ("otc", pool.id): MakerProfile(
                pool.last_look_reject_probability, pool.execution_delay_s
            )
            for pool in (otc.pools.values() if otc else ())
        },
    )
    metrics.watch_router(router)
    metrics.watch_process()
    metrics.start_at_zero(
        sources=("directory", "redis") if config.intake.redis.enabled else ("directory",),
        pools=tuple(otc.pools) if otc else (),
        jupiter=jupiter is not None,
    )
    settings = PipelineSettings(
        cluster=config.cluster.name,
        mode=config.execution.mode,
        max_ttl_s=config.intake.max_ttl_s,
        default_slippage_bps=config.intake.default_slippage_bps,
        max_slippage_bps=config.intake.max_slippage_bps,
        enabled_venues=enabled,
        compute_unit_limit=config.execution.compute_unit_limit,
        compute_unit_price_micro_lamports=config.execution.compute_unit_price_micro_lamports,
    )
    return Runtime(
        config,
        store,
        tokens,
        oracle,
        metrics,
        wallets,
        otc,
        localdex,
        http,
        PoolBookKeeper(store),
        router,
        settings,
        jupiter,
    )
