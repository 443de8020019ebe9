"""Routing overview: what the agent decided and what it earned (the old UI's dashboard)."""

from __future__ import annotations

from agent.dashboards.builder import (
    JSON,
    Target,
    Unit,
    right_axis,
    row,
    steps,
    value_map,
)
from agent.dashboards.common import (
    INTENTS,
    LEGS,
    SAVINGS,
    SIZES,
    VENUE,
    VOLUME,
    instant,
    quantiles,
)
from agent.dashboards.layout import Variable, dashboard
from agent.dashboards.panels import (
    bargauge,
    piechart,
    stat,
    timeseries,
)
from agent.dashboards.promql import (
    INTERVAL,
    RANGE,
    increase,
    rate,
    ratio,
)

LOSS = 'direction="loss"'


def net_savings(match: str = "", window: str = RANGE) -> str:
    """Gains less losses against the best single venue that could have filled, in USD."""
    extra = f",{match}" if match else ""
    gains = increase(SAVINGS, match=f'direction="gain"{extra}', window=window)
    losses = increase(SAVINGS, match=f'direction="loss"{extra}', window=window)
    return f"({gains} or vector(0)) - ({losses} or vector(0))"


def routing_overview() -> JSON:
    total = increase(INTENTS)
    filled = increase(INTENTS, match='outcome="filled"')
    volume = increase(VOLUME)
    summary = row(
        "Summary over the selected range",
        stat("Intents processed", instant(f"{total} or vector(0)", "intents")),
        stat("Fills", instant(f"{filled} or vector(0)", "fills")),
        stat("Fill ratio", instant(ratio(filled, total), "fill ratio"), unit=Unit.RATIO),
        stat("Volume", instant(f"{volume} or vector(0)", "volume"), unit=Unit.USD),
        stat(
            "Net savings",
            instant(net_savings(), "net savings"),
            unit=Unit.USD,
            description="Gains less losses against the best single venue that could have filled.",
        ),
        stat(
            "OTC share of volume",
            instant(ratio(increase(VOLUME, match='venue="otc"'), volume), "otc share"),
            unit=Unit.RATIO,
        ),
        stat(
            "Split share of fills",
            instant(ratio(increase("otc_agent_split_routes_total"), filled), "split share"),
            unit=Unit.RATIO,
        ),
        stat(
            "Since last terminal state",
            instant("time() - otc_agent_last_terminal_timestamp_seconds", "since last"),
            unit=Unit.SECONDS,
            description="Seconds since a submission last reached a terminal state.",
        ),
    )
    rejections = "otc_agent_rejections_total"
    intents = row(
        "Intents",
        timeseries(
            "Intents by outcome",
            Target(rate(INTENTS, "outcome"), "{{outcome}}"),
            unit=Unit.PER_SECOND,
            w=8,
            stack=True,
        ),
        timeseries(
            "Rejections by reason",
            Target(rate(rejections, "reason"), "{{reason}}"),
            unit=Unit.PER_SECOND,
            w=8,
            stack=True,
        ),
        bargauge(
            "Rejections by reason over the range",
            instant(f"sort_desc({increase(rejections, 'reason')})", "{{reason}}"),
            levels=steps("orange"),
        ),
    )
    filled_legs = f'status="filled", {VENUE}'
    routes = row(
        "Routes and volume",
        timeseries(
            "Trades (filled legs) by venue",
            Target(rate(LEGS, "venue", filled_legs), "{{venue}}"),
            unit=Unit.PER_SECOND,
            w=8,
            stack=True,
        ),
        timeseries(
            "Volume by venue per interval",
            Target(increase(VOLUME, "venue", VENUE, INTERVAL), "{{venue}}"),
            unit=Unit.USD,
            w=8,
            bars=True,
            stack=True,
            interval="1m",
        ),
        piechart(
            "Volume share by venue",
            instant(increase(VOLUME, "venue", VENUE), "{{venue}}"),
            unit=Unit.USD,
            w=4,
        ),
        piechart(
            "Trades by venue", instant(increase(LEGS, "venue", filled_legs), "{{venue}}"), w=4
        ),
        timeseries(
            "Route decisions by venue set and kind",
            Target(
                rate("otc_agent_route_decisions_total", "venues, kind"), "{{venues}} · {{kind}}"
            ),
            unit=Unit.PER_SECOND,
            stack=True,
        ),
        timeseries(
            "Split routes by number of legs",
            Target(rate("otc_agent_split_routes_total", "legs"), "{{legs}} legs"),
            unit=Unit.PER_SECOND,
            stack=True,
        ),
    )
    savings = row(
        "Savings",
        timeseries(
            "Savings per interval",
            Target(increase(SAVINGS, match='direction="gain"', window=INTERVAL), "gains"),
            Target(f"-{increase(SAVINGS, match=LOSS, window=INTERVAL)}", "losses"),
            Target(net_savings(window=INTERVAL), "net"),
            unit=Unit.USD,
            w=8,
            interval="1m",
            description="Net output above (gains) and below (losses) the best single venue that "
            "could have filled, in USD, and their difference.",
        ),
        bargauge(
            "Net savings by trade size over the range",
            *(instant(net_savings(match=f'size="{size}"'), size) for size in SIZES),
            unit=Unit.USD,
            levels=steps("green"),
            description="Gains less losses; trade size buckets are USD notional.",
        ),
        timeseries(
            "Savings vs each baseline",
            *quantiles("otc_agent_savings_bps", (0.5, 0.95), "baseline", legend="vs {{baseline}}"),
            unit=Unit.BPS,
            w=8,
        ),
    )
    latency = row(
        "Latency and inbox",
        timeseries(
            "Decision latency (claim to routing decision)",
            *quantiles("otc_agent_decision_latency_seconds", (0.5, 0.95, 0.99)),
            unit=Unit.SECONDS,
            w=8,
        ),
        timeseries(
            "Processing latency (claim to terminal state)",
            *quantiles("otc_agent_intent_processing_seconds", (0.5, 0.95, 0.99)),
            unit=Unit.SECONDS,
            w=8,
        ),
        timeseries(
            "Inbox",
            Target("otc_agent_inbox_pending", "pending files"),
            Target("otc_agent_inbox_oldest_age_seconds", "oldest file age"),
            w=8,
            overrides=[right_axis("B", Unit.SECONDS)],
        ),
    )
    # Closed by default: the process is rarely the question, but must be one click away.
    agent = row(
        "Agent process",
        stat(
            "Database",
            instant("otc_agent_database_up", "database"),
            mappings=value_map({0: ("waiting", "red"), 1: ("up", "green")}),
            background=True,
        ),
        stat(
            "Database errors over the range",
            instant(f"{increase('otc_agent_database_errors_total')} or vector(0)", "errors"),
            levels=steps("green", (1, "red")),
        ),
        stat("Version", instant("otc_agent_build_info", "{{version}}"), text="name"),
        stat(
            "Uptime",
            instant("time() - otc_agent_process_start_time_seconds", "uptime"),
            unit=Unit.SECONDS,
        ),
        timeseries(
            "Resident memory",
            Target("otc_agent_process_resident_memory_bytes", "resident"),
            unit=Unit.BYTES,
            w=6,
            h=4,
        ),
        timeseries(
            "CPU (share of one core)",
            Target("rate(otc_agent_process_cpu_seconds_total[$__rate_interval])", "cpu"),
            unit=Unit.RATIO,
            w=6,
            h=4,
        ),
        collapsed=True,
    )
    return dashboard(
        uid="otc-agent-routing",
        title="Routing overview",
        description="Intents, routes, volume and savings of the otc-agent daemon.",
        rows=[summary, intents, routes, savings, latency, agent],
        variables=[Variable("venue", "Venue", LEGS, "venue")],
    )
