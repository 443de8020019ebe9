"""A local market for the routing benchmark: the configured pools plus a modelled Jupiter.

Everything is priced at the static USD prices of configs/tokens.toml, and every intent sees the
configured starting state (inventories and reserves are not moved by earlier intents), so an
intent's numbers depend on that intent alone.

Venues, per direction of SOL/USDC, SOL/USDT and USDC/USDT:

* **otc**: each ``[[otc]]`` pool of configs/pools.toml through ``quote_otc`` at the static mid
  with its configured inventory. ``min_in``/``max_in`` are ``min_base``/``max_base`` in input
  units (converted at mid when the taker pays quote) and the largest input the paying inventory
  covers. Firm: guaranteed = expected. Fixed cost: 2 signatures (taker and pool authority).
  Haircut: ``last_look_reject_probability x LAST_LOOK_COST_BPS``, the expected cost of being
  declined and refilled elsewhere.
* **localdex**: each ``[[localdex]]`` pool through ``constant_product_out`` on its configured
  reserves. Guaranteed = expected less ``AMM_LEG_SLIPPAGE_BPS``. Fixed cost: 2 signatures.
* **jupiter** (modelled): one deep constant-product curve per pair, see ``JUPITER``: reserves
  worth ``depth_usd`` a side at the static price and ``fee_bps``, roughly what an aggregated
  route costs (``depth_usd`` sets the impact: about ``notional / depth_usd``). Guaranteed =
  expected less ``AMM_LEG_SLIPPAGE_BPS``. Fixed cost: 1 signature.

Optionally (``skew``) each OTC pool's inventory is re-split per intent, keeping its value, to
an imbalance uniform in ``[-skew, skew]``: the state after a run of one-sided flow, where the
skew term discounts trades that rebalance the pool and the spread floor binds.

Intents: a pair direction uniformly among the six; USD notional log-normal (median
``SIZE_MEDIAN_USD``, sigma ``SIZE_SIGMA``: about 10% above $50k, 1% above $1M), clamped to
``[SIZE_MIN_USD, SIZE_MAX_USD]``; slippage uniform in 50..100 bps; ``min_out`` is the static
price less that slippage.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from agent.app.builders import build_localdex_pools, build_otc_pools, build_tokens
from agent.config import load_config
from agent.domain.allocation import Curve
from agent.domain.amm import constant_product_out, slippage_threshold
from agent.domain.costs import LAMPORTS_PER_SIGNATURE, lamports_in_token_units
from agent.domain.otc_pricing import (
    OtcInventory,
    OtcPoolParams,
    OtcRejection,
    RejectReason,
    Side,
    quote_otc,
)
from agent.domain.tokens import MAX_AMOUNT, Token
from agent.venues.localdex import LocalDexPool
from agent.venues.otc import OtcPool

REPO = Path(__file__).resolve().parents[1]

PAIRS = (("SOL", "USDC"), ("SOL", "USDT"), ("USDC", "USDT"))


@dataclass(frozen=True, slots=True)
class JupiterDepth:
    depth_usd: Decimal  # value of each reserve of the equivalent constant-product pool
    fee_bps: int


JUPITER = {
    frozenset(("SOL", "USDC")): JupiterDepth(Decimal(400_000_000), 4),
    frozenset(("SOL", "USDT")): JupiterDepth(Decimal(150_000_000), 6),
    frozenset(("USDC", "USDT")): JupiterDepth(Decimal(1_000_000_000), 1),
}
# What an AMM-type leg (localdex, Jupiter) is held to below its expected output. Tighter than
# any intent's 50-100 bps, as the pipeline tightens an AMM leg's slippage to its min_out share.
AMM_LEG_SLIPPAGE_BPS = 25
# Cost of an OTC last-look decline: the leg is refilled elsewhere at about this much worse.
LAST_LOOK_COST_BPS = Decimal(25)
SIZE_MEDIAN_USD = 5_000
SIZE_SIGMA = 2.2
SIZE_MIN_USD = 100
SIZE_MAX_USD = 2_000_000
SLIPPAGE_BPS = (50, 100)

Outputs = Callable[[int], tuple[int, int] | None]


@dataclass(frozen=True, slots=True)
class Intent:
    sell: str
    buy: str
    amount: int  # sell token base units
    min_out: int  # buy token base units
    slippage_bps: int
    notional_usd: Decimal
    # OTC pool id -> imbalance (V_base - V_quote) / total its inventory is re-split to; empty
    # means the configured inventories.
    otc_imbalance: tuple[tuple[str, Decimal], ...] = ()


class Market:
    def __init__(self, config_path: Path = REPO / "configs" / "local.toml") -> None:
        config = load_config(config_path, environ={})
        registry = build_tokens(config)
        self.tokens: dict[str, Token] = {t.symbol: t for t in registry}
        self._otc = build_otc_pools(config, registry)
        self._localdex = build_localdex_pools(config, registry)
        self._curves: dict[tuple[str, str, tuple[tuple[str, Decimal], ...]], list[Curve]] = {}

    def price(self, symbol: str) -> Decimal:
        return self.tokens[symbol].static_usd

    def usd(self, symbol: str, units: int) -> Decimal:
        token = self.tokens[symbol]
        return Decimal(units).scaleb(-token.decimals) * token.static_usd

    def units(self, symbol: str, usd: Decimal) -> int:
        token = self.tokens[symbol]
        return int((usd / token.static_usd).scaleb(token.decimals))

    def curves(self, intent: Intent) -> list[Curve]:
        """Every venue for the intent's pair and OTC inventories; pure and reusable curves."""
        sell, buy = intent.sell, intent.buy
        key = (sell, buy, intent.otc_imbalance)
        if key not in self._curves:
            skews = dict(intent.otc_imbalance)
            found = [
                self._otc_curve(p, sell, buy, skews.get(p.id))
                for p in self._otc
                if _pair(p, sell, buy)
            ]
            found += [
                self._localdex_curve(p, sell, buy) for p in self._localdex if _pair(p, sell, buy)
            ]
            found.append(self._jupiter_curve(sell, buy))
            self._curves[key] = found
        return self._curves[key]

    def _cost(self, signatures: int, buy: str) -> int:
        token = self.tokens[buy]
        return lamports_in_token_units(
            signatures * LAMPORTS_PER_SIGNATURE, self.price("SOL"), token.static_usd, token.decimals
        )

    def _otc_curve(self, pool: OtcPool, sell: str, buy: str, skew: Decimal | None) -> Curve:
        side = Side.SELL_BASE if sell == pool.base.symbol else Side.BUY_BASE
        mid = pool.base.static_usd / pool.quote.static_usd
        params = pool.params
        inventory = pool.start if skew is None else _resplit(pool, mid, skew)

        def outputs(size: int) -> tuple[int, int] | None:
            try:
                out = quote_otc(params, inventory, mid, side, size).amount_out
            except OtcRejection:
                return None
            return out, out

        if side is Side.SELL_BASE:
            min_in, cap = params.min_base, params.max_base
        else:
            # The pool bounds the base it pays, measured at mid: base = size * den / num.
            num, den = mid.as_integer_ratio()
            num, den = num * 10**params.quote_decimals, den * 10**params.base_decimals
            min_in, cap = -(-params.min_base * num // den), params.max_base * num // den
        return Curve(
            venue="otc",
            source=pool.id,
            min_in=max(1, min_in),
            max_in=_largest_covered(params, inventory, mid, side, min_in, cap),
            outputs=outputs,
            fixed_cost_out=self._cost(2, buy),
            haircut_bps=pool.last_look_reject_probability * LAST_LOOK_COST_BPS,
        )

    def _localdex_curve(self, pool: LocalDexPool, sell: str, buy: str) -> Curve:
        reserves = (pool.start_base, pool.start_quote)
        if sell != pool.base.symbol:
            reserves = reserves[::-1]
        return Curve(
            venue="localdex",
            source=pool.id,
            min_in=1,
            max_in=MAX_AMOUNT,
            outputs=_amm_outputs(*reserves, pool.fee_bps),
            fixed_cost_out=self._cost(2, buy),
        )

    def _jupiter_curve(self, sell: str, buy: str) -> Curve:
        model = JUPITER[frozenset((sell, buy))]
        return Curve(
            venue="jupiter",
            source="model",
            min_in=1,
            max_in=MAX_AMOUNT,
            outputs=_amm_outputs(
                self.units(sell, model.depth_usd), self.units(buy, model.depth_usd), model.fee_bps
            ),
            fixed_cost_out=self._cost(1, buy),
        )

    def intents(self, count: int, seed: int, skew: Decimal = Decimal(0)) -> Iterator[Intent]:
        """``count`` intents; with ``skew`` > 0 each OTC pool's inventory is re-split per intent
        to an imbalance uniform in ``[-skew, skew]`` (as after one-sided flow), drawn from its
        own stream so the intents themselves do not change."""
        rng = random.Random(seed)
        skews = random.Random(seed + 1)
        directions = [*PAIRS, *((b, a) for a, b in PAIRS)]
        for _ in range(count):
            sell, buy = rng.choice(directions)
            draw = rng.lognormvariate(math.log(SIZE_MEDIAN_USD), SIZE_SIGMA)
            # Cents, so the notional is an exact Decimal from here on.
            cents = min(max(round(draw * 100), SIZE_MIN_USD * 100), SIZE_MAX_USD * 100)
            notional = Decimal(cents) / 100
            slippage = rng.randint(*SLIPPAGE_BPS)
            amount = self.units(sell, notional)
            at_static = self.usd(sell, amount) / self.price(buy)
            fair_out = int(at_static.scaleb(self.tokens[buy].decimals))
            imbalance = ()
            if skew:
                imbalance = tuple(
                    (pool.id, skew * Decimal(skews.randint(-1000, 1000)) / 1000)
                    for pool in self._otc
                )
            yield Intent(sell, buy, amount, fair_out * (10_000 - slippage) // 10_000, slippage,
                         notional, imbalance)  # fmt: skip


def _resplit(pool: OtcPool, mid: Decimal, imbalance: Decimal) -> OtcInventory:
    """The pool's configured value, split between its legs to the given imbalance."""
    base, quote = pool.start.base, pool.start.quote
    scale = mid.scaleb(pool.quote.decimals - pool.base.decimals)  # quote units per base unit
    total = base * scale + quote
    base_value = total * (1 + imbalance) / 2
    return OtcInventory(base=int(base_value / scale), quote=int(total - base_value))


def _pair(pool: OtcPool | LocalDexPool, sell: str, buy: str) -> bool:
    return {pool.base.symbol, pool.quote.symbol} == {sell, buy}


def _amm_outputs(reserve_in: int, reserve_out: int, fee_bps: int) -> Outputs:
    def outputs(size: int) -> tuple[int, int] | None:
        out = constant_product_out(reserve_in, reserve_out, size, fee_bps).expected_out
        if out <= 0:
            return None
        return out, slippage_threshold(out, AMM_LEG_SLIPPAGE_BPS)

    return outputs


def _largest_covered(
    params: OtcPoolParams, inventory: OtcInventory, mid: Decimal, side: Side, low: int, high: int
) -> int:
    """The largest input in ``[low, high]`` the paying inventory covers (output grows with
    input), or ``low - 1`` when not even ``low`` is covered."""

    def covered(size: int) -> bool:
        try:
            quote_otc(params, inventory, mid, side, size)
        except OtcRejection as exc:
            return exc.reason is not RejectReason.INSUFFICIENT_INVENTORY
        return True

    if high < low or not covered(low):
        return low - 1
    if covered(high):
        return high
    while high - low > 1:
        mid_size = (low + high) // 2
        if covered(mid_size):
            low = mid_size
        else:
            high = mid_size
    return low
