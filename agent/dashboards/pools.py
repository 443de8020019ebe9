"""OTC pools: inventory, utilisation, fills, learned declines and cool-downs."""

from __future__ import annotations

from agent.dashboards.builder import (
    JSON,
    Target,
    Unit,
    row,
    steps,
)
from agent.dashboards.common import (
    ATTEMPTS,
    POOL,
    VOLUME,
    instant,
)
from agent.dashboards.layout import Variable, dashboard
from agent.dashboards.panels import (
    bargauge,
    gauge,
    stat,
    timeseries,
)
from agent.dashboards.promql import (
    INTERVAL,
    increase,
    rate,
    ratio,
)


def otc_pools() -> JSON:
    utilisation = f"otc_agent_otc_pool_utilisation_ratio{{{POOL}}}"
    cool_down = f"otc_agent_otc_pool_cool_down_seconds{{{POOL}}}"
    levels = steps("green", (0.7, "yellow"), (0.9, "red"))
    otc_volume = increase(VOLUME, match='venue="otc"')
    inventory = row(
        "Inventory",
        gauge(
            "Pool utilisation",
            instant(utilisation, "{{pool}} · {{side}}"),
            levels=levels,
            description="Share of the configured inventory paid out (1: empty).",
        ),
        timeseries(
            "Utilisation over time",
            Target(utilisation, "{{pool}} · {{side}}"),
            unit=Unit.RATIO,
            w=8,
            minimum=0,
            maximum=1,
            threshold_line=steps("transparent", (0.7, "yellow"), (0.9, "red")),
        ),
        timeseries(
            "Inventory (base units of each side's token)",
            Target(f"otc_agent_otc_inventory_base_units{{{POOL}}}", "{{pool}} · {{side}}"),
            w=8,
        ),
    )
    filled = f'result="filled", {POOL}'
    fills = row(
        "Fills",
        timeseries(
            "Fill attempts by pool and result",
            Target(rate(ATTEMPTS, "pool, result", POOL), "{{pool}} · {{result}}"),
            unit=Unit.PER_SECOND,
            w=8,
            stack=True,
        ),
        timeseries(
            "Fill rate by pool",
            Target(ratio(rate(ATTEMPTS, "pool", filled), rate(ATTEMPTS, "pool", POOL)), "{{pool}}"),
            unit=Unit.RATIO,
            w=8,
            minimum=0,
            maximum=1,
            description="Filled attempts over all attempts (filled, declined, failed).",
        ),
        bargauge(
            "Fill rate over the range",
            instant(
                ratio(increase(ATTEMPTS, "pool", filled), increase(ATTEMPTS, "pool", POOL)),
                "{{pool}}",
            ),
            unit=Unit.RATIO,
            maximum=1,
            levels=steps("red", (0.5, "yellow"), (0.8, "green")),
        ),
    )
    learned = row(
        "Learned behaviour",
        timeseries(
            "Learned decline probability",
            Target(f"otc_agent_otc_pool_decline_probability{{{POOL}}}", "{{pool}}"),
            unit=Unit.RATIO,
            w=8,
            minimum=0,
            maximum=1,
        ),
        timeseries("Cool-down remaining", Target(cool_down, "{{pool}}"), unit=Unit.SECONDS, w=8),
        bargauge(
            "Cool-down now",
            instant(cool_down, "{{pool}}"),
            unit=Unit.SECONDS,
            levels=steps("green", (0.001, "orange")),
            description="0: the pool is routable.",
        ),
    )
    volume = row(
        "OTC volume",
        timeseries(
            "OTC volume per interval",
            Target(increase(VOLUME, match='venue="otc"', window=INTERVAL), "otc"),
            unit=Unit.USD,
            bars=True,
            interval="1m",
        ),
        stat(
            "OTC volume over the range",
            instant(f"{otc_volume} or vector(0)", "otc volume"),
            unit=Unit.USD,
            w=6,
            h=8,
        ),
        stat(
            "OTC share of volume over the range",
            instant(ratio(otc_volume, increase(VOLUME)), "otc share"),
            unit=Unit.RATIO,
            w=6,
            h=8,
        ),
    )
    return dashboard(
        uid="otc-agent-pools",
        title="OTC pools",
        description="OTC pool inventory, utilisation, fills and what the router learned.",
        rows=[inventory, fills, learned, volume],
        variables=[Variable("pool", "Pool", "otc_agent_otc_inventory_base_units", "pool")],
    )
