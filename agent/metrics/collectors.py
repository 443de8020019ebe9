"""Metrics read from live objects at scrape time, so they are never older than the scrape.

Each collector's families are built by a ``*_families()`` function that needs no source:
``describe()`` returns them empty, and :func:`agent.metrics.catalog.exported_sample_names` lists them
without an oracle, a router or a rate limiter to hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.domain.router import Router
from agent.net import TokenBucket
from agent.pricing.failover import FailoverOracle

__all__ = [
    "MakerCollector",
    "PriceCollector",
    "RateLimitCollector",
    "maker_families",
    "price_families",
    "rate_limit_families",
]

Family = GaugeMetricFamily | CounterMetricFamily


def price_families() -> tuple[Family, ...]:
    return (
        GaugeMetricFamily(
            "otc_agent_price_usd",
            "Latest USD price per token and the source it came from.",
            labels=["token", "source"],
        ),
        GaugeMetricFamily(
            "otc_agent_price_source_active",
            "1 for the source each token's price currently comes from, 0 for the others.",
            labels=["token", "source"],
        ),
        GaugeMetricFamily(
            "otc_agent_price_age_seconds", "Age of each token's cached price.", labels=["token"]
        ),
        GaugeMetricFamily(
            "otc_agent_price_stale",
            "1 while a token's price is past its cache TTL.",
            labels=["token"],
        ),
        CounterMetricFamily(
            "otc_agent_price_source_failures",
            "Price-source failures by reason.",
            labels=["source", "reason"],
        ),
        GaugeMetricFamily(
            "otc_agent_price_source_up",
            "1 while a price source may be asked (not backing off, open or disabled).",
            labels=["source"],
        ),
        CounterMetricFamily(
            "otc_agent_price_cache_lookups",
            "Price lookups by whether the cache answered.",
            labels=["result"],
        ),
        GaugeMetricFamily(
            "otc_agent_price_source_consecutive_failures",
            "Failures of a price source since its last success.",
            labels=["source"],
        ),
        GaugeMetricFamily(
            "otc_agent_price_source_last_success_timestamp_seconds",
            "When a price source last answered (0: not since the agent started).",
            labels=["source"],
        ),
    )


class PriceCollector(Collector):
    """The price oracle's cache and source health."""

    def __init__(self, oracle: FailoverOracle) -> None:
        self._oracle = oracle

    def describe(self) -> Iterable[Metric]:
        return price_families()

    def collect(self) -> Iterable[Metric]:
        snapshot = self._oracle.snapshot()
        price, active, age, stale, failures, up, hits, streak, success = price_families()
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
        for name, source in snapshot.sources.items():
            up.add_metric([name], 1.0 if source.status in ("up", "half_open") else 0.0)
            streak.add_metric([name], source.consecutive_failures)
            success.add_metric([name], source.last_success_at or 0.0)
            for reason, count in source.failures.items():
                failures.add_metric([name, reason], count)
        hits.add_metric(["hit"], snapshot.cache_hits)
        hits.add_metric(["miss"], snapshot.cache_misses)
        return (price, active, age, stale, failures, up, hits, streak, success)


def rate_limit_families() -> tuple[Family, ...]:
    return (
        CounterMetricFamily(
            "otc_agent_rate_limit_waits",
            "Requests that waited for the venue's request budget.",
            labels=["venue"],
        ),
        CounterMetricFamily(
            "otc_agent_rate_limit_wait_seconds",
            "Seconds requests waited for the venue's request budget.",
            labels=["venue"],
        ),
        GaugeMetricFamily(
            "otc_agent_rate_limit_available_requests",
            "Requests the budget would grant back to back right now (0 to the burst).",
            labels=["venue"],
        ),
        GaugeMetricFamily(
            "otc_agent_rate_limit_next_slot_seconds",
            "Seconds until the budget grants the next request (0 when one is free).",
            labels=["venue"],
        ),
    )


class RateLimitCollector(Collector):
    """Each venue's request budget (one process-wide bucket per upstream account)."""

    def __init__(self, buckets: Mapping[str, TokenBucket]) -> None:
        self._buckets = dict(buckets)

    def describe(self) -> Iterable[Metric]:
        return rate_limit_families()

    def collect(self) -> Iterable[Metric]:
        waits, waited, available, next_slot = rate_limit_families()
        for venue, bucket in self._buckets.items():
            waits.add_metric([venue], bucket.waits)
            waited.add_metric([venue], bucket.waited_s)
            available.add_metric([venue], bucket.available())
            next_slot.add_metric([venue], bucket.next_slot_in())
        return (waits, waited, available, next_slot)


def maker_families() -> tuple[Family, ...]:
    return (
        GaugeMetricFamily(
            "otc_agent_otc_pool_decline_probability",
            "The router's learned probability that an OTC pool declines on last look.",
            labels=["pool"],
        ),
        GaugeMetricFamily(
            "otc_agent_otc_pool_cool_down_seconds",
            "Seconds left in an OTC pool's cool-down (0: routable).",
            labels=["pool"],
        ),
    )


class MakerCollector(Collector):
    """What the router has learned about each OTC pool."""

    def __init__(self, router: Router, clock: Callable[[], float] = time.time) -> None:
        self._router = router
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        return maker_families()

    def collect(self) -> Iterable[Metric]:
        probability, cool_down = maker_families()
        for (venue, pool), state in self._router.maker_states(self._clock()).items():
            if venue != "otc":
                continue
            probability.add_metric([pool], float(state.decline_probability))
            cool_down.add_metric([pool], state.cool_down_s)
        return (probability, cool_down)
