"""What happened, from SQL: outcomes, venue shares, savings and slippage, as JSON or a table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from agent.store.models import IntentRow, RouteLegRow, RouteRow, SubmissionRow, TradeRow
from agent.store.snapshots import latest_prices

__all__ = ["build_report", "render_table"]

submissions = SubmissionRow.__table__
trades = TradeRow.__table__
routes = RouteRow.__table__
intent_table = IntentRow.__table__
legs = RouteLegRow.__table__


def _average(values: list[Decimal]) -> str | None:
    if not values:
        return None
    return str((sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.01")))


def _percentile(values: list[Decimal], fraction: float) -> str | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, int(fraction * len(ordered)))
    return str(ordered[index].quantize(Decimal("0.01")))


def build_report(connection: Connection) -> dict[str, Any]:
    by_status = {
        row.status: row.n
        for row in connection.execute(
            select(submissions.c.status, func.count().label("n")).group_by(submissions.c.status)
        )
    }
    by_reason = {
        row.reason: row.n
        for row in connection.execute(
            select(submissions.c.reason, func.count().label("n"))
            .where(submissions.c.reason.is_not(None))
            .group_by(submissions.c.reason)
        )
    }
    venue_rows = list(
        connection.execute(
            select(
                trades.c.venue,
                func.count().label("n"),
                func.sum(trades.c.notional_usd_micros).label("micros"),
            ).group_by(trades.c.venue)
        )
    )
    # Shares are of the volume: a split sends parts of one intent to several venues.
    volume = sum(int(row.micros or 0) for row in venue_rows)
    by_venue = {
        row.venue: {
            "count": row.n,
            "share": str((Decimal(int(row.micros or 0)) / volume).quantize(Decimal("0.0001")))
            if volume
            else "0",
            "volume_usd": str(
                (Decimal(int(row.micros or 0)) / 1_000_000).quantize(Decimal("0.01"))
            ),
        }
        for row in venue_rows
    }
    routes_by_kind = {
        row.kind: row.n
        for row in connection.execute(
            select(routes.c.kind, func.count().label("n")).group_by(routes.c.kind)
        )
    }
    savings = [
        (
            Decimal(r.savings_vs_runner_up_bps) if r.savings_vs_runner_up_bps is not None else None,
            Decimal(r.savings_vs_best_single_bps)
            if r.savings_vs_best_single_bps is not None
            else None,
        )
        for r in connection.execute(
            select(routes.c.savings_vs_runner_up_bps, routes.c.savings_vs_best_single_bps)
        )
    ]
    # Signed, and of filled intents only (as the metric counts it): a route that delivered
    # less than the best single venue that could have filled is a loss, and a route that never
    # filled delivered nothing to compare.
    usd = [
        int(r.savings_usd_micros)
        for r in connection.execute(
            select(routes.c.savings_usd_micros)
            .join(intent_table, intent_table.c.id == routes.c.intent_id)
            .where(routes.c.savings_usd_micros.is_not(None), intent_table.c.status == "filled")
        )
    ]
    slippage: dict[str, list[Decimal]] = {}
    firm_fills: dict[str, int] = {}
    for row in connection.execute(
        select(legs.c.venue, legs.c.realised_slippage_bps, legs.c.firm).where(
            legs.c.status == "filled"
        )
    ):
        if row.firm:
            # Filled at its quote by contract: nothing to measure, and no 0 to average in.
            firm_fills[row.venue] = firm_fills.get(row.venue, 0) + 1
        elif row.realised_slippage_bps is not None:
            slippage.setdefault(row.venue, []).append(Decimal(row.realised_slippage_bps))
    chain: dict[str, dict[str, int]] = {}
    for row in connection.execute(
        select(
            legs.c.venue,
            func.count(legs.c.units_consumed).label("n"),
            func.sum(legs.c.units_consumed).label("units"),
            func.sum(legs.c.fee_lamports).label("fees"),
        )
        .where(legs.c.status == "filled", legs.c.units_consumed.is_not(None))
        .group_by(legs.c.venue)
    ):
        chain[row.venue] = {"n": row.n, "units": int(row.units or 0), "fees": int(row.fees or 0)}
    leg_status = {
        f"{row.venue}:{row.status}": row.n
        for row in connection.execute(
            select(legs.c.venue, legs.c.status, func.count().label("n")).group_by(
                legs.c.venue, legs.c.status
            )
        )
    }
    return {
        "prices": latest_prices(connection),
        "intents": {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "by_reason": by_reason,
        },
        "routes": {
            "filled": by_status.get("filled", 0),
            "split": routes_by_kind.get("split", 0),
            "fills": sum(row.n for row in venue_rows),
            "by_venue": by_venue,
        },
        "legs": leg_status,
        "savings_bps": {
            "vs_runner_up_avg": _average([s for s, _ in savings if s is not None]),
            "vs_best_single_avg": _average([b for _, b in savings if b is not None]),
            "routes": len(savings),
        },
        "savings_usd": {
            "net": _usd(sum(usd)),
            "gains": _usd(sum(u for u in usd if u > 0)),
            "losses": _usd(-sum(u for u in usd if u < 0)),
            "routes": len(usd),
        },
        "realised_slippage_bps": {
            venue: {
                "avg": _average(values),
                "p50": _percentile(values, 0.5),
                "p95": _percentile(values, 0.95),
                "legs": len(values),
            }
            for venue, values in sorted(slippage.items())
        },
        # Fills of firm quotes, by venue: reported as firm, not as a measured 0.
        "firm_fills": dict(sorted(firm_fills.items())),
        "transactions": {
            venue: {
                "count": totals["n"],
                "compute_units_avg": totals["units"] // totals["n"],
                "fee_lamports_avg": totals["fees"] // totals["n"],
            }
            for venue, totals in sorted(chain.items())
            if totals["n"]
        },
    }


def render_table(report: dict[str, Any]) -> str:
    lines = []
    if report["prices"]:
        quoted = ", ".join(
            f"{symbol} ${row['usd']} ({row['source']})"
            for symbol, row in sorted(report["prices"].items())
        )
        lines.append(f"Prices: {quoted}")
    intents = report["intents"]
    lines.append(f"Intents: {intents['total']}")
    for status, count in sorted(intents["by_status"].items()):
        lines.append(f"  {status:<24}{count:>8}")
    if intents["by_reason"]:
        lines.append("Reasons (not filled):")
        for reason, count in sorted(intents["by_reason"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {reason:<24}{count:>8}")
    routes_summary = report["routes"]
    lines.append(
        f"Fills by venue: {routes_summary['fills']} legs for {routes_summary['filled']} filled "
        f"intents ({routes_summary['split']} split)"
    )
    lines.append(
        f"  {'venue':<12}{'fills':>8}{'share':>9}{'volume USD':>18}{'slip avg':>10}{'p95':>8}"
        f"{'CU avg':>9}{'fee':>8}"
    )
    for venue, row in sorted(report["routes"]["by_venue"].items()):
        slip = report["realised_slippage_bps"].get(venue, {})
        tx = report["transactions"].get(venue, {})
        share = f"{Decimal(row['share']) * 100:.1f}%"
        firm = not slip and venue in report["firm_fills"]
        avg, p95 = ("firm", "firm") if firm else (slip.get("avg") or "-", slip.get("p95") or "-")
        lines.append(
            f"  {venue:<12}{row['count']:>8}{share:>9}{row['volume_usd']:>18}"
            f"{avg:>10}{p95:>8}"
            f"{tx.get('compute_units_avg', '-'):>9}{tx.get('fee_lamports_avg', '-'):>8}"
        )
    savings = report["savings_bps"]
    lines.append("Average savings (bps of net output):")
    lines.append(f"  vs the runner-up venue   {savings['vs_runner_up_avg'] or '-':>8}")
    lines.append(f"  vs the best single venue {savings['vs_best_single_avg'] or '-':>8}")
    usd = report["savings_usd"]
    lines.append(
        f"Savings vs the best single venue (USD): net {usd['net']} "
        f"(gains {usd['gains']}, losses {usd['losses']}, {usd['routes']} routes)"
    )
    return "\n".join(lines)


def _usd(micros: int) -> str:
    """Micro-USD as a decimal string of dollars and cents (rounded half even)."""
    return str((Decimal(micros) / 1_000_000).quantize(Decimal("0.01")))
