"""Builders of the agent's parts, each from a validated configuration: tokens, pools, the oracle,
Jupiter, wallet policies, the stream intake."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from decimal import Decimal

import httpx
from solders.pubkey import Pubkey

from agent.config import AgentConfig, ConfigError
from agent.domain.otc_pricing import OtcInventory, OtcPoolParams
from agent.domain.policy import WalletPolicy
from agent.domain.tokens import Token, TokenRegistry, to_base_units
from agent.intake.stream.intake import StreamIntake, StreamSettings
from agent.metrics.catalog import Metrics
from agent.net import CircuitBreaker, TokenBucket
from agent.pricing.failover import FailoverOracle, FailoverSettings
from agent.pricing.health import BreakerSettings, SourceBackoff
from agent.pricing.sources import SourceKeys, build_sources
from agent.venues.jupiter import JupiterClient
from agent.venues.jupiter.swaps import SwapSettings
from agent.venues.jupiter.venue import JupiterVenue
from agent.venues.localdex import LocalDexPool
from agent.venues.otc import OtcPool
from onchain.derive import derive_keypair
from onchain.rpc_cluster import RpcCluster
from onchain.swap_verification import DEFAULT_ALLOWED_PROGRAMS

__all__ = [
    "build_jupiter",
    "build_localdex_pools",
    "build_oracle",
    "build_otc_pools",
    "build_stream_intake",
    "build_tokens",
    "wallet_policies",
]


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
        retry=SourceBackoff(
            initial_delay_s=prices.retry_initial_delay_s, max_delay_s=prices.retry_max_delay_s
        ),
        breaker=BreakerSettings(
            failure_threshold=prices.breaker_failures, open_s=prices.breaker_open_s
        ),
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
        metrics.venue_breaker.labels("jupiter", state).set_function(_in_state(client, state))
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


def _in_state(client: JupiterClient, state: str) -> Callable[[], float]:
    """1 while the client's breaker is in ``state``, else 0 (read at scrape time)."""
    return lambda: 1.0 if client.breaker_state == state else 0.0
