"""The main configuration file's schema: one frozen, typed dataclass per section, each with
its defaults and the checks its values must pass (:mod:`agent.config.loader` reads it).

Every key can be overridden from the environment as ``OTC_AGENT__SECTION__KEY``;
``OTC_AGENT_HOME`` and ``DATABASE_URL`` override the home folder and the database URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

from agent.config.catalogs import PoolsConfig, TokensConfig
from agent.config.checks import (
    ClusterName,
    check_bps,
    check_http_url,
    check_positive,
    check_pubkey,
)
from agent.config.typed_build import InvalidValue

__all__ = ["AgentConfig", "WalletConfig"]

INTERNAL = {"internal": True}


@dataclass(frozen=True)
class ClusterConfig:
    name: ClusterName = "local"
    url: str = ""
    # Deterministic local mints and pool keys come from this seed, so restarts agree.
    mint_seed: str = "otc-agent-local"

    def check(self) -> None:
        if self.name != "local" and not self.url:
            raise InvalidValue("url", f"is required for cluster {self.name}")


@dataclass(frozen=True)
class ExecutionConfig:
    mode: Literal["paper", "dry-run", "send"] = "paper"
    max_workers: int = 8
    allow_mainnet_send: bool = False
    # Real RFQ makers hold a quote for a moment before filling; paper mode waits that long too.
    honour_execution_delay: bool = True
    # Settlement transactions: compute-unit limit and priority price (micro-lamports per unit).
    compute_unit_limit: int = 200_000
    compute_unit_price_micro_lamports: int = 0
    max_compute_unit_price_micro_lamports: int = 1_000_000

    def check(self) -> None:
        if not 1_000 <= self.compute_unit_limit <= 1_400_000:
            raise InvalidValue("compute_unit_limit", "must be between 1000 and 1400000")
        if (
            not 0
            <= self.compute_unit_price_micro_lamports
            <= self.max_compute_unit_price_micro_lamports
        ):
            raise InvalidValue(
                "compute_unit_price_micro_lamports",
                "must be between 0 and max_compute_unit_price_micro_lamports",
            )
        if not 1 <= self.max_workers <= 1024:
            raise InvalidValue(
                "max_workers", f"must be between 1 and 1024 (got {self.max_workers})"
            )


@dataclass(frozen=True)
class RedisIntakeConfig:
    """A Redis stream beside the folder: replicas share it through one consumer group."""

    enabled: bool = False
    url: str = "redis://127.0.0.1:6379/0"
    stream: str = "otc-agent:intents"
    group: str = "otc-agent"
    # Unique per replica; empty: "<host>-<pid>". A restarted replica that keeps its name takes
    # back its own pending entries at once instead of waiting for claim_idle_s.
    consumer: str = ""
    results_stream: str = "otc-agent:results"
    dead_letter_stream: str = "otc-agent:dead-letter"
    # Entries pending this long on another consumer are taken over (it is presumed dead): longer
    # than an intent can take, confirmation in send mode included.
    claim_idle_s: float = 300.0
    max_deliveries: int = 5
    block_ms: int = 1_000
    # Consumers idle this long with nothing pending are deleted from the group (hourly): the
    # "<host>-<pid>" names of replicas that stopped would otherwise pile up.
    forget_consumers_after_s: float = 86_400.0

    def check(self) -> None:
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise InvalidValue(
                "url", f"must be a redis://, rediss:// or unix:// URL (got {self.url!r})"
            )
        for name in ("stream", "group", "results_stream", "dead_letter_stream"):
            if not getattr(self, name):
                raise InvalidValue(name, "must not be empty")
        check_positive("claim_idle_s", self.claim_idle_s)
        check_positive("max_deliveries", self.max_deliveries)
        check_positive("block_ms", self.block_ms)
        if self.forget_consumers_after_s < self.claim_idle_s:
            raise InvalidValue(
                "forget_consumers_after_s",
                f"must be at least claim_idle_s ({self.claim_idle_s}), "
                f"got {self.forget_consumers_after_s}",
            )


@dataclass(frozen=True)
class IntakeConfig:
    directory: str = "intents"
    max_file_bytes: int = 65_536
    max_ttl_s: int = 600
    rescan_interval_s: float = 1.0
    # Used when an intent gives neither min_out nor max_slippage_bps.
    default_slippage_bps: int = 50
    max_slippage_bps: int = 2_000
    redis: RedisIntakeConfig = field(default_factory=RedisIntakeConfig)

    def check(self) -> None:
        check_positive("max_file_bytes", self.max_file_bytes)
        check_positive("max_ttl_s", self.max_ttl_s)
        check_positive("rescan_interval_s", self.rescan_interval_s)
        check_bps("default_slippage_bps", self.default_slippage_bps)
        check_bps("max_slippage_bps", self.max_slippage_bps)
        if self.default_slippage_bps > self.max_slippage_bps:
            # Otherwise every intent that leaves slippage to the agent is refused.
            raise InvalidValue(
                "default_slippage_bps",
                f"must not exceed max_slippage_bps ({self.default_slippage_bps} > "
                f"{self.max_slippage_bps})",
            )


@dataclass(frozen=True)
class DatabaseConfig:
    # "{home}" is replaced by the home folder, so moving the home moves the database.
    url: str = "sqlite:///{home}/otc-agent.db"
    connect_timeout_s: float = 5.0
    retry_max_backoff_s: float = 30.0


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:9108"

    def check(self) -> None:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
            raise InvalidValue("listen", f"must be HOST:PORT (got {self.listen!r})")


@dataclass(frozen=True)
class PricesConfig:
    cache_ttl_s: int = 300
    # The scheduler refreshes a little before the cache expires; CoinGecko's demo quota
    # (about 10k calls a month) allows one batched call every ~4.5 minutes.
    refresh_interval_s: float = 270.0
    max_stale_s: float = 3600.0
    coingecko_api_key: str = field(default="", repr=False)
    # A pro key works only on the pro host, with its own header.
    coingecko_plan: Literal["demo", "pro"] = "demo"
    pyth_api_key: str = field(default="", repr=False)
    sources: tuple[Literal["coingecko", "kraken", "binance", "jupiter", "pyth", "static"], ...] = (
        "static",
    )
    # Base URLs; empty means the source's public API. For a paid or self-hosted Hermes, Binance's
    # data-only host where api.binance.com is refused, or a proxy. Out of repr: some providers
    # put the account's token in the path.
    coingecko_url: str = field(default="", repr=False)
    kraken_url: str = field(default="", repr=False)
    binance_url: str = field(default="", repr=False)
    pyth_url: str = field(default="", repr=False)
    jupiter_url: str = field(default="", repr=False)
    # A failed source is asked again after a pause that doubles from the first to the longest
    # (a Retry-After it sends wins); after breaker_failures failures in a row its breaker trips
    # and holds it off for at least breaker_open_s.
    retry_initial_delay_s: float = 30.0
    retry_max_delay_s: float = 1800.0
    breaker_failures: int = 5
    breaker_open_s: float = 900.0

    def check(self) -> None:
        check_positive("cache_ttl_s", self.cache_ttl_s)
        check_positive("refresh_interval_s", self.refresh_interval_s)
        check_positive("retry_initial_delay_s", self.retry_initial_delay_s)
        check_positive("breaker_failures", self.breaker_failures)
        check_positive("breaker_open_s", self.breaker_open_s)
        if self.retry_max_delay_s < self.retry_initial_delay_s:
            raise InvalidValue("retry_max_delay_s", "must be at least retry_initial_delay_s")
        if len(set(self.sources)) != len(self.sources):
            raise InvalidValue("sources", "lists a source twice")
        if not self.sources:
            raise InvalidValue("sources", "must name at least one source")
        for source, url in self.source_urls().items():
            check_http_url(f"{source}_url", url)

    def source_urls(self) -> dict[str, str]:
        """The base URLs set, by source name."""
        urls = {
            "coingecko": self.coingecko_url,
            "kraken": self.kraken_url,
            "binance": self.binance_url,
            "pyth": self.pyth_url,
            "jupiter": self.jupiter_url,
        }
        return {source: url for source, url in urls.items() if url}


JUPITER_V6 = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"


@dataclass(frozen=True)
class JupiterConfig:
    enabled: bool = False
    base_url: str = "https://api.jup.ag/swap/v1"
    api_key: str = field(default="", repr=False)
    # v1: /quote, then /swap-instructions for the leg chosen; v2: /swap/v2/build does both.
    api: Literal["v1", "v2"] = "v1"
    # Requests per second for the whole process (Jupiter counts per account): keyless 0.5.
    rps: float = 0.5
    # A mainnet RPC to simulate Jupiter legs on (dry-run); without it legs are only built.
    simulate_rpc: str = field(default="", repr=False)
    timeout_s: float = 10.0
    # How long a quote may wait for request budget before the venue sits this intent out.
    max_budget_wait_s: float = 1.0
    quote_ttl_s: float = 20.0
    # After "no route" for a pair at some size, larger-or-equal requests skip Jupiter this long.
    no_route_ttl_s: float = 30.0
    # The platform fee the agent charges through Jupiter (none): a swap with another is refused.
    platform_fee_bps: int = 0
    max_accounts: int = 64
    # Extra programs a swap transaction may call, beyond the built-in allowlist.
    extra_programs: tuple[str, ...] = ()
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0

    def check(self) -> None:
        check_http_url("base_url", self.base_url)
        check_positive("rps", self.rps)
        check_positive("timeout_s", self.timeout_s)
        check_positive("quote_ttl_s", self.quote_ttl_s)
        if self.max_budget_wait_s < 0:
            raise InvalidValue("max_budget_wait_s", "must not be negative")
        if self.no_route_ttl_s < 0:
            raise InvalidValue("no_route_ttl_s", "must not be negative")
        check_bps("platform_fee_bps", self.platform_fee_bps, upper=255)
        if not 8 <= self.max_accounts <= 256:
            raise InvalidValue("max_accounts", "must be between 8 and 256")
        for program in self.extra_programs:
            check_pubkey("extra_programs", program)
        if self.breaker_failures < 1:
            raise InvalidValue("breaker_failures", "must be at least 1")
        check_positive("breaker_cooldown_s", self.breaker_cooldown_s)


@dataclass(frozen=True)
class OtcVenueConfig:
    enabled: bool = True
    pools_file: str = "pools.toml"
    replenish_interval_s: float = 30.0


@dataclass(frozen=True)
class LocalDexVenueConfig:
    enabled: bool = True
    rebalance_interval_s: float = 30.0


@dataclass(frozen=True)
class VenuesConfig:
    jupiter: JupiterConfig = field(default_factory=JupiterConfig)
    otc: OtcVenueConfig = field(default_factory=OtcVenueConfig)
    localdex: LocalDexVenueConfig = field(default_factory=LocalDexVenueConfig)


@dataclass(frozen=True)
class RoutingConfig:
    # Split one intent across venues where that beats every single venue (router v2).
    split: bool = True
    max_legs: int = 3
    # Sizes each venue's curve is sampled at per decision (more: closer to the optimum, slower).
    samples: int = 16
    # A pool that declines on last look is left out this long, doubling while it keeps fading.
    cool_down_s: float = 900.0
    max_cool_down_s: float = 14_400.0

    def check(self) -> None:
        if not 1 <= self.max_legs <= 5:
            raise InvalidValue("max_legs", f"must be between 1 and 5 (got {self.max_legs})")
        if not 8 <= self.samples <= 512:
            raise InvalidValue("samples", f"must be between 8 and 512 (got {self.samples})")
        if self.cool_down_s < 0 or self.max_cool_down_s < self.cool_down_s:
            raise InvalidValue("cool_down_s", "must be >= 0 and at most max_cool_down_s")


@dataclass(frozen=True)
class WalletConfig:
    pubkey: str
    keypair: str = ""
    max_notional_usd: Decimal = Decimal(100_000)
    daily_notional_usd: Decimal = Decimal(1_000_000)
    pairs: tuple[str, ...] = ()

    def check(self) -> None:
        check_pubkey("pubkey", self.pubkey)
        check_positive("max_notional_usd", self.max_notional_usd)
        check_positive("daily_notional_usd", self.daily_notional_usd)
        for pair in self.pairs:
            if pair.count("/") != 1:
                raise InvalidValue("pairs", f"must look like SOL/USDC (got {pair!r})")


@dataclass(frozen=True)
class TokensFileConfig:
    file: str = "tokens.toml"


@dataclass(frozen=True)
class AgentConfig:
    home: str = "var"
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    prices: PricesConfig = field(default_factory=PricesConfig)
    venues: VenuesConfig = field(default_factory=VenuesConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    tokens: TokensFileConfig = field(default_factory=TokensFileConfig)
    wallets: tuple[WalletConfig, ...] = ()
    # Filled by load_config, never read from the file.
    source_dir: str = field(default=".", compare=False, metadata=INTERNAL)
    tokens_config: TokensConfig | None = field(default=None, compare=False, metadata=INTERNAL)
    pools_config: PoolsConfig | None = field(default=None, compare=False, metadata=INTERNAL)

    def check(self) -> None:
        if (
            self.venues.jupiter.enabled
            and self.execution.mode == "send"
            and self.cluster.name != "mainnet-beta"
        ):
            # Jupiter's program and pools live on mainnet only; such a leg could never land.
            raise InvalidValue(
                "venues.jupiter.enabled",
                f"Jupiter legs can only be sent on mainnet-beta, not {self.cluster.name}: "
                "use dry-run, or disable the venue",
            )

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def intake_root(self) -> Path:
        return self.home_path / self.intake.directory

    @property
    def database_url(self) -> str:
        return self.database.url.replace("{home}", str(self.home_path.resolve()))

    def resolve(self, relative: str) -> Path:
        """A path named in the configuration, relative to the main file's folder."""
        path = Path(relative)
        return path if path.is_absolute() else Path(self.source_dir) / path
