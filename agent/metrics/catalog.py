"""Prometheus metrics, registered on a registry the caller owns (one per test).

Names carry the ``otc_agent_`` prefix, base units and ``_total`` on counters. Labels are
bounded: venue names, pool ids and reason codes come from configuration or enums, never
from an intent id, an address or a signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
)
from prometheus_client.core import Metric
from prometheus_client.metrics import MetricWrapperBase

from agent import __version__
from agent.domain.outcomes import Reason, Status
from agent.domain.router import Router
from agent.domain.routing import Candidate
from agent.ledger.plans import Outcome, venue_set
from agent.metrics.collectors import (
    MakerCollector,
    PriceCollector,
    RateLimitCollector,
    maker_families,
    price_families,
    rate_limit_families,
)
from agent.metrics.observations import SIZE_LABELS, leg_figures, pair_label, size_bucket
from agent.net import TokenBucket
from agent.pricing.failover import FailoverOracle
from agent.venues.jupiter.errors import ERROR_KINDS
from onchain.swap_verification import Check

__all__ = ["Metrics", "exported_sample_names"]

NAMESPACE = "otc_agent"
SLIPPAGE_BUCKETS = (-50, -10, -5, 0, 5, 10, 25, 50, 100, 250, 500, 1000)
SHORTFALL_BUCKETS = (-100, -25, -10, 0, 5, 10, 25, 50, 100, 250, 500, 1000)
# The parts of an implementation shortfall, as otc_agent_shortfall_part_bps labels them.
SHORTFALL_PARTS = ("spread_impact", "delay", "slippage", "costs")
IMPACT_BUCKETS = (0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
# What a fill asked of an OTC pool came to: filled, declined on last look, or failed otherwise.
POOL_ATTEMPT_RESULTS = ("filled", "declined", "failed")
# Up to a minute: a decision waits for Jupiter's request budget, a send for its confirmation.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
)  # fmt: skip


class Metrics:
    """Every metric the agent exports, registered on ``registry`` (one per test)."""

    def __init__(
        self, registry: CollectorRegistry, *, oracle: FailoverOracle | None = None
    ) -> None:
        self.registry = registry
        if oracle is not None:
            registry.register(PriceCollector(oracle))
        # --- intake and outcomes ---
        self.intents = Counter(
            "otc_agent_intents_total",
            "Submissions that reached a terminal state, by intake source and outcome.",
            ["source", "outcome"],
            registry=registry,
        )
        self.rejections = Counter(
            "otc_agent_rejections_total",
            "Submissions that did not fill, by reason code.",
            ["reason"],
            registry=registry,
        )
        self.processing_latency = Histogram(
            "otc_agent_intent_processing_seconds",
            "Time from claiming a submission to its terminal state being committed.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.last_terminal = Gauge(
            "otc_agent_last_terminal_timestamp_seconds",
            "When the last submission reached its terminal state (the start time until then).",
            registry=registry,
        )
        self.inbox_pending = Gauge(
            "otc_agent_inbox_pending", "Files waiting in the inbox.", registry=registry
        )
        self.inbox_oldest_age = Gauge(
            "otc_agent_inbox_oldest_age_seconds",
            "Age of the oldest file waiting in the inbox (0 when empty).",
            registry=registry,
        )
        self.intake_up = Gauge(
            "otc_agent_intake_up",
            "1 while an intake can be read (the Redis stream: while Redis answers).",
            ["source"],
            registry=registry,
        )
        self.stream_backlog = Gauge(
            "otc_agent_stream_backlog",
            "Stream entries not yet acknowledged by the group: undelivered plus pending.",
            registry=registry,
        )
        self.stream_oldest_age = Gauge(
            "otc_agent_stream_oldest_age_seconds",
            "Age of the oldest stream entry not yet acknowledged (0 when none).",
            registry=registry,
        )
        # --- routing ---
        self.route_decisions = Counter(
            "otc_agent_route_decisions_total",
            "Routing decisions by the venue set chosen and whether it splits the intent.",
            ["venues", "kind"],
            registry=registry,
        )
        self.decision_latency = Histogram(
            "otc_agent_decision_latency_seconds",
            "Time from claiming a submission to its routing decision.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.splits = Counter(
            "otc_agent_split_routes_total",
            "Filled routes that split the intent across venues, by number of legs.",
            ["legs"],
            registry=registry,
        )
        self.savings = Histogram(
            "otc_agent_savings_bps",
            "Net output of each filled route above a baseline, in bps of the baseline's.",
            ["baseline"],
            buckets=(-10, 0, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000),
            registry=registry,
        )
        self.shortfall = Histogram(
            "otc_agent_shortfall_bps",
            "A filled intent's implementation shortfall against the pair's mid when it was "
            "read, in bps of that arrival value (positive: a cost), by venue set, pair and "
            "trade size (USD notional).",
            ["venues", "pair", "size"],
            buckets=SHORTFALL_BUCKETS,
            registry=registry,
        )
        self.shortfall_parts = Histogram(
            "otc_agent_shortfall_part_bps",
            "The parts of filled intents' shortfall, in bps of the arrival value: spread and "
            "impact, delay, slippage (not observed for firm fills delivered as quoted, nor in "
            "paper mode), costs (not observed in paper mode).",
            ["part"],
            buckets=SHORTFALL_BUCKETS,
            registry=registry,
        )
        self.savings_usd = Counter(
            "otc_agent_savings_usd_total",
            "Raw net output above (direction=gain) or below (direction=loss) the best single "
            "venue that could have filled, valued at the oracle price, in USD, by trade size "
            "(USD notional); the net is gain less loss.",
            ["size", "direction"],
            registry=registry,
        )
        # --- execution ---
        self.legs = Counter(
            "otc_agent_legs_total",
            "Execution legs by venue, pair (sold/bought) and status.",
            ["venue", "pair", "status"],
            registry=registry,
        )
        self.volume_usd = Counter(
            "otc_agent_volume_usd_total",
            "Filled volume (what the legs sold) valued at the oracle price, in USD.",
            ["venue"],
            registry=registry,
        )
        self.quoted_slippage = Histogram(
            "otc_agent_quoted_slippage_bps",
            "Each filled leg's quoted output short of the oracle mid, in bps, by trade size.",
            ["venue", "size"],
            buckets=SLIPPAGE_BUCKETS,
            registry=registry,
        )
        self.price_impact = Histogram(
            "otc_agent_price_impact_bps",
            "Price impact the venue quoted for each filled leg, in bps.",
            ["venue"],
            buckets=IMPACT_BUCKETS,
            registry=registry,
        )
        self.realised_slippage = Histogram(
            "otc_agent_realised_slippage_bps",
            "Realised output short of the quote, in bps (negative: better than quoted).",
            ["venue"],
            buckets=SLIPPAGE_BUCKETS,
            registry=registry,
        )
        self.executions = Counter(
            "otc_agent_transaction_executions_total",
            "Settlement transactions simulated (dry-run) or sent (send), by result.",
            ["mode", "result"],
            registry=registry,
        )
        self.compute_units = Histogram(
            "otc_agent_transaction_compute_units",
            "Compute units the settlement transactions consumed.",
            ["venue"],
            buckets=(5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_400_000),
            registry=registry,
        )
        self.fees = Counter(
            "otc_agent_transaction_fees_lamports_total",
            "Network fees (base and priority) of filled legs' settlements, in lamports.",
            ["venue"],
            registry=registry,
        )
        self.swap_refusals = Counter(
            "otc_agent_swap_refusals_total",
            "API-built swap transactions refused before signing, by the check that failed.",
            ["venue", "check"],
            registry=registry,
        )
        # --- venues ---
        self.venue_up = Gauge(
            "otc_agent_venue_up",
            "1 while a venue may be asked (enabled, breaker not open), else 0.",
            ["venue"],
            registry=registry,
        )
        self.venue_breaker = Gauge(
            "otc_agent_venue_breaker_state",
            "1 for the state each venue's circuit breaker is in (closed, open, half_open).",
            ["venue", "state"],
            registry=registry,
        )
        self.venue_requests = Counter(
            "otc_agent_venue_requests_total",
            "HTTP requests to external venues by endpoint and status class (2xx, 4xx, timeout).",
            ["venue", "endpoint", "status"],
            registry=registry,
        )
        self.venue_request_latency = Histogram(
            "otc_agent_venue_request_seconds",
            "Latency of HTTP requests to external venues, by endpoint and status class.",
            ["venue", "endpoint", "status"],
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.venue_errors = Counter(
            "otc_agent_venue_errors_total",
            "Venue failures by kind (no_route, budget_exhausted, rate_limited, unavailable, ...).",
            ["venue", "kind"],
            registry=registry,
        )
        # --- OTC pools ---
        self.otc_inventory = Gauge(
            "otc_agent_otc_inventory_base_units",
            "OTC pool inventory in base units of each side's token.",
            ["pool", "side"],
            registry=registry,
        )
        self.otc_utilisation = Gauge(
            "otc_agent_otc_pool_utilisation_ratio",
            "Share of an OTC pool's configured inventory paid out (0 at or above it, 1 empty).",
            ["pool", "side"],
            registry=registry,
        )
        self.otc_fill_attempts = Counter(
            "otc_agent_otc_pool_fill_attempts_total",
            "Fills asked of each OTC pool: filled, declined (last look) or failed.",
            ["pool", "result"],
            registry=registry,
        )
        # --- process ---
        self.store_available = Gauge(
            "otc_agent_database_up",
            "1 while the database answers, 0 while the agent waits for it.",
            registry=registry,
        )
        self.store_errors = Counter(
            "otc_agent_database_errors_total",
            "Database operations that failed because the database was unavailable.",
            registry=registry,
        )
        self.build = Info("otc_agent_build", "Version of the running agent.", registry=registry)
        self.build.info({"version": __version__})
        self.store_available.set(1)
        self.last_terminal.set(time.time())

    def start_at_zero(self, *, sources: Sequence[str], pools: Sequence[str], jupiter: bool) -> None:
        """Create the counters whose label values are known up front, at 0: a series that is
        born at its first event hides that event from rate() and from alert rules."""
        for source in sources:
            self.intake_up.labels(source).set(1)
            for outcome in (Status.FILLED, Status.REJECTED, Status.FAILED):
                self.intents.labels(source, outcome.value)
        for reason in Reason:
            self.rejections.labels(reason.value)
        for size in SIZE_LABELS:
            for direction in ("gain", "loss"):
                self.savings_usd.labels(size, direction)
        for pool in pools:
            for result in POOL_ATTEMPT_RESULTS:
                self.otc_fill_attempts.labels(pool, result)
        if jupiter:
            for kind in ERROR_KINDS:
                self.venue_errors.labels("jupiter", kind)
            for check in Check:
                self.swap_refusals.labels("jupiter", check.value)

    # --- sources read at scrape time ---
    def watch_rate_limits(self, buckets: dict[str, TokenBucket]) -> None:
        self.registry.register(RateLimitCollector(buckets))

    def watch_router(self, router: Router, clock: Callable[[], float] = time.time) -> None:
        self.registry.register(MakerCollector(router, clock))

    def watch_process(self) -> None:
        """Memory, CPU and descriptors of this process (Linux /proc), as otc_agent_process_*."""
        ProcessCollector(namespace=NAMESPACE, registry=self.registry)

    # --- what the pipeline reports ---
    def outcome(self, outcome: Outcome, now: float) -> None:
        """Count a terminal (or executing) outcome, its reason and each of its legs."""
        self.intents.labels(outcome.submission.source, outcome.status.value).inc()
        if outcome.reason is not None:
            self.rejections.labels(outcome.reason.value).inc()
        if outcome.status.terminal:
            self.last_terminal.set(now)
        if outcome.shortfall is not None and outcome.terms is not None:
            total = outcome.shortfall["shortfall_bps"]
            assert total is not None
            self.shortfall.labels(
                outcome.decision_venue or "unknown",
                pair_label(outcome.terms),
                size_bucket(outcome.terms.notional_usd),
            ).observe(float(total))
            for part in SHORTFALL_PARTS:
                value = outcome.shortfall[f"{part}_bps"]
                if value is not None:
                    self.shortfall_parts.labels(part).observe(float(value))
        for leg in leg_figures(outcome.terms, outcome.legs):
            self.legs.labels(leg.venue, leg.pair, leg.status).inc()
            if leg.venue == "otc" and leg.pool_result is not None:
                self.otc_fill_attempts.labels(leg.source, leg.pool_result).inc()
            if leg.volume_usd is not None:
                self.volume_usd.labels(leg.venue).inc(float(leg.volume_usd))
            if leg.quoted_slippage_bps is not None:
                self.quoted_slippage.labels(leg.venue, leg.size).observe(
                    float(leg.quoted_slippage_bps)
                )
            if leg.price_impact_bps is not None:
                self.price_impact.labels(leg.venue).observe(float(leg.price_impact_bps))
            if leg.realised_slippage_bps is not None:
                self.realised_slippage.labels(leg.venue).observe(float(leg.realised_slippage_bps))
            if leg.fee_lamports is not None:
                self.fees.labels(leg.venue).inc(leg.fee_lamports)
            if leg.units_consumed is not None:
                self.compute_units.labels(leg.venue).observe(leg.units_consumed)

    def route_decision(self, planned: Sequence[Candidate]) -> None:
        """One decision: its venue set, and split when it has several legs (even on one venue)."""
        kind = "split" if len(planned) > 1 else "single"
        self.route_decisions.labels(venue_set(list(planned)), kind).inc()


def _sample_names(family: Metric) -> set[str]:
    """A scrape-time family's sample names (such families carry no buckets below zero)."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "info": ("_info",),
    }.get(family.type, ("",))
    return {family.name + suffix for suffix in suffixes}


def exported_sample_names() -> frozenset[str]:
    """Every sample name the agent can export, whether or not it has samples yet: what the
    dashboards and alert rules may query.

    The direct metrics get one throw-away child each, so their real sample names show: a
    histogram with buckets below zero (slippage) has no ``_sum``, for one.
    """
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.watch_process()
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        child = metric.labels(*("x" for _ in metric._labelnames)) if metric._labelnames else metric
        if isinstance(child, Histogram):
            child.observe(0)
    names = {sample.name for family in registry.collect() for sample in family.samples}
    for family in (*price_families(), *rate_limit_families(), *maker_families()):
        names |= _sample_names(family)
    return frozenset(names)
