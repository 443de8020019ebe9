"""Metrics on a per-test registry, the HTTP endpoints, and logs that never carry key material."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
import structlog
from prometheus_client import CollectorRegistry
from solders.keypair import Keypair

from agent.app.daemon import Daemon
from agent.app.health_server import MetricsServer
from agent.app.logs import configure_logging, redact_secrets
from agent.config import AgentConfig
from agent.domain.outcomes import Reason
from agent.domain.router import MakerProfile, Router, RouterSettings
from agent.intake.folder.layout import IntakeLayout
from agent.metrics.catalog import Metrics, exported_sample_names
from agent.net import TokenBucket
from onchain.swap_verification import Check
from tests.conftest import REPO
from tests.support.agent_home import AgentHome


async def _get(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture(name="server")
async def _server():  # type: ignore[no-untyped-def]
    registry = CollectorRegistry()
    Metrics(registry).intents.labels("directory", "filled").inc(3)
    state = {"ready": True}

    async def readiness() -> tuple[bool, str]:
        return state["ready"], "ready" if state["ready"] else "database unavailable"

    server = MetricsServer(registry, host="127.0.0.1", port=0, readiness=readiness)
    await server.start()
    yield server, state
    await server.aclose()


@pytest.mark.parametrize(
    ("request_bytes", "status", "fragment"),
    [
        (
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            200,
            b'otc_agent_intents_total{outcome="filled",source="directory"} 3.0',
        ),
        (b"GET /healthz HTTP/1.1\r\n\r\n", 200, b"ok"),
        (b"GET /readyz HTTP/1.1\r\n\r\n", 200, b"ready"),
        (b"GET /nope HTTP/1.1\r\n\r\n", 404, b"not found"),
        (b"POST /metrics HTTP/1.1\r\n\r\n", 405, b"only GET"),
        (b"garbage\r\n\r\n", 400, b"bad request"),
    ],
    ids=["metrics", "healthz", "readyz", "unknown-path", "post", "garbage"],
)
async def test_http_endpoints_answer_as_documented(
    server, request_bytes: bytes, status: int, fragment: bytes
) -> None:  # type: ignore[no-untyped-def]
    """/metrics, /healthz and /readyz answer; anything else gets a 4xx, never a crash."""
    got_status, body = await _get(server[0].port, request_bytes)
    assert got_status == status
    assert fragment in body


async def test_readyz_reports_503_while_not_ready(server) -> None:  # type: ignore[no-untyped-def]
    """/readyz turns 503 with the reason while the database is away."""
    server[1]["ready"] = False
    status, body = await _get(server[0].port, b"GET /readyz HTTP/1.1\r\n\r\n")
    assert status == 503 and b"database unavailable" in body


async def test_daemon_counts_outcomes_reasons_and_venues(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """After a run the registry holds intents by outcome, rejections by reason and decisions by venue."""
    config = make_config(sqlite_url, execution__honour_execution_delay="false")
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    IntakeLayout(home.root).ensure()
    kinds = home.feed(60, invalid_share=0.3, seed=8)
    daemon = home.daemon()
    stats = await daemon.run(once=True)
    registry = daemon.runtime.metrics.registry
    outcomes = {
        status: registry.get_sample_value(
            "otc_agent_intents_total", {"source": "directory", "outcome": status}
        )
        or 0
        for status in ("filled", "rejected", "failed")
    }
    assert outcomes == {"filled": stats.filled, "rejected": stats.rejected, "failed": stats.failed}
    assert sum(outcomes.values()) == len(kinds)
    # Labelled by the venue set decided: "otc", "localdex", or "localdex+otc" for a split.
    decisions = sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "otc_agent_route_decisions"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    assert decisions >= stats.filled
    malformed = (
        registry.get_sample_value("otc_agent_rejections_total", {"reason": "malformed_json"}) or 0
    )
    assert malformed == list(kinds.values()).count("malformed_json")
    assert registry.get_sample_value("otc_agent_decision_latency_seconds_count") >= stats.filled
    assert (
        registry.get_sample_value("otc_agent_price_usd", {"token": "SOL", "source": "static"})
        == 150
    )
    active = {"token": "USDC", "source": "static"}
    assert registry.get_sample_value("otc_agent_price_source_active", active) == 1
    assert registry.get_sample_value("otc_agent_price_cache_lookups_total", {"result": "hit"}) > 0


def test_secret_looking_keys_are_redacted_before_rendering() -> None:
    """A log call that passes a secret under a telling name renders it as [redacted]."""
    stream = io.StringIO()
    configure_logging(stream=stream, json=True)
    structlog.get_logger("t").info("oops", api_key="k-123", private_key="abc", amount=5)
    event = json.loads(stream.getvalue())
    assert (
        event["api_key"] == "[redacted]"
        and event["private_key"] == "[redacted]"
        and event["amount"] == 5
    )
    assert redact_secrets(None, "info", {"seed_bytes": b"x"})["seed_bytes"] == "[redacted]"


def test_cli_run_logs_never_contain_key_material(config_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A full keygen → wallet → intent → run cycle logs nothing of the secret key in any encoding."""
    from agent.cli import main
    from onchain.keys import load_keypair

    base = [
        "--config",
        str(config_dir / "local.toml"),
        "--home",
        str(tmp_path / "h"),
        "--log-json",
        "--log-level",
        "debug",
    ]
    key_path = tmp_path / "k.json"
    main([*base, "keygen", "--outfile", str(key_path)])
    keypair = load_keypair(key_path)
    main([*base, "wallet", "add", str(keypair.pubkey()), "--keypair", str(key_path)])
    main(
        [
            *base,
            "intent",
            "new",
            "--keypair",
            str(key_path),
            "--sell",
            "SOL",
            "--buy",
            "USDC",
            "--amount",
            "3",
        ]
    )
    main([*base, "run", "--once"])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    secret = bytes(keypair)[:32]
    assert '"status": "filled"' in output or "filled" in output
    for encoding in (
        key_path.read_text().strip(),
        secret.hex(),
        str(list(secret))[1:-1],
        str(keypair),
    ):
        assert encoding not in output


async def test_daemon_run_fills_the_execution_and_pool_metrics(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """Legs by pair, USD volume, quoted slippage by size, pool fill attempts and utilisation agree
    with what the run filled."""
    config = make_config(sqlite_url, execution__honour_execution_delay="false")
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    IntakeLayout(home.root).ensure()
    home.feed(60, invalid_share=0.0, seed=11)
    daemon = home.daemon()
    started = time.time()
    stats = await daemon.run(once=True)
    await daemon.jobs.update_gauges()
    assert stats.filled > 0
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in daemon.runtime.metrics.registry.collect()
        for sample in metric.samples
    }

    def total(name: str, **match: str) -> float:
        return sum(
            value
            for (sample, labels), value in samples.items()
            if sample == name and all(dict(labels).get(k) == v for k, v in match.items())
        )

    filled_legs = total("otc_agent_legs_total", status="filled")
    assert filled_legs >= stats.filled
    pairs = {dict(labels)["pair"] for (name, labels) in samples if name == "otc_agent_legs_total"}
    assert pairs and all("/" in pair for pair in pairs)
    assert total("otc_agent_quoted_slippage_bps_count") == filled_legs
    assert total("otc_agent_price_impact_bps_count") == filled_legs
    assert total("otc_agent_volume_usd_total") > 0
    decisions = total("otc_agent_route_decisions_total")
    splits = total("otc_agent_route_decisions_total", kind="split")
    assert decisions >= stats.filled and splits <= decisions
    otc_filled = total("otc_agent_legs_total", venue="otc", status="filled")
    assert total("otc_agent_otc_pool_fill_attempts_total", result="filled") == otc_filled
    otc_failed = total("otc_agent_legs_total", venue="otc", status="failed") + total(
        "otc_agent_legs_total", venue="otc", status="cancelled"
    )
    unfilled = total("otc_agent_otc_pool_fill_attempts_total") - otc_filled
    assert unfilled == otc_failed
    for pool in daemon.runtime.otc.pools:  # type: ignore[union-attr]
        for side in ("base", "quote"):
            ratio = samples[
                ("otc_agent_otc_pool_utilisation_ratio", (("pool", pool), ("side", side)))
            ]
            assert 0 <= ratio <= 1
        assert (("otc_agent_otc_pool_cool_down_seconds", (("pool", pool),))) in samples
        assert 0 <= samples[("otc_agent_otc_pool_decline_probability", (("pool", pool),))] < 1
    assert total("otc_agent_last_terminal_timestamp_seconds") >= started
    assert total("otc_agent_process_resident_memory_bytes") > 0


def test_rate_limit_collector_reads_the_bucket_at_scrape_time() -> None:
    """The rate-limit gauges follow the bucket: a grant empties it, waits are counted."""
    now = [100.0]
    bucket = TokenBucket(1.0, burst=2, clock=lambda: now[0])
    registry = CollectorRegistry()
    Metrics(registry).watch_rate_limits({"jupiter": bucket})
    venue = {"venue": "jupiter"}
    assert registry.get_sample_value("otc_agent_rate_limit_available_requests", venue) == 2
    bucket.try_acquire()
    bucket.try_acquire()
    assert registry.get_sample_value("otc_agent_rate_limit_available_requests", venue) == 0
    assert registry.get_sample_value("otc_agent_rate_limit_next_slot_seconds", venue) == 1.0
    bucket.waits, bucket.waited_s = 3, 1.5
    assert registry.get_sample_value("otc_agent_rate_limit_waits_total", venue) == 3
    assert registry.get_sample_value("otc_agent_rate_limit_wait_seconds_total", venue) == 1.5


def test_maker_collector_reports_learned_declines_and_cool_down() -> None:
    """A pool that keeps declining shows a higher learned probability and a running cool-down."""
    router = Router(RouterSettings(), {("otc", "p1"): MakerProfile(Decimal("0.02"), 0.025)})
    registry = CollectorRegistry()
    Metrics(registry).watch_router(router, clock=lambda: 1_000.0)
    pool = {"pool": "p1"}
    assert registry.get_sample_value("otc_agent_otc_pool_decline_probability", pool) == 0.02
    assert registry.get_sample_value("otc_agent_otc_pool_cool_down_seconds", pool) == 0
    for _ in range(3):
        router.faded(("otc", "p1"), 1_000.0)
    assert registry.get_sample_value("otc_agent_otc_pool_decline_probability", pool) > 0.1
    assert registry.get_sample_value("otc_agent_otc_pool_cool_down_seconds", pool) > 0


def test_every_catalogued_metric_is_exported() -> None:
    """Every metric in the docs' table is one the agent exports (and the other way round)."""
    readme = (REPO / "docs" / "metrics-and-dashboards.md").read_text()
    section = readme[readme.index("## Metrics") :]
    section = section[: section.index("\n## ", 1)]
    documented = set(re.findall(r"^\| `(otc_agent_[a-z0-9_]+)`", section, re.M))
    exported = exported_sample_names()
    base = {
        name.removesuffix(suffix)
        for name in exported
        for suffix in ("_bucket", "_sum", "_count", "_created", "")
        if name.endswith(suffix) and not name.startswith("otc_agent_process_")
    }
    assert documented - exported - base == set()
    families = {
        name.removesuffix("_bucket")
        for name in exported
        if not name.startswith("otc_agent_process_")
        and not name.endswith(("_sum", "_count", "_created"))
    }
    assert families - documented == set()


async def test_running_daemon_readyz_names_what_is_missing(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """/readyz on a running daemon: 200 with the venues up, 503 naming a missing inbox, and
    /healthz stays 200 throughout."""
    config = make_config(sqlite_url, metrics__listen="127.0.0.1:0")
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    IntakeLayout(home.root).ensure()
    daemon = Daemon(home.runtime())
    running = asyncio.create_task(daemon.run())
    try:
        for _ in range(200):
            if daemon._server is not None and daemon._workers:
                break
            await asyncio.sleep(0.05)
        port = daemon._server.port  # type: ignore[union-attr]
        ready = b"GET /readyz HTTP/1.1\r\n\r\n"
        status, body = await _get(port, ready)
        assert (status, body) == (200, b"ready; venues up: otc, localdex\n")
        inbox = IntakeLayout(home.root).inbox
        inbox.rename(inbox.with_name("inbox-away"))
        status, body = await _get(port, ready)
        assert status == 503 and b"is missing" in body
        assert await _get(port, b"GET /healthz HTTP/1.1\r\n\r\n") == (200, b"ok\n")
        inbox.with_name("inbox-away").rename(inbox)
        assert (await _get(port, ready))[0] == 200
    finally:
        daemon.stop()
        await asyncio.wait_for(running, 30)


def test_known_label_values_start_at_zero() -> None:
    """Counters with known labels exist at 0 from the start, so rate() and alerts see the
    first event; unknown ones do not appear."""
    registry = CollectorRegistry()
    Metrics(registry).start_at_zero(sources=("directory",), pools=("p1",), jupiter=True)
    for reason in Reason:
        assert registry.get_sample_value("otc_agent_rejections_total", {"reason": reason}) == 0
    for check in Check:
        labels = {"venue": "jupiter", "check": check.value}
        assert registry.get_sample_value("otc_agent_swap_refusals_total", labels) == 0
    declined = {"pool": "p1", "result": "declined"}
    assert registry.get_sample_value("otc_agent_otc_pool_fill_attempts_total", declined) == 0
    filled = {"source": "directory", "outcome": "filled"}
    assert registry.get_sample_value("otc_agent_intents_total", filled) == 0
    assert (
        registry.get_sample_value("otc_agent_venue_errors_total", {"venue": "otc", "kind": "x"})
        is None
    )
