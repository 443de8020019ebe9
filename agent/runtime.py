"""Build the agent's parts from a validated configuration: tokens, store, oracle, venues, pipeline."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
from prometheus_client import CollectorRegistry
from solders.pubkey import Pubkey

from agent.chain import (
    ChainContext,
    PoolVaults,
    build_local_chain,
    held_wallet_keys,
    pool_authority,
)
from agent.config import AgentConfig, ConfigError
from agent.domain.otc_pricing import OtcInventory, OtcPoolParams
from agent.domain.policy import WalletPolicy
from agent.domain.risk import CoolDownPolicy
from agent.domain.tokens import Token, TokenRegistry, to_base_units
from agent.executor import ChainExecutor
from agent.intake.stream import StreamIntake, StreamSettings
from agent.metrics import Metrics
from agent.pipeline import Pipeline, PipelineSettings
from agent.pricing.failover import FailoverOracle, FailoverSettings
from agent.pricing.sources import SourceKeys, build_sources
from agent.router import MakerProfile, Router, RouterSettings
from agent.store import wallets as wallet_rows
from agent.store.database import Store
from agent.venues.base import Venue
from agent.venues.jupiter import CircuitBreaker, JupiterClient, TokenBucket
from agent.venues.jupiter.swaps import SwapSettings
from agent.venues.jupiter.venue import JupiterVenue
from agent.venues.localdex import LocalDexPool, LocalDexVenue
from agent.venues.otc import OtcPool, OtcVenue
from agent.wallets import WalletRegistry
from onchain.derive import derive_keypair
from onchain.rpc_cluster import RpcCluster
from onchain.swap_verification import DEFAULT_ALLOWED_PROGRAMS
from onchain.transactions import ComputeBudget

__all__ = ["Runtime", "build_runtime", "build_tokens"]


def build_tokens(config: AgentConfig) -> TokenRegistry:
    """The configured cluster's tokens; local mints not pinned in tokens.toml are derived."""
    assert config.tokens_config is not None
    cluster = config.cluster.name
    tokens = []
    for entry in config.tokens_config.tokens:
        mint = entry.mints.get(cluster)
        if mint is None and cluster == "local":
            mint = str(derive_keypair(config.cluster.mint_seed, f"mint/{entry.symbol}").pubkey())
        if mint is None:
            continue
        tokens.append(
            Token(
                symbol=entry.symbol,
                mint=mint,
                decimals=entry.decimals,
                static_usd=entry.static_usd,
                coingecko_id=entry.coingecko_id,
                kraken_pair=entry.kraken_pair,
                binance_symbol=entry.binance_symbol,
                pyth_feed_id=entry.pyth_feed_id,
            )
        )
    return TokenRegistry(tokens)


def _units(value: Decimal, token: Token, where: str) -> int:
    try:
        return to_base_units(value, token.decimals)
    except ValueError as exc:
        raise ConfigError(where, "", str(exc)) from None


def build_otc_pools(config: AgentConfig, tokens: TokenRegistry) -> list[OtcPool]:
    assert config.pools_config is not None
    pools = []
    for entry in config.pools_config.otc:
        base, quote = tokens.by_symbol(entry.base), tokens.by_symbol(entry.quote)
        if not entry.enabled or base is None or quote is None:
            continue
        where = f"pools: otc {entry.id}"
        params = OtcPoolParams(
            base_decimals=base.decimals,
            quote_decimals=quote.decimals,
            base_spread_bps=entry.base_spread_bps,
            size_spread_bps=entry.size_spread_bps,
            skew_spread_bps=entry.skew_spread_bps,
            min_spread_bps=entry.min_spread_bps,
            min_base=_units(entry.min_base, base, where),
            max_base=_units(entry.max_base, base, where),
        )
        pools.append(
            OtcPool(
                id=entry.id,
                base=base,
                quote=quote,
                params=params,
                start=OtcInventory(
                    _units(entry.base_inventory, base, where),
                    _units(entry.quote_inventory, quote, where),
                ),
                quote_ttl_s=entry.quote_ttl_s,
                execution_delay_s=entry.execution_delay_ms / 1000,
                last_look_reject_probability=entry.last_look_reject_probability,
                replenish_fraction=entry.replenish_fraction,
            )
        )
    return pools


def build_localdex_pools(config: AgentConfig, tokens: TokenRegistry) -> list[LocalDexPool]:
    assert config.pools_config is not None
    pools = []
    for entry in config.pools_config.localdex:
        base, quote = tokens.by_symbol(entry.base), tokens.by_symbol(entry.quote)
        if not entry.enabled or base is None or quote is None:
            continue
        where = f"pools: localdex {entry.id}"
        pools.append(
            LocalDexPool(
                id=entry.id,
                base=base,
                quote=quote,
                fee_bps=entry.fee_bps,
                start_base=_units(entry.base_reserve, base, where),
                start_quote=_units(entry.quote_reserve, quote, where),
                rebalance_fraction=entry.rebalance_fraction,
            )
        )
    return pools


def build_oracle(
    config: AgentConfig,
    tokens: TokenRegistry,
    http: httpx.AsyncClient,
    jupiter_limiter: TokenBucket | None = None,
) -> FailoverOracle:
    """The configured price sources in order, static last, over one shared HTTP client."""
    prices = config.prices
    keys = SourceKeys(
        coingecko=prices.coingecko_api_key,
        coingecko_pro=prices.coingecko_plan == "pro",
        jupiter=config.venues.jupiter.api_key,
        pyth=prices.pyth_api_key,
    )
    settings = FailoverSettings(
        cache_ttl_s=float(prices.cache_ttl_s), max_stale_s=prices.max_stale_s
    )
    sources = build_sources(
        prices.sources,
        http,
        keys=keys,
        urls=prices.source_urls(),
        jupiter_limiter=jupiter_limiter,
    )
    return FailoverOracle(
        sources,
        list(tokens),
        settings=settings,
    )


def build_jupiter(
    config: AgentConfig, http: httpx.AsyncClient, metrics: Metrics, limiter: TokenBucket
) -> JupiterVenue:
    """The Jupiter venue: one request budget for the process, a breaker, and the mainnet RPC
    its legs are simulated on when ``simulate_rpc`` is set."""
    settings = config.venues.jupiter
    execution = config.execution

    def observe(endpoint: str, status: str, seconds: float) -> None:
        metrics.venue_requests.labels("jupiter", endpoint, status).inc()
        metrics.venue_request_latency.labels("jupiter", endpoint, status).observe(seconds)

    client = JupiterClient(
        settings.base_url,
        http=http,
        api_key=settings.api_key,
        limiter=limiter,
        breaker=CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s),
        api=settings.api,
        timeout_s=settings.timeout_s,
        observe=observe,
    )
    allowed = DEFAULT_ALLOWED_PROGRAMS | {Pubkey.from_string(p) for p in settings.extra_programs}
    venue = JupiterVenue(
        client,
        SwapSettings(
            max_budget_wait_s=settings.max_budget_wait_s,
            quote_ttl_s=settings.quote_ttl_s,
            no_route_ttl_s=settings.no_route_ttl_s,
            platform_fee_bps=settings.platform_fee_bps,
            max_accounts=settings.max_accounts,
            compute_unit_price_micro_lamports=execution.compute_unit_price_micro_lamports or None,
            max_compute_unit_price_micro_lamports=execution.max_compute_unit_price_micro_lamports,
            allowed_programs=frozenset(allowed),
        ),
        lookup_cluster=(
            RpcCluster(settings.simulate_rpc, name="mainnet-beta")
            if settings.simulate_rpc
            else None
        ),
        mainnet_mints=_mainnet_mints(config),
        on_error=lambda kind: metrics.venue_errors.labels("jupiter", kind).inc(),
        on_refusal=lambda check: metrics.swap_refusals.labels("jupiter", check).inc(),
    )
    metrics.venue_up.labels("jupiter").set_function(lambda: 1.0 if venue.up else 0.0)
    for state in ("closed", "open", "half_open"):
        metrics.venue_breaker.labels("jupiter", state).set_function(
            lambda state=state: 1.0 if client.breaker_state == state else 0.0
        )
    return venue


def _mainnet_mints(config: AgentConfig) -> dict[str, str] | None:
    """Off mainnet: each token's cluster mint -> its mainnet mint (what Jupiter trades)."""
    cluster = config.cluster.name
    if cluster == "mainnet-beta":
        return None
    assert config.tokens_config is not None
    local_tokens = build_tokens(config)
    mapping = {}
    for entry in config.tokens_config.tokens:
        token, mainnet = local_tokens.by_symbol(entry.symbol), entry.mints.get("mainnet-beta")
        if token is not None and mainnet is not None:
            mapping[token.mint] = mainnet
    return mapping


def wallet_policies(config: AgentConfig) -> list[WalletPolicy]:
    return [
        WalletPolicy(
            pubkey=w.pubkey,
            max_notional_usd=w.max_notional_usd,
            daily_notional_usd=w.daily_notional_usd,
            pairs=frozenset(w.pairs),
            keypair_path=w.keypair,
        )
        for w in config.wallets
    ]


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
    pipeline: Pipeline
    http: httpx.AsyncClient
    jupiter: JupiterVenue | None = None

    @property
    def venues(self) -> list[Venue]:
        return [v for v in (self.otc, self.localdex, self.jupiter) if v is not None]

    def venues_up(self) -> list[str]:
        """Venues that may be asked now: the local ones always, Jupiter while its breaker allows."""
        return [v.name for v in self.venues if v is not self.jupiter or self.jupiter.up]

    async def start(self, *, ours: Callable[[str | None], bool] = lambda _replica: True) -> None:
        """Migrate, load wallets and books, then the chain for dry-run and send; settle what
        a crash left executing, for the replicas ``ours`` accepts."""
        await self.start_books()
        mode = self.config.execution.mode
        if mode == "paper":
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
            await self.pipeline.settle_leftovers(abandon=True, ours=ours)
        self.pipeline.attach_executor(await self._chain_executor())
        await self.pipeline.settle_leftovers(abandon=False, ours=ours)

    async def start_books(self) -> None:
        """Migrate, register configured wallets, load the books. Raises StoreUnavailable."""
        await self.oracle.refresh()  # bounded: offline, every network source fails fast
        await self.store.upgrade()
        for policy in wallet_policies(self.config):
            await self.store.write(wallet_rows.upsert_wallet, policy, "config")
        await self.wallets.refresh()
        if self.otc is not None:
            await self.otc.start(self.store)
        if self.localdex is not None:
            await self.localdex.start(self.store)

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
        await self.pipeline.waiter.aclose()
        await self.oracle.aclose()
        await self.http.aclose()
        if self.jupiter is not None and self.jupiter.lookup_cluster is not None:
            await self.jupiter.lookup_cluster.aclose()
        await self.pipeline.aclose()
        if self.pipeline.executor is not None:
            await self.pipeline.executor.chain.cluster.aclose()
        await self.store.aclose()


def build_stream_intake(config: AgentConfig) -> StreamIntake | None:
    """The Redis stream intake, when [intake.redis] enables it (one consumer per replica)."""
    redis = config.intake.redis
    if not redis.enabled:
        return None
    return StreamIntake(
        StreamSettings(
            url=redis.url,
            consumer=redis.consumer or f"{socket.gethostname()}-{os.getpid()}",
            stream=redis.stream,
            group=redis.group,
            results_stream=redis.results_stream,
            dead_letter_stream=redis.dead_letter_stream,
            claim_idle_ms=int(redis.claim_idle_s * 1000),
            max_deliveries=redis.max_deliveries,
            max_entry_bytes=config.intake.max_file_bytes,
            forget_idle_ms=int(redis.forget_consumers_after_s * 1000),
        )
    )


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
    pipeline = Pipeline(
        settings=PipelineSettings(
            cluster=config.cluster.name,
            mode=config.execution.mode,
            max_ttl_s=config.intake.max_ttl_s,
            default_slippage_bps=config.intake.default_slippage_bps,
            max_slippage_bps=config.intake.max_slippage_bps,
            enabled_venues=enabled,
            compute_unit_limit=config.execution.compute_unit_limit,
            compute_unit_price_micro_lamports=config.execution.compute_unit_price_micro_lamports,
        ),
        store=store,
        tokens=tokens,
        wallets=wallets,
        oracle=oracle,
        venues=venues,
        metrics=metrics,
        router=router,
    )
    return Runtime(
        config, store, tokens, oracle, metrics, wallets, otc, localdex, pipeline, http, jupiter
    )
