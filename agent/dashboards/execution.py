"""Execution and slippage: legs, slippage against size, transactions and their costs."""

from __future__ import annotations

from agent.dashboards.builder import (
    JSON,
    Target,
    Unit,
    row,
    steps,
)
from agent.dashboards.common import (
    EXECUTIONS,
    LEGS,
    SIZES,
    SLIPPAGE_LEVELS,
    SLIPPAGE_LIMIT,
    VENUE,
    instant,
    quantiles,
    refusals_panel,
)
from agent.dashboards.layout import Variable, dashboard
from agent.dashboards.panels import (
    bargauge,
    heatmap,
    table,
    timeseries,
)
from agent.dashboards.promql import (
    INTERVAL,
    RANGE,
    increase,
    quantile,
    rate,
    ratio,
)


def execution_slippage() -> JSON:
    realised = "otc_agent_realised_slippage_bps"
    quoted = "otc_agent_quoted_slippage_bps"
    legs = row(
        "Legs",
        timeseries(
            "Legs by venue and status",
            Target(rate(LEGS, "venue, status", VENUE), "{{venue}} · {{status}}"),
            unit=Unit.PER_SECOND,
            stack=True,
        ),
        table(
            "Legs by venue, pair and status over the range",
            Target(increase(LEGS, "venue, pair, status", VENUE), instant=True, format="table"),
            value_name="legs",
            sort_by="legs",
        ),
    )
    realised_row = row(
        "Realised slippage (output short of the quote; negative: better than quoted)",
        timeseries(
            "Realised slippage by venue",
            *quantiles(realised, (0.5, 0.95, 0.99), "venue", VENUE, "{{venue}}"),
            unit=Unit.BPS,
            threshold_line=SLIPPAGE_LIMIT,
        ),
        heatmap(
            "Realised slippage distribution",
            Target(
                f"sum by (le) (increase({realised}_bucket{{{VENUE}}}[{INTERVAL}]))",
                "{{le}}",
                format="heatmap",
            ),
            unit=Unit.BPS,
            interval="1m",
            description="Filled legs per interval in each slippage bucket.",
        ),
    )
    # le="100" as client_python writes it ("100.0"); the bucket bound is the 1 % line.
    within_limit = increase(quoted + "_bucket", "venue", f'le=~"100|100.0", {VENUE}')
    over_limit = f"1 - {within_limit} / ({increase(quoted + '_count', 'venue', VENUE)} > 0)"
    quoted_row = row(
        "Quoted slippage and trade size",
        bargauge(
            "Quoted slippage by trade size over the range",
            *(
                instant(quantile(q, quoted, match=f'size="{size}", {VENUE}', window=RANGE), label)
                for size in SIZES
                for q, label in ((0.5, f"{size} p50"), (0.95, f"{size} p95"))
            ),
            unit=Unit.BPS,
            w=6,
            minimum=None,
            levels=SLIPPAGE_LEVELS,
            description=(
                "Median and p95 of spread, fee and impact below the oracle mid, by USD notional;"
                " red beyond 1 % (medians, as negative slippage leaves these without a _sum)."
            ),
        ),
        timeseries(
            "Quoted slippage p95 by trade size",
            Target(quantile(0.95, quoted, "size", VENUE), "p95 {{size}}"),
            unit=Unit.BPS,
            w=6,
            threshold_line=SLIPPAGE_LIMIT,
        ),
        bargauge(
            "Median quoted slippage by venue over the range",
            instant(quantile(0.5, quoted, "venue", VENUE, RANGE), "{{venue}}"),
            unit=Unit.BPS,
            w=6,
            minimum=None,
            levels=SLIPPAGE_LEVELS,
        ),
        bargauge(
            "Legs quoted beyond 1 % by venue",
            instant(over_limit, "{{venue}}"),
            unit=Unit.RATIO,
            w=6,
            maximum=1,
            levels=steps("green", (0.05, "yellow"), (0.2, "red")),
            description="Share of filled legs whose quoted slippage exceeded 100 bps.",
        ),
    )
    executions = row(
        "Transactions",
        timeseries(
            "Transaction executions by mode and result",
            Target(rate(EXECUTIONS, "mode, result"), "{{mode}} · {{result}}"),
            unit=Unit.PER_SECOND,
            w=8,
            stack=True,
        ),
        timeseries(
            "Transaction failure ratio by mode",
            Target(
                ratio(rate(EXECUTIONS, "mode", 'result="failed"'), rate(EXECUTIONS, "mode")),
                "{{mode}}",
            ),
            unit=Unit.RATIO,
            w=8,
            minimum=0,
            maximum=1,
            threshold_line=steps("transparent", (0.2, "red")),
            description="dry-run: simulations that failed; send: sent transactions that failed.",
        ),
        timeseries(
            "Price impact p95 by venue",
            Target(quantile(0.95, "otc_agent_price_impact_bps", "venue", VENUE), "p95 {{venue}}"),
            unit=Unit.BPS,
            w=8,
        ),
        timeseries(
            "Compute units by venue",
            *quantiles(
                "otc_agent_transaction_compute_units", (0.5, 0.95), "venue", VENUE, "{{venue}}"
            ),
            w=8,
        ),
        timeseries(
            "Network fees per interval by venue (lamports)",
            Target(
                increase("otc_agent_transaction_fees_lamports_total", "venue", VENUE, INTERVAL),
                "{{venue}}",
            ),
            unit=Unit.LAMPORTS,
            w=8,
            bars=True,
            stack=True,
            interval="1m",
        ),
        refusals_panel(8),
    )
    return dashboard(
        uid="otc-agent-execution",
        title="Execution and slippage",
        description="Execution legs, quoted and realised slippage, transactions and fees.",
        rows=[legs, realised_row, quoted_row, executions],
        variables=[Variable("venue", "Venue", LEGS, "venue")],
    )
