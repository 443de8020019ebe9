"""Tokens of one cluster, and exact conversions between human amounts and base units."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext

__all__ = ["MAX_AMOUNT", "Token", "TokenRegistry", "from_base_units", "to_base_units"]

# Amounts are u64 on chain; every store we support holds signed 64-bit integers exactly,
# so the agent accepts amounts up to 2**63 - 1 base units and rejects larger ones.
MAX_AMOUNT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Token:
    symbol: str
    mint: str
    decimals: int
    static_usd: Decimal = Decimal(0)
    coingecko_id: str = ""
    kraken_pair: str = ""
    binance_symbol: str = ""
    pyth_feed_id: str = ""


def to_base_units(amount: Decimal, decimals: int) -> int:
    """Human amount to base units, rejecting amounts finer than the token's precision."""
    if not amount.is_finite():
        raise ValueError(f"{amount} is not a finite amount")
    with localcontext() as ctx:
        # scaleb rounds to the context precision; keep every digit so nothing is dropped silently.
        ctx.prec = max(ctx.prec, len(amount.as_tuple().digits))
        scaled = amount.scaleb(decimals)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} has more than {decimals} decimal places")
        return int(scaled)


def from_base_units(amount: int, decimals: int) -> Decimal:
    return Decimal(amount).scaleb(-decimals)


def quantize_down(value: Decimal) -> int:
    """Round a base-unit Decimal down to an integer, the direction that never overpays."""
    return int(value.to_integral_value(rounding=ROUND_DOWN))


class TokenRegistry:
    """The tokens configured for one cluster, looked up by symbol or by mint."""

    def __init__(self, tokens: Iterable[Token]) -> None:
        self._by_symbol: dict[str, Token] = {}
        self._by_mint: dict[str, Token] = {}
        for token in tokens:
            if token.symbol in self._by_symbol or token.mint in self._by_mint:
                raise ValueError(f"token {token.symbol} ({token.mint}) is configured twice")
            self._by_symbol[token.symbol] = token
            self._by_mint[token.mint] = token

    def __iter__(self) -> Iterator[Token]:
        return iter(self._by_symbol.values())

    def __len__(self) -> int:
        return len(self._by_symbol)

    def by_symbol(self, symbol: str) -> Token | None:
        return self._by_symbol.get(symbol.upper())

    def by_mint(self, mint: str) -> Token | None:
        return self._by_mint.get(mint)

    def require(self, symbol_or_mint: str) -> Token:
        token = self.by_symbol(symbol_or_mint) or self.by_mint(symbol_or_mint)
        if token is None:
            raise KeyError(f"unknown token {symbol_or_mint!r}")
        return token

    def pair_name(self, sell_mint: str, buy_mint: str) -> str:
        """`SELL/BUY` in symbols; used for wallet pair policies and bounded metric labels."""
        return f"{self.require(sell_mint).symbol}/{self.require(buy_mint).symbol}"
