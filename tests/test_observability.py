"""Metrics on a per-test registry, the HTTP endpoints, and logs that never carry key material."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable

import pytest
import structlog
from prometheus_client import CollectorRegistry
from solders.keypair import Keypair

from agent.config import AgentConfig
from agent.http import MetricsServer
from agent.intake import files
from agent.logging import configure_logging, redact_secrets
from agent.metrics import Metrics
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
    files.IntakeLayout(home.root).ensure()
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
