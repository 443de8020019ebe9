"""Firm RFQ fills are reported as firm, not as a measured 0; pool fills are measured."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal

from agent.cli.report import build_report, render_table
from agent.config import AgentConfig
from agent.store.models import RouteLegRow, SubmissionRow
from tests.support.agent_home import AgentHome


async def test_firm_fills_carry_no_slippage_and_pool_fills_their_own(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """In dry-run, every filled OTC leg is firm with no slippage in SQL, the result file and
    the metrics; every local DEX leg's slippage is its simulated output against its quote."""
    config = make_config(
        sqlite_url, execution__mode="dry-run", execution__honour_execution_delay="false"
    )
    home = await AgentHome.ready(config, hold_keys=True)
    home.feed(60, invalid_share=0.0, seed=5)
    daemon = home.daemon()
    assert (await daemon.run(once=True)).filled > 20

    legs = [leg for leg in await home.rows(RouteLegRow.__table__) if leg.status == "filled"]
    otc = [leg for leg in legs if leg.venue == "otc"]
    pools = [leg for leg in legs if leg.venue == "localdex"]
    assert otc and pools
    for leg in otc:
        assert leg.firm is True and leg.realised_slippage_bps is None
        assert leg.realised_out is not None and leg.realised_out >= leg.guaranteed_out
    for leg in pools:
        assert leg.firm is False and leg.realised_out is not None
        shortfall = Decimal(leg.expected_out - leg.realised_out) * 10_000 / leg.expected_out
        assert leg.realised_slippage_bps == shortfall.quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN
        )
    documents = [json.loads(s.result) for s in await home.rows(SubmissionRow.__table__)]
    for leg in (leg for doc in documents for leg in doc.get("legs", [])):
        if leg["status"] == "filled":
            assert leg["firm"] is (leg["venue"] == "otc")
            assert (leg["realised_slippage_bps"] is None) is leg["firm"]

    registry = daemon.runtime.metrics.registry
    count = "otc_agent_realised_slippage_bps_count"
    assert registry.get_sample_value(count, {"venue": "otc"}) in (None, 0.0)
    assert registry.get_sample_value(count, {"venue": "localdex"}) == len(pools)

    runtime = home.runtime()
    try:
        report = await runtime.store.read(build_report)
    finally:
        await runtime.aclose()
    assert report["firm_fills"] == {"otc": len(otc)}
    assert "otc" not in report["realised_slippage_bps"]
    (otc_line,) = [
        line for line in render_table(report).splitlines() if line.strip().startswith("otc ")
    ]
    assert otc_line.split()[4:6] == ["firm", "firm"]
