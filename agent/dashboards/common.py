"""What the dashboards share: label matchers, metric names, colours and target helpers."""

from __future__ import annotations

from agent.dashboards.builder import (
    Panel,
    Target,
    Unit,
    steps,
    value_map,
)
from agent.dashboards.panels import (
    timeseries,
)
from agent.dashboards.promql import (
    percentile_name,
    quantile,
    rate,
)
from agent.metrics.observations import SIZE_LABELS

# Label values fixed by the catalogue; bars are written one target per value so they keep this
# order (Prometheus returns series in no particular order, and "100k+" sorts before "1k-10k").
SIZES = SIZE_LABELS
# The seed UI's badge colours: the primary live source green, fallbacks yellow, static red.
SOURCE_COLOURS = (
    ("coingecko", "green"),
    ("kraken", "yellow"),
    ("binance", "yellow"),
    ("pyth", "yellow"),
    ("jupiter", "yellow"),
    ("static", "red"),
)
UP_DOWN = value_map({0: ("down", "red"), 1: ("up", "green")})
# The seed's "above 1 %" slippage line.
SLIPPAGE_LIMIT = steps("transparent", (100, "red"))
SLIPPAGE_LEVELS = steps("green", (50, "yellow"), (100, "red"))

VENUE = 'venue=~"$venue"'
POOL = 'pool=~"$pool"'
TOKEN = 'token=~"$token"'  # noqa: S105 (a label matcher, not a credential)
SOURCE = 'source=~"$source"'

INTENTS = "otc_agent_intents_total"
LEGS = "otc_agent_legs_total"
VOLUME = "otc_agent_volume_usd_total"
SAVINGS = "otc_agent_savings_usd_total"
REFUSALS = "otc_agent_swap_refusals_total"
EXECUTIONS = "otc_agent_transaction_executions_total"
REQUESTS = "otc_agent_venue_requests_total"
LOOKUPS = "otc_agent_price_cache_lookups_total"
ATTEMPTS = "otc_agent_otc_pool_fill_attempts_total"


def instant(expr: str, legend: str) -> Target:
    """An instant query: the stats and bars that show one number per series."""
    return Target(expr, legend, instant=True)


def quantiles(
    histogram: str, qs: tuple[float, ...], by: str = "", match: str = "", legend: str = ""
) -> tuple[Target, ...]:
    return tuple(
        Target(quantile(q, histogram, by, match), f"{percentile_name(q)} {legend}".strip())
        for q in qs
    )


def refusals_panel(w: int) -> Panel:
    return timeseries(
        "Swap refusals by check",
        Target(rate(REFUSALS, "venue, check", VENUE), "{{venue}} · {{check}}"),
        unit=Unit.PER_SECOND,
        w=w,
        stack=True,
        description="API-built swaps refused before signing, by the verification that failed.",
    )
