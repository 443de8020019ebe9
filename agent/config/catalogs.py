"""The schemas of the tokens file (tokens.toml) and the pools file (pools.toml), which the main
configuration names; :func:`agent.config.load_config` reads and cross-checks them."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from agent.config.checks import CLUSTERS, check_bps, check_positive, check_pubkey
from agent.config.typed_build import InvalidValue

__all__ = ["LocalDexPoolConfig", "OtcPoolConfig", "PoolsConfig", "TokenConfig", "TokensConfig"]


@dataclass(frozen=True)
class TokenConfig:
    symbol: str
    decimals: int
    mints: dict[str, str] = field(default_factory=dict)
    static_usd: Decimal = Decimal(0)
    coingecko_id: str = ""
    kraken_pair: str = ""
    binance_symbol: str = ""
    pyth_feed_id: str = ""

    def check(self) -> None:
        if not 0 <= self.decimals <= 18:
            raise InvalidValue("decimals", f"must be between 0 and 18 (got {self.decimals})")
        if not self.symbol.isalnum() or self.symbol.upper() != self.symbol:
            raise InvalidValue("symbol", f"must be upper-case letters and digits ({self.symbol!r})")
        for cluster, mint in self.mints.items():
            if cluster not in CLUSTERS:
                raise InvalidValue(f"mints.{cluster}", "unknown cluster")
            check_pubkey(f"mints.{cluster}", mint)
        if self.static_usd < 0:
            raise InvalidValue("static_usd", "must not be negative")


@dataclass(frozen=True)
class TokensConfig:
    tokens: tuple[TokenConfig, ...]

    def check(self) -> None:
        seen: set[str] = set()
        mints: dict[tuple[str, str], str] = {}
        for index, token in enumerate(self.tokens):
            if token.symbol in seen:
                raise InvalidValue(f"tokens[{index}].symbol", f"duplicate symbol {token.symbol}")
            seen.add(token.symbol)
            for cluster, mint in token.mints.items():
                owner = mints.setdefault((cluster, mint), token.symbol)
                if owner != token.symbol:
                    raise InvalidValue(
                        f"tokens[{index}].mints.{cluster}", f"mint {mint} is already {owner}'s"
                    )


@dataclass(frozen=True)
class OtcPoolConfig:
    id: str
    base: str
    quote: str
    base_inventory: Decimal
    quote_inventory: Decimal
    base_spread_bps: Decimal = Decimal(10)
    size_spread_bps: Decimal = Decimal(50)
    skew_spread_bps: Decimal = Decimal(20)
    min_spread_bps: Decimal = Decimal(3)
    min_base: Decimal = Decimal("0.1")
    max_base: Decimal = Decimal(5_000)
    quote_ttl_s: float = 10.0
    execution_delay_ms: int = 0
    last_look_reject_probability: Decimal = Decimal(0)
    # Each replenishment closes this fraction of the gap back to the starting inventory.
    replenish_fraction: Decimal = Decimal("0.1")
    enabled: bool = True

    def check(self) -> None:
        for name in ("base_inventory", "quote_inventory"):
            if getattr(self, name) < 0:
                raise InvalidValue(name, f"must not be negative (got {getattr(self, name)})")
        for name in ("base_spread_bps", "size_spread_bps", "min_spread_bps"):
            check_bps(name, getattr(self, name))
        if not 0 <= self.last_look_reject_probability <= 1:
            raise InvalidValue("last_look_reject_probability", "must be between 0 and 1")
        if not 0 <= self.replenish_fraction <= 1:
            raise InvalidValue("replenish_fraction", "must be between 0 and 1")
        if not 0 < self.min_base <= self.max_base:
            raise InvalidValue("min_base", "must be positive and at most max_base")
        check_positive("quote_ttl_s", self.quote_ttl_s)
        if self.base == self.quote:
            raise InvalidValue("quote", "must differ from base")


@dataclass(frozen=True)
class LocalDexPoolConfig:
    id: str
    base: str
    quote: str
    base_reserve: Decimal
    quote_reserve: Decimal
    fee_bps: int = 25
    # Arbitrage pull back toward the oracle price per rebalancing run.
    rebalance_fraction: Decimal = Decimal("0.2")
    enabled: bool = True

    def check(self) -> None:
        check_positive("base_reserve", self.base_reserve)
        check_positive("quote_reserve", self.quote_reserve)
        check_bps("fee_bps", self.fee_bps, upper=9_999)
        if self.base == self.quote:
            raise InvalidValue("quote", "must differ from base")


@dataclass(frozen=True)
class PoolsConfig:
    otc: tuple[OtcPoolConfig, ...] = ()
    localdex: tuple[LocalDexPoolConfig, ...] = ()

    def check(self) -> None:
        ids = [p.id for p in self.otc] + [p.id for p in self.localdex]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise InvalidValue("id", f"duplicate pool id {duplicates[0]}")
