"""A real Prometheus scrapes the agent while `otc-agent demo` loads it (with Jupiter on the
loopback fake): the /metrics page passes `promtool check metrics`, and every expression of
every provisioned dashboard returns data through Prometheus' HTTP query API."""

from __future__ import annotations

import asyncio
import math
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.dashboards import build_all, queries, to_promql
from tests.support import prometheus
from tests.support.fake_jupiter import SOL, USDC, FakeJupiter
from tests.support.ports import free_port
from tests.support.processes import spawn_agent
from tests.support.prometheus import PrometheusServer, running_prometheus

# Enough traffic that every rate window holds several scrapes and every venue has filled.
DEMO_RATE = 25
SCRAPES_BEFORE_QUERYING = 12
FILLED_LEGS_BEFORE_QUERYING = 60


@pytest.fixture(name="jupiter")
async def _jupiter() -> AsyncIterator[FakeJupiter]:
    fake = FakeJupiter()
    fake.add_pair(SOL, USDC, 400_000 * 10**9, 60_000_000 * 10**6, fee_bps=1)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.aclose()


def _demo(
    config_dir: Path, home: Path, jupiter: FakeJupiter, port: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        "OTC_AGENT__METRICS__ENABLED": "true",
        "OTC_AGENT__METRICS__LISTEN": f"127.0.0.1:{port}",
        "OTC_AGENT__VENUES__JUPITER__ENABLED": "true",
        "OTC_AGENT__VENUES__JUPITER__BASE_URL": jupiter.base_url,
        "OTC_AGENT__VENUES__JUPITER__RPS": "200",
        # The shipped source list rather than the suite's static-only one: offline the public
        # sources fail fast and the price panels show static, as an operator without network
        # sees.
        "OTC_AGENT__PRICES__SOURCES": '["coingecko", "kraken", "binance", "static"]',
    }
    args = ("demo", "--duration", "0", "--rate", str(DEMO_RATE), "--seed", "7")
    with log.open("wb") as out:
        return spawn_agent(config_dir, home, out, *args, mode="dry-run", extra_env=env)


def _scalar(server: PrometheusServer, expr: str) -> float:
    result = server.query(expr)
    return float(result[0]["value"][1]) if result else 0.0


async def _wait_for_load(
    server: PrometheusServer, demo: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert demo.poll() is None, f"the demo exited:\n{_tail(log)}"
        scrapes = await asyncio.to_thread(
            _scalar, server, 'count_over_time(up{job="otc-agent"}[5m])'
        )
        filled = await asyncio.to_thread(
            _scalar, server, 'sum(otc_agent_legs_total{status="filled"})'
        )
        if scrapes >= SCRAPES_BEFORE_QUERYING and filled >= FILLED_LEGS_BEFORE_QUERYING:
            return
        await asyncio.sleep(1)
    raise AssertionError(f"no load reached Prometheus in time:\n{_tail(log)}")


def _without_fallback(expr: str) -> str:
    """The query as PromQL, less a trailing ``or vector(0)``: that fallback shows 0 instead of
    "no data" in Grafana, and would let an expression without data pass here."""
    promql = to_promql(expr).strip()
    fallback = "or vector(0)"
    return promql[: -len(fallback)].strip() if promql.endswith(fallback) else promql


def _has_data(result: list[dict[str, Any]]) -> bool:
    """At least one sample that is a number (a quantile of nothing is NaN)."""
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


def _tail(log: Path) -> str:
    return log.read_text()[-4000:]


def _metrics_page(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.read()


@pytest.mark.slow
async def test_prometheus_scrapes_the_demo_and_every_dashboard_query_has_data(
    tmp_path: Path, config_dir: Path, jupiter: FakeJupiter
) -> None:
    """Under demo load, /metrics passes promtool's lint and every dashboard query has data."""
    prometheus.binary("promtool")
    port = free_port()
    log = tmp_path / "demo.log"
    with running_prometheus(tmp_path / "prometheus", targets=[f"127.0.0.1:{port}"]) as server:
        demo = _demo(config_dir, tmp_path / "home", jupiter, port, log)
        try:
            await _wait_for_load(server, demo, log)
            page = await asyncio.to_thread(_metrics_page, port)
            lint = await asyncio.to_thread(
                subprocess.run,
                [prometheus.binary("promtool"), "check", "metrics"],
                input=page,
                capture_output=True,
                timeout=60,
            )
            assert lint.returncode == 0, (lint.stdout + lint.stderr).decode()
            empty = []
            evaluated = 0
            for file_name, dashboard in sorted(build_all().items()):
                for panel, expr in queries(dashboard):
                    result = await asyncio.to_thread(server.query, _without_fallback(expr))
                    evaluated += 1
                    if not _has_data(result):
                        empty.append(f"{file_name} / {panel}: {expr}")
            assert evaluated > 50
            assert empty == [], "queries without data:\n" + "\n".join(empty)
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(demo.wait, 60)
            except subprocess.TimeoutExpired:
                demo.kill()
                await asyncio.to_thread(demo.wait)
