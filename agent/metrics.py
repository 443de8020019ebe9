"""Prometheus metrics, registered on a registry the caller owns (one per test).

Names carry the ``otc_agent_`` prefix, base units and ``_total`` on counters. Labels are
bounded: venue names, pool ids and reason codes come from configuration or enums, never
from an intent id, an address or a signature.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent import __version__
from agent.pricing.failover import FailoverOracle

__all__ = ["Metrics"]

SLIPPAGE_BUCKETS = (-50, -10, -5, 0, 5, 10, 25, 50, 100, 250, 500, 1000)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class PriceCollector(Collector):
    """Price-oracle state read at scrape time, so the numbers are never older than the scrape."""

    def __init__(self, oracle: FailoverOracle) -> None:
        self._oracle = oracle

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        snapshot = self._oracle.snapshot()
        price = GaugeMetricFamily(
            "otc_agent_price_usd",
            "Latest USD price per token and the source it came from.",
            labels=["token", "source"],
        )
        active = GaugeMetricFamily(
            "otc_agent_price_source_active",
            "1 for the source each token's price currently comes from, 0 for the others.",
            labels=["token", "source"],
        )
        age = GaugeMetricFamily(
            "otc_agent_price_age_seconds", "Age of each token's cached price.", labels=["token"]
        )
        stale = GaugeMetricFamily(
            "otc_agent_price_stale",
            "1 while a token's price is past its cache TTL.",
            labels=["token"],
        )
        names = [*snapshot.sources, "static"]
        for symbol, state in snapshot.tokens.items():
            if state.source is None or state.usd is None:
                continue
            price.add_metric([symbol, state.source], float(state.usd))
            for name in names:
                active.add_metric([symbol, name], 1.0 if name == state.source else 0.0)
            if state.age_s is not None:
                age.add_metric([symbol], state.age_s)
            stale.add_metric([symbol], 1.0 if state.stale else 0.0)
        failures = CounterMetricFamily(
            "otc_agent_price_source_failures",
            "Price-source failures by reason.",
            labels=["source", "reason"],
        )
        up = GaugeMetricFamily(
            "otc_agent_price_source_up",
            "1 while a price source may be asked (not backing off, open or disabled).",
            labels=["source"],
        )
        for name, source in snapshot.sources.items():
            up.add_metric([name], 1.0 if source.status in ("up", "half_open") else 0.0)
            for reason, count in source.failures.items():
                failures.add_metric([name, reason], count)
        hits = CounterMetricFamily(
            "otc_agent_price_cache_lookups",
            "Price lookups by whether the cache answered.",
            labels=["result"],
        )
        hits.add_metric(["hit"], snapshot.cache_hits)
        hits.add_metric(["miss"], snapshot.cache_misses)
        yield from (price, active, age, stale, failures, up, hits)


class Metrics:
    def __init__(
        self, registry: CollectorRegistry, *, oracle: FailoverOracle | None = None
    ) -> None:
        self.registry = registry
        if oracle is not None:
            registry.register(PriceCollector(oracle))
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
        self.route_decisions = Counter(
            "otc_agent_route_decisions_total",
            "Routing decisions by the venue (or venue set) chosen.",
            ["venue"],
            registry=registry,
        )
        self.decision_latency = Histogram(
            "otc_agent_decision_latency_seconds",
            "Time from claiming a submission to its routing decision.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.processing_latency = Histogram(
            "otc_agent_intent_processing_seconds",
            "Time from claiming a submission to its terminal state being committed.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.legs = Counter(
            "otc_agent_legs_total",
            "Execution legs by venue and status (filled or failed).",
            ["venue", "status"],
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
            buckets=(5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_400_000),
            registry=registry,
        )
        self.otc_inventory = Gauge(
            "otc_agent_otc_inventory_base_units",
            "OTC pool inventory in base units of each side's token.",
            ["pool", "side"],
            registry=registry,
        )
        self.store_errors = Counter(
            "otc_agent_database_errors_total",
            "Database operations that failed because the database was unavailable.",
            registry=registry,
        )
        self.inbox_pending = Gauge(
            "otc_agent_inbox_pending",
            "Files waiting in the inbox.",
            registry=registry,
        )
        self.inbox_oldest_age = Gauge(
            "otc_agent_inbox_oldest_age_seconds",
            "Age of the oldest file waiting in the inbox (0 when empty).",
            registry=registry,
        )
        self.store_available = Gauge(
            "otc_agent_database_up",
            "1 while the database answers, 0 while the agent waits for it.",
            registry=registry,
        )
        self.savings = Histogram(
            "otc_agent_savings_bps",
            "Net output of each filled route above a baseline, in bps of the baseline's.",
            ["baseline"],
            buckets=(-10, 0, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000),
            registry=registry,
        )
        self.savings_usd = Counter(
            "otc_agent_savings_usd_total",
            "Net output above the best single venue, valued at the oracle price, in USD.",
            registry=registry,
        )
        self.splits = Counter(
            "otc_agent_split_routes_total",
            "Filled routes that split the intent across venues, by number of legs.",
            ["legs"],
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
            "Latency of HTTP requests to external venues.",
            ["venue", "endpoint"],
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.venue_errors = Counter(
            "otc_agent_venue_errors_total",
            "Venue failures by kind (no_route, budget_exhausted, rate_limited, unavailable, ...).",
            ["venue", "kind"],
            registry=registry,
        )
        self.venue_up = Gauge(
            "otc_agent_venue_up",
            "1 while a venue may be asked (enabled, breaker not open), else 0.",
            ["venue"],
            registry=registry,
        )
        self.swap_refusals = Counter(
            "otc_agent_swap_refusals_total",
            "API-built swap transactions refused before signing, by the check that failed.",
            ["venue", "check"],
            registry=registry,
        )
        self.build = Info("otc_agent_build", "Version of the running agent.", registry=registry)
        self.build.info({"version": __version__})
        self.store_available.set(1)
