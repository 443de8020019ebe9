"""The five otc-agent dashboards, written against the metric catalogue in docs/metrics-and-dashboards.md "Metrics".

They replace the old web UI's dashboard and analytics pages: its KPI cards are the routing
summary stats, its route doughnuts the venue pies, its slippage-vs-size scatter and 1 % line the
quoted-slippage-by-size panels with a 100 bps threshold, its price ticker badges the coloured
active-source stats. Per-trade rows have no Prometheus equivalent (ids are never labels), so the
recent-trades table becomes totals by venue, pair and status.
"""

from __future__ import annotations

from agent.dashboards.builder import JSON
from agent.dashboards.execution import execution_slippage
from agent.dashboards.pools import otc_pools
from agent.dashboards.prices import price_sources
from agent.dashboards.routing import routing_overview
from agent.dashboards.venues import venues_rate_limits


def build_all() -> dict[str, JSON]:
    """File name -> dashboard JSON object, for every dashboard the project ships."""
    return {
        "routing-overview.json": routing_overview(),
        "execution-slippage.json": execution_slippage(),
        "price-sources.json": price_sources(),
        "venues-rate-limits.json": venues_rate_limits(),
        "otc-pools.json": otc_pools(),
    }
