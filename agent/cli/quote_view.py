"""`otc-agent quote`: what the router would do with a trade, without doing it.

Every venue is asked as for a real intent (books loaded from SQL, prices from the oracle);
the answer lists each full-size quote with its network cost and net output, the allocation
the router would fill (one venue or a split, each leg quoted at its size and held to its
share of min_out), and what it saves against the best single venue and against Jupiter.
Nothing is reserved, signed or sent.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from agent.app.assembly import build_runtime
from agent.config import AgentConfig
from agent.domain.outcomes import IntentRejected
from agent.domain.prices import PriceUnavailable
from agent.domain.quotes import QuoteRequest
from agent.domain.routing import Decision, savings_bps
from agent.domain.tokens import Token, to_base_units
from agent.ledger.plans import venue_set
from agent.pipeline.legs import Routing

__all__ = ["QuoteRefused", "quote_trade"]


class QuoteRefused(Exception):
    """The trade cannot be quoted as asked (unknown token, bad amount, no price)."""


def _units(amount: int, token: Token) -> str:
    return format(Decimal(amount).scaleb(-token.decimals).normalize(), "f")


def _bps(value: int, base: int) -> str:
    return str(savings_bps(value, base))


async def quote_trade(
    config: AgentConfig,
    *,
    sell: str,
    buy: str,
    amount: Decimal,
    max_slippage_bps: int | None,
    as_json: bool,
) -> int:
    runtime = build_runtime(config)
    try:
        await runtime.start_books()
        tokens = runtime.tokens
        sell_token = tokens.by_symbol(sell) or tokens.by_mint(sell)
        buy_token = tokens.by_symbol(buy) or tokens.by_mint(buy)
        if sell_token is None or buy_token is None:
            raise QuoteRefused(f"unknown token {sell if sell_token is None else buy!r}")
        try:
            base_amount = to_base_units(amount, sell_token.decimals)
        except ValueError as exc:
            raise QuoteRefused(str(exc)) from None
        slippage = (
            config.intake.default_slippage_bps if max_slippage_bps is None else max_slippage_bps
        )
        # Nothing is recorded or settled: a paper pipeline over the loaded books decides.
        pipeline = runtime.build_pipeline(None)
        try:
            sell_usd = (await runtime.oracle.price(sell_token)).usd
            buy_usd = (await runtime.oracle.price(buy_token)).usd
        except PriceUnavailable as exc:
            raise QuoteRefused(f"no price: {exc}") from None
        reference = Decimal(base_amount).scaleb(-sell_token.decimals) * sell_usd / buy_usd
        reference_out = int(reference.scaleb(buy_token.decimals))
        min_out = reference_out * (10_000 - slippage) // 10_000
        request = QuoteRequest(
            sell_token.mint, buy_token.mint, base_amount, min_out, slippage,
            not_after=pipeline.clock() + config.intake.max_ttl_s,
        )  # fmt: skip
        try:
            decision, routing = await pipeline.decide(
                request, buy_token, reference_out, pipeline.settings.enabled_venues
            )
        except IntentRejected as rejected:
            raise QuoteRefused(str(rejected)) from None
        document = _document(decision, routing, sell_token, buy_token, reference_out)
    finally:
        await runtime.aclose()
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        print(_table(document))
    return 0


def _document(
    decision: Decision, routing: Routing, sell: Token, buy: Token, reference_out: int
) -> dict[str, Any]:
    request = routing.request
    planned = list(decision.planned)
    net = sum(c.net_out for c in planned)
    chosen = decision.chosen
    jupiter = decision.best_of("jupiter")
    shares = routing.shares if len(routing.shares) == len(planned) else [request.min_out]
    return {
        "sell": {"symbol": sell.symbol, "amount": _units(request.amount, sell)},
        "buy": {
            "symbol": buy.symbol,
            "reference_out": _units(reference_out, buy),
            "min_out": _units(request.min_out, buy),
        },
        "quotes": [
            {
                "venue": c.quote.venue,
                "source": c.quote.source,
                "expected_out": _units(c.quote.expected_out, buy),
                "guaranteed_out": _units(c.quote.guaranteed_out, buy),
                "network_cost": _units(c.network_cost_out, buy),
                "net_out": _units(c.net_out, buy),
                "verdict": c.verdict.value,
            }
            for c in decision.candidates
        ],
        "misses": [
            {"venue": m.venue, "source": m.source, "reason": m.reason, "detail": m.detail}
            for m in decision.misses
        ],
        "allocation": None
        if not planned
        else {
            "kind": "split" if len(planned) > 1 else "single",
            "venues": venue_set(planned),
            "considered": routing.allocation.considered if routing.allocation else None,
            "legs": [
                {
                    "venue": c.quote.venue,
                    "source": c.quote.source,
                    "amount_in": _units(c.quote.amount_in, sell),
                    "expected_out": _units(c.quote.expected_out, buy),
                    "guaranteed_out": _units(c.quote.guaranteed_out, buy),
                    "min_out_share": _units(share, buy),
                    "network_cost": _units(c.network_cost_out, buy),
                }
                for c, share in zip(planned, shares, strict=False)
            ],
            "net_out": _units(net, buy),
            "savings_vs_best_single_bps": _bps(net, chosen.net_out) if chosen else None,
            "savings_vs_jupiter_bps": _bps(net, jupiter.net_out) if jupiter else None,
        },
        "reason": decision.reason.value if decision.reason and not planned else None,
    }


def _table(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['sell']['amount']} {doc['sell']['symbol']} -> {doc['buy']['symbol']}: reference "
        f"{doc['buy']['reference_out']}, min_out {doc['buy']['min_out']}",
        "",
        f"{'venue':<10}{'source':<16}{'expected':>18}{'guaranteed':>18}{'cost':>12}"
        f"{'net':>18}  verdict",
    ]
    for q in doc["quotes"]:
        lines.append(
            f"{q['venue']:<10}{q['source']:<16}{q['expected_out']:>18}{q['guaranteed_out']:>18}"
            f"{q['network_cost']:>12}{q['net_out']:>18}  {q['verdict']}"
        )
    for m in doc["misses"]:
        lines.append(
            f"{m['venue']:<10}{m['source']:<16}{'-':>18}{'-':>18}{'':>12}{'':>18}  {m['reason']}"
        )
    allocation = doc["allocation"]
    lines.append("")
    if allocation is None:
        lines.append(f"no allocation meets min_out ({doc['reason']})")
        return "\n".join(lines)
    lines.append(f"allocation: {allocation['kind']} over {allocation['venues']}")
    lines.append(
        f"  {'venue':<10}{'source':<16}{'amount in':>16}{'expected':>18}{'held to':>18}{'cost':>12}"
    )
    for leg in allocation["legs"]:
        lines.append(
            f"  {leg['venue']:<10}{leg['source']:<16}{leg['amount_in']:>16}{leg['expected_out']:>18}"
            f"{leg['min_out_share']:>18}{leg['network_cost']:>12}"
        )
    lines.append(f"net out {allocation['net_out']} {doc['buy']['symbol']}")
    for label, key in (
        ("best single venue", "savings_vs_best_single_bps"),
        ("Jupiter alone", "savings_vs_jupiter_bps"),
    ):
        value = allocation[key]
        lines.append(f"  vs {label:<18} {value + ' bps' if value is not None else '-'}")
    return "\n".join(lines)
