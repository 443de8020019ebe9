"""Venues and rate limits: venue state, Jupiter requests, errors and the request budget."""

from __future__ import annotations

from agent.dashboards.builder import (
    JSON,
    Target,
    Unit,
    row,
)
from agent.dashboards.common import (
    REQUESTS,
    UP_DOWN,
    VENUE,
    instant,
    quantiles,
    refusals_panel,
)
from agent.dashboards.layout import Variable, dashboard
from agent.dashboards.panels import (
    stat,
    state_timeline,
    timeseries,
)
from agent.dashboards.promql import (
    rate,
    ratio,
)


def venues_rate_limits() -> JSON:
    up = f"otc_agent_venue_up{{{VENUE}}}"
    waits = "otc_agent_rate_limit_waits_total"
    waited = "otc_agent_rate_limit_wait_seconds_total"
    state = row(
        "Venue state",
        state_timeline("Venue up", Target(up, "{{venue}}"), w=16, mappings=UP_DOWN),
        stat(
            "Venues now",
            instant(up, "{{venue}}"),
            w=8,
            h=6,
            background=True,
            text="value_and_name",
            mappings=UP_DOWN,
        ),
    )
    http = row(
        "Jupiter HTTP",
        timeseries(
            "Requests by endpoint and status",
            Target(rate(REQUESTS, "endpoint, status", VENUE), "{{endpoint}} · {{status}}"),
            unit=Unit.REQUESTS_PER_SECOND,
            stack=True,
        ),
        timeseries(
            "Request latency by endpoint",
            *quantiles(
                "otc_agent_venue_request_seconds", (0.5, 0.95), "endpoint", VENUE, "{{endpoint}}"
            ),
            unit=Unit.SECONDS,
        ),
        timeseries(
            "Errors by kind",
            Target(
                rate("otc_agent_venue_errors_total", "venue, kind", VENUE), "{{venue}} · {{kind}}"
            ),
            unit=Unit.PER_SECOND,
            stack=True,
        ),
        timeseries(
            "Share of requests not 2xx by endpoint",
            Target(
                ratio(
                    rate(REQUESTS, "endpoint", f'status!="2xx", {VENUE}'),
                    rate(REQUESTS, "endpoint", VENUE),
                ),
                "{{endpoint}}",
            ),
            unit=Unit.RATIO,
            minimum=0,
            maximum=1,
        ),
    )
    limits = row(
        "Rate limits",
        timeseries(
            "Requests that waited for the budget",
            Target(rate(waits, "venue", VENUE), "{{venue}}"),
            unit=Unit.PER_SECOND,
            w=8,
        ),
        timeseries(
            "Time spent waiting per second",
            Target(rate(waited, "venue", VENUE), "{{venue}}"),
            unit=Unit.SECONDS,
            w=8,
            description="Seconds of waiting per second of wall time (1 s: always waiting).",
        ),
        timeseries(
            "Mean wait of a waiting request",
            Target(
                f"{rate(waited, 'venue', VENUE)} / ({rate(waits, 'venue', VENUE)} > 0)",
                "{{venue}}",
            ),
            unit=Unit.SECONDS,
            w=8,
        ),
        timeseries(
            "Available requests",
            Target(f"otc_agent_rate_limit_available_requests{{{VENUE}}}", "{{venue}}"),
            w=8,
            minimum=0,
        ),
        timeseries(
            "Seconds until the next request slot",
            Target(f"otc_agent_rate_limit_next_slot_seconds{{{VENUE}}}", "{{venue}}"),
            unit=Unit.SECONDS,
            w=8,
        ),
        refusals_panel(8),
    )
    return dashboard(
        uid="otc-agent-venues",
        title="Venues and rate limits",
        description="Venue availability, Jupiter HTTP traffic, errors and the request budget.",
        rows=[state, http, limits],
        variables=[Variable("venue", "Venue", "otc_agent_venue_up", "venue")],
    )
