"""Savings recomputed from raw rows: only alternatives that could have filled, gains and losses alike."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal

from agent.cli.report import build_report, render_table
from agent.config import AgentConfig
from agent.store.models import IntentRow, QuoteRow, RouteLegRow, RouteRow, SubmissionRow
from tests.support.agent_home import AgentHome


def _bps(out: int, baseline: int) -> Decimal:
    """(out − baseline) in basis points of the baseline, to the hundredth, half to even."""
    exact = Decimal(out - baseline) * 10_000 / Decimal(baseline)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


async def test_savings_compare_only_with_quotes_that_could_fill_and_keep_their_sign(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """Every route's savings figure is recomputed from its quote rows against the best single
    venue and runner-up that met min_out; the report's and the metric's net USD is the signed
    sum of the routes' figures."""
    config = make_config(
        sqlite_url, execution__mode="paper", execution__honour_execution_delay="false"
    )
    home = await AgentHome.ready(config)
    home.feed(150, invalid_share=0.0, seed=23)
    daemon = home.daemon()
    stats = await daemon.run(once=True)
    assert stats.filled > 50

    quotes: dict[str, list[QuoteRow]] = defaultdict(list)
    for quote in await home.rows(QuoteRow.__table__):
        quotes[quote.intent_id].append(quote)
    routes = await home.rows(RouteRow.__table__)
    statuses = {row.id: row.status for row in await home.rows(IntentRow.__table__)}
    compared = 0
    for route in routes:
        rows = quotes[route.intent_id]
        could_fill = sorted(
            (q for q in rows if q.verdict in ("chosen", "lower_net_output")),
            key=lambda q: -q.net_out,
        )
        best = next((q for q in rows if q.verdict == "chosen"), None)
        assert (best is None) == (not could_fill)
        if best is None:
            assert route.savings_vs_best_single_bps is None
        else:
            assert best.net_out == could_fill[0].net_out
            assert route.savings_vs_best_single_bps == _bps(route.net_out, best.net_out)
            compared += 1
        if route.savings_vs_runner_up_bps is not None:
            # The runner-up met min_out: a quote below it was never an alternative.
            runner_up = could_fill[1]
            assert route.runner_up_net_out == runner_up.net_out
            assert route.savings_vs_runner_up_bps == _bps(route.net_out, runner_up.net_out)
        if route.savings_usd_micros is not None and best is not None:
            gained = route.net_out - best.net_out
            assert (route.savings_usd_micros > 0) == (gained > 0)
            assert (route.savings_usd_micros < 0) == (gained < 0)
    assert compared > 50

    signed = [
        r.savings_usd_micros
        for r in routes
        if r.savings_usd_micros is not None and statuses[r.intent_id] == "filled"
    ]
    registry = daemon.runtime.metrics.registry
    exported = {
        direction: sum(
            registry.get_sample_value(
                "otc_agent_savings_usd_total", {"size": size, "direction": direction}
            )
            or 0.0
            for size in ("0-1k", "1k-10k", "10k-100k", "100k+")
        )
        for direction in ("gain", "loss")
    }
    assert abs(exported["gain"] - sum(u for u in signed if u > 0) / 1e6) < 1e-6
    assert abs(exported["loss"] + sum(u for u in signed if u < 0) / 1e6) < 1e-6

    # The report nets the filled intents' routes, as the metric does: the same list.
    every = signed
    runtime = home.runtime()
    try:
        report = await runtime.store.read(build_report)
    finally:
        await runtime.aclose()
    assert "net " + report["savings_usd"]["net"] in render_table(report)
    cents = Decimal("0.01")
    assert report["savings_usd"] == {
        "net": str((Decimal(sum(every)) / 1_000_000).quantize(cents)),
        "gains": str((Decimal(sum(u for u in every if u > 0)) / 1_000_000).quantize(cents)),
        "losses": str((Decimal(-sum(u for u in every if u < 0)) / 1_000_000).quantize(cents)),
        "routes": len(every),
    }


async def test_each_intent_records_the_pair_mid_at_arrival(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """Every routed intent stores its pair's mid when read, recomputed here from the configured
    static prices and the tokens' decimals, with its sources and age; the result file says so."""
    config = make_config(sqlite_url, execution__mode="paper")
    home = await AgentHome.ready(config)
    home.feed(40, invalid_share=0.0, seed=31)
    await home.daemon().run(once=True)
    assert config.tokens_config is not None
    static = {t.symbol: t for t in config.tokens_config.tokens}
    intents = await home.rows(IntentRow.__table__)
    documents = {
        s.intent_id: json.loads(s.result) for s in await home.rows(SubmissionRow.__table__)
    }
    assert len(intents) > 20
    for intent in intents:
        sell_symbol, buy_symbol = intent.pair.split("/")
        sell, buy = static[sell_symbol], static[buy_symbol]
        exact = (sell.static_usd / buy.static_usd) * Decimal(10) ** (buy.decimals - sell.decimals)
        assert intent.arrival_mid == exact.quantize(Decimal("1e-18"))
        assert intent.arrival_price_source == "static/static"
        assert Decimal(0) <= intent.arrival_price_age_s < Decimal(60)
        arrival = documents[intent.id]["arrival"]
        assert Decimal(arrival["mid"]).quantize(Decimal("1e-18")) == intent.arrival_mid
        assert arrival["source"] == "static/static"
    # Paper mode delivers through the agent's own books and pays no fee: its shortfall has no
    # slippage or costs part to report, only the parts measured against the market.
    paper = [r for r in await home.rows(RouteRow.__table__) if r.shortfall_bps is not None]
    assert paper and all(r.slippage_bps is None and r.costs_bps is None for r in paper)


async def test_shortfall_is_recomputed_from_rows_and_configured_prices(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """In dry-run, each filled intent's shortfall and its parts equal what its rows give: the
    arrival value from the stored mid, the legs' quotes and simulated outputs, and their fees
    at the configured SOL price; firm fills delivered as quoted have no slippage part."""
    config = make_config(
        sqlite_url, execution__mode="dry-run", execution__honour_execution_delay="false"
    )
    home = await AgentHome.ready(config, hold_keys=True)
    home.feed(50, invalid_share=0.0, seed=9)
    daemon = home.daemon()
    assert (await daemon.run(once=True)).filled > 20
    assert config.tokens_config is not None
    static = {t.symbol: t for t in config.tokens_config.tokens}
    intents = {row.id: row for row in await home.rows(IntentRow.__table__)}
    legs: dict[str, list[RouteLegRow]] = defaultdict(list)
    for leg in await home.rows(RouteLegRow.__table__):
        legs[leg.intent_id].append(leg)
    checked = 0
    tolerance = Decimal("1e-9")
    for route in await home.rows(RouteRow.__table__):
        intent = intents[route.intent_id]
        if intent.status != "filled":
            assert route.shortfall_bps is None
            continue
        fills = [leg for leg in legs[route.intent_id] if leg.status == "filled"]
        if any(leg.status == "failed" for leg in legs[route.intent_id]):
            continue  # re-planned: its decided quotes are not in the rows
        value = Decimal(intent.amount) * intent.arrival_mid
        quoted = sum(leg.expected_out for leg in fills)
        delivered = sum(leg.realised_out for leg in fills)
        buy = static[intent.pair.split("/")[1]]
        sol = static["SOL"]
        lamport_mid = (sol.static_usd / buy.static_usd) * Decimal(10) ** (buy.decimals - 9)
        costs = sum(leg.fee_lamports for leg in fills) * lamport_mid
        expected = {
            "spread_impact_bps": (value - quoted) * 10_000 / value,
            "delay_bps": Decimal(0),
            "costs_bps": costs * 10_000 / value,
            "shortfall_bps": (value - delivered + costs) * 10_000 / value,
        }
        for column, figure in expected.items():
            assert abs(getattr(route, column) - figure) < tolerance, (column, route.intent_id)
        if all(leg.firm and leg.realised_out == leg.expected_out for leg in fills):
            assert route.slippage_bps is None
        else:
            slippage = Decimal(quoted - delivered) * 10_000 / value
            assert abs(route.slippage_bps - slippage) < tolerance
        assert abs(route.arrival_out - value) < Decimal("1e-6")
        checked += 1
    assert checked > 20
    # One observation per filled intent with a shortfall, under its venue set.
    routes = await home.rows(RouteRow.__table__)
    measured = [r for r in routes if r.shortfall_bps is not None]
    registry = daemon.runtime.metrics.registry
    observed = sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "otc_agent_shortfall_bps"
        for sample in metric.samples
        if sample.name.endswith("_count")
    )
    assert observed == len(measured) > 20
    by_venues = defaultdict(int)
    for route in measured:
        by_venues[route.venues] += 1
    for venues, count in by_venues.items():
        samples = [
            sample.value
            for metric in registry.collect()
            if metric.name == "otc_agent_shortfall_bps"
            for sample in metric.samples
            if sample.name.endswith("_count") and sample.labels["venues"] == venues
        ]
        assert sum(samples) == count
