"""Wallet policy and the money arithmetic it needs: pure, exact, and table-tested."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from agent.domain.intent import IntentMessage
from agent.domain.outcomes import IntentRejected, Reason
from agent.domain.tokens import Token, TokenRegistry, quantize_down

__all__ = [
    "TradeTerms",
    "WalletPolicy",
    "check_trade",
    "micros",
    "notional_usd",
    "reference_out",
]

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class WalletPolicy:
    pubkey: str
    max_notional_usd: Decimal
    daily_notional_usd: Decimal
    # Unordered pairs such as "SOL/USDC"; empty means every configured pair.
    pairs: frozenset[str] = frozenset()
    keypair_path: str = ""

    def allows_pair(self, sell: str, buy: str) -> bool:
        return not self.pairs or f"{sell}/{buy}" in self.pairs or f"{buy}/{sell}" in self.pairs


@dataclass(frozen=True, slots=True)
class TradeTerms:
    """What the agent will hold an execution to, derived once from the signed intent."""

    sell: Token
    buy: Token
    amount: int
    min_out: int
    slippage_bps: int  # tolerance for AMM thresholds; the signed min_out always binds
    notional_usd: Decimal
    reference_out: int  # at the oracle mid, before any venue cost


def micros(usd: Decimal) -> int:
    """USD to integer micro-dollars (the unit SQL stores), rounded down."""
    return int((usd * 1_000_000).to_integral_value(rounding=ROUND_DOWN))


def notional_usd(amount: int, token: Token, usd_price: Decimal) -> Decimal:
    return Decimal(amount).scaleb(-token.decimals) * usd_price


def reference_out(amount: int, sell: Token, buy: Token, sell_usd: Decimal, buy_usd: Decimal) -> int:
    """What `amount` of `sell` is worth in base units of `buy` at the oracle prices."""
    value = Decimal(amount).scaleb(-sell.decimals) * sell_usd / buy_usd
    return quantize_down(value.scaleb(buy.decimals))


def resolve_tokens(intent: IntentMessage, tokens: TokenRegistry) -> tuple[Token, Token]:
    sell, buy = tokens.by_mint(intent.sell_mint), tokens.by_mint(intent.buy_mint)
    if sell is None or buy is None:
        unknown = intent.sell_mint if sell is None else intent.buy_mint
        raise IntentRejected(Reason.UNKNOWN_MINT, f"mint {unknown} is not configured")
    if sell.mint == buy.mint:
        raise IntentRejected(Reason.SAME_MINT, "sell_mint and buy_mint are the same")
    if intent.amount == 0:
        raise IntentRejected(Reason.ZERO_AMOUNT, "amount is zero")
    return sell, buy


def check_trade(
    intent: IntentMessage,
    policy: WalletPolicy,
    sell: Token,
    buy: Token,
    sell_usd: Decimal,
    buy_usd: Decimal,
    *,
    default_slippage_bps: int,
    max_slippage_bps: int,
) -> TradeTerms:
    """Apply the wallet's policy and fix min_out; raises IntentRejected with the first failure."""
    if not policy.allows_pair(sell.symbol, buy.symbol):
        raise IntentRejected(
            Reason.PAIR_NOT_ALLOWED, f"{sell.symbol}/{buy.symbol} is not allowed for this wallet"
        )
    if not (sell_usd.is_finite() and buy_usd.is_finite() and sell_usd > 0 and buy_usd > 0):
        raise IntentRejected(Reason.NO_PRICE, f"no usable price for {sell.symbol}/{buy.symbol}")
    slippage = intent.max_slippage_bps
    if slippage is None:
        slippage = default_slippage_bps
    if slippage > max_slippage_bps:
        raise IntentRejected(
            Reason.SLIPPAGE_TOO_HIGH,
            f"max_slippage_bps {slippage} exceeds the agent's limit of {max_slippage_bps}",
        )
    notional = notional_usd(intent.amount, sell, sell_usd)
    if notional > policy.max_notional_usd:
        raise IntentRejected(
            Reason.NOTIONAL_LIMIT,
            f"notional ${notional:.2f} exceeds the per-trade limit ${policy.max_notional_usd}",
        )
    fair = reference_out(intent.amount, sell, buy, sell_usd, buy_usd)
    min_out = (
        intent.min_out
        if intent.min_out is not None
        else quantize_down(Decimal(fair) * (BPS - slippage) / BPS)
    )
    return TradeTerms(
        sell=sell,
        buy=buy,
        amount=intent.amount,
        min_out=min_out,
        slippage_bps=slippage,
        notional_usd=notional,
        reference_out=fair,
    )
