"""`otc-agent prices` and `otc-agent tokens`: what the oracle serves, and the configured tokens."""

from __future__ import annotations

import json
import time
from typing import Any

from agent.app.builders import build_tokens
from agent.config import AgentConfig

__all__ = ["prices", "tokens"]


async def prices(config: AgentConfig, *, as_json: bool) -> int:
    """One refresh through the configured sources, then what the oracle would serve."""
    import httpx

    from agent.app.builders import build_oracle

    tokens = build_tokens(config)
    async with httpx.AsyncClient(follow_redirects=False) as http:
        oracle = build_oracle(config, tokens, http)
        await oracle.refresh()
        rows = []
        for token in tokens:
            point = await oracle.price(token)
            change = getattr(point, "change_24h", None)
            rows.append(
                {
                    "token": token.symbol,
                    "usd": str(point.usd),
                    "source": point.source,
                    "change_24h_pct": None if change is None else str(change),
                    "age_s": round(time.time() - point.observed_at, 1),
                    "stale": bool(getattr(point, "stale", False)),
                }
            )
        snapshot = oracle.snapshot()
        await oracle.aclose()
    health = {name: state.status for name, state in snapshot.sources.items()}
    if as_json:
        print(json.dumps({"prices": rows, "sources": health}, indent=2))
        return 0
    print(f"{'token':<6} {'USD':>14} {'24h %':>8}  {'source':<10} {'age s':>8}")
    for row in rows:
        change = row["change_24h_pct"] or "-"
        print(
            f"{row['token']:<6} {row['usd']:>14} {change:>8}  {row['source']:<10} {row['age_s']:>8}"
            f"{'  stale' if row['stale'] else ''}"
        )
    print("sources: " + ", ".join(f"{name} {status}" for name, status in health.items()))
    return 0


def tokens(config: AgentConfig, *, as_json: bool) -> int:
    rows: list[dict[str, Any]] = [
        {"symbol": t.symbol, "mint": t.mint, "decimals": t.decimals} for t in build_tokens(config)
    ]
    if as_json:
        print(json.dumps({"cluster": config.cluster.name, "tokens": rows}, indent=2))
    else:
        print(f"cluster {config.cluster.name}")
        for row in rows:
            print(f"  {row['symbol']:<6} {row['decimals']:>2}  {row['mint']}")
    return 0
