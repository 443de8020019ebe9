"""Price sources: the active source per token (the old UI's ticker badges), prices and health."""

from __future__ import annotations

from agent.dashboards.builder import (
    JSON,
    Target,
    Unit,
    colour_by_name,
    row,
    steps,
    value_map,
)
from agent.dashboards.common import (
    LOOKUPS,
    SOURCE,
    SOURCE_COLOURS,
    TOKEN,
    UP_DOWN,
    instant,
)
from agent.dashboards.layout import Variable, dashboard
from agent.dashboards.panels import (
    stat,
    state_timeline,
    timeseries,
)
from agent.dashboards.promql import (
    increase,
    rate,
    ratio,
)


def price_sources() -> JSON:
    active = f"otc_agent_price_source_active{{{TOKEN}}} == 1"
    source_colours = [colour_by_name(f".* · {name}", colour) for name, colour in SOURCE_COLOURS]
    active_row = row(
        "Active price source",
        stat(
            "Source · $token",
            instant(active, "{{token}} · {{source}}"),
            h=3,
            background=True,
            text="name",
            colour_mode="fixed",
            overrides=source_colours,
            no_value="no price",
            repeat="token",
            description="Green: CoinGecko; yellow: a fallback live source; red: static prices.",
        ),
    )
    prices = row(
        "Prices",
        stat(
            "Price · $token",
            Target(
                f"otc_agent_price_usd{{{TOKEN}}} and on (token, source) ({active})", "{{token}}"
            ),
            unit=Unit.USD,
            h=5,
            sparkline=True,
            colour_mode="fixed",
            repeat="token",
            description="USD price from the active source.",
        ),
        stat(
            "Change over the range",
            # delta over a subquery, not `offset $__range`: it has a value as soon as the
            # range holds two points (a fresh Prometheus), and a source switch does not break it.
            instant(
                f"delta(max by (token) (otc_agent_price_usd{{{TOKEN}}})[$__range:]) / "
                f"max by (token) (otc_agent_price_usd{{{TOKEN}}})",
                "{{token}}",
            ),
            unit=Unit.RATIO,
            w=12,
            text="value_and_name",
            levels=steps("red", (0, "green")),
        ),
        stat(
            "Stale prices",
            instant(f"otc_agent_price_stale{{{TOKEN}}}", "{{token}}"),
            w=12,
            background=True,
            text="value_and_name",
            mappings=value_map({0: ("fresh", "green"), 1: ("stale", "orange")}),
            description="Stale: served from cache past its TTL.",
        ),
    )
    freshness = row(
        "Freshness and sources",
        timeseries(
            "Price age by token",
            Target(f"otc_agent_price_age_seconds{{{TOKEN}}}", "{{token}}"),
            unit=Unit.SECONDS,
        ),
        state_timeline(
            "Active source over time",
            Target(active, "{{token}} · {{source}}"),
            h=8,
            colour_mode="fixed",
            overrides=source_colours,
        ),
        state_timeline(
            "Price sources up",
            Target(f"otc_agent_price_source_up{{{SOURCE}}}", "{{source}}"),
            h=8,
            mappings=UP_DOWN,
        ),
        timeseries(
            "Source failures by source and reason",
            Target(
                rate("otc_agent_price_source_failures_total", "source, reason", SOURCE),
                "{{source}} · {{reason}}",
            ),
            unit=Unit.PER_SECOND,
            stack=True,
        ),
        timeseries(
            "Price cache hit ratio",
            Target(ratio(rate(LOOKUPS, match='result="hit"'), rate(LOOKUPS)), "hit ratio"),
            unit=Unit.RATIO,
            w=16,
            minimum=0,
            maximum=1,
        ),
        stat(
            "Cache hit ratio over the range",
            instant(ratio(increase(LOOKUPS, match='result="hit"'), increase(LOOKUPS)), "hit ratio"),
            unit=Unit.RATIO,
            w=8,
            h=8,
        ),
    )
    return dashboard(
        uid="otc-agent-prices",
        title="Price sources",
        description="Which source each token's USD price comes from, its age, and source health.",
        rows=[active_row, prices, freshness],
        variables=[
            Variable("token", "Token", "otc_agent_price_usd", "token"),
            Variable("source", "Source", "otc_agent_price_source_up", "source"),
        ],
    )
