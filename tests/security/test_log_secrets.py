"""No secret leaves where it belongs. Keys, in any encoding, never leave the key files: the demo
runs as a separate process with debug logging, signing with its wallets and pool authorities,
and its output and every file it wrote outside keys/ are searched for each key. Credentials
(the database and Redis passwords, the Jupiter API key) are never printed or stored."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy.engine import make_url

from agent.app.logs import configure_logging
from agent.config import AgentConfig
from onchain.keys import load_keypair
from tests.security.conftest import CliRun, make_bench
from tests.support.fake_jupiter import FakeJupiter
from tests.support.processes import spawn_agent


def _base58(secret: bytes) -> str:
    """Base58 of 32 or 64 bytes (solders' own encoder, as for addresses and signatures)."""
    return str(Pubkey(secret)) if len(secret) == 32 else str(Signature.from_bytes(secret))


def _secret_forms(keypair: Keypair) -> dict[str, bytes]:
    """Every way the key could be written down: the 64-byte keypair and its 32-byte seed as
    base58, hex and base64, the Solana CLI's JSON array (compact and spaced), and raw bytes."""
    whole, seed = bytes(keypair), bytes(keypair)[:32]
    forms: dict[str, bytes] = {"keypair-raw": whole, "seed-raw": seed}
    for label, secret in (("keypair", whole), ("seed", seed)):
        texts = {
            "base58": _base58(secret),
            "hex": secret.hex(),
            "HEX": secret.hex().upper(),
            "base64": base64.b64encode(secret).decode(),
            "base64url": base64.urlsafe_b64encode(secret).decode().rstrip("="),
            "json": json.dumps(list(secret), separators=(",", ":")),
            "json-spaced": json.dumps(list(secret)),
            "python-bytes": repr(secret),
        }
        forms |= {f"{label}-{kind}": text.encode() for kind, text in texts.items()}
    assert forms["keypair-base58"] == str(keypair).encode()
    return forms


def _written_files(home: Path) -> list[Path]:
    """Every regular file the run left under ``home``, key files excepted."""
    return [
        path
        for path in home.rglob("*")
        if path.is_file() and not path.is_symlink() and "keys" not in path.relative_to(home).parts
    ]


@pytest.mark.parametrize("mode", ["dry-run", "send"])
def test_the_demo_writes_no_key_material_anywhere(
    config_dir: Path, tmp_path: Path, mode: str
) -> None:
    """A debug-level demo run writes no form of any secret key to its output or any file outside keys/."""
    home = tmp_path / "home"
    log_path = tmp_path / "agent.log"
    with log_path.open("wb") as log:
        process = spawn_agent(
            config_dir, home, log, "--log-level", "debug", "demo", "--duration", "4",
            "--rate", "20", "--seed", "3", mode=mode,
        )  # fmt: skip
        try:
            assert process.wait(timeout=120) == 0
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    output = log_path.read_bytes()
    assert b'"level":' in output  # structured log lines
    assert re.search(rb"\n  filled +[1-9]", output)  # the report: intents were signed and filled

    key_files = sorted((home / "keys").rglob("*.json"))
    names = {path.relative_to(home / "keys").as_posix() for path in key_files}
    assert {"demo-desk.json", "demo-treasury.json"} <= names
    assert any(name.startswith("pools/") for name in names)
    keys = {path.name: load_keypair(path) for path in key_files}
    # The search would find a key that was written: each key file holds its own JSON form.
    for path in key_files:
        assert _secret_forms(keys[path.name])["keypair-json"] in path.read_bytes()

    written = _written_files(home)
    assert any(path.name.endswith(".result.json") for path in written)
    assert any(path.suffix == ".db" for path in written)
    haystacks = {"output": output} | {str(path): path.read_bytes() for path in written}
    leaks = [
        (key_name, form, where)
        for key_name, keypair in keys.items()
        for form, needle in _secret_forms(keypair).items()
        for where, haystack in haystacks.items()
        if needle in haystack
    ]
    assert leaks == []


# --- credentials ---------------------------------------------------------------------------------
PASSWORD = "S3cret-pw-9d2f"


def test_a_database_password_is_never_printed(cli: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    """DATABASE_URL's password stays out of the message when the database cannot be reached."""
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://agent:{PASSWORD}@127.0.0.1:1/otc")
    code, out, err = cli("--log-level", "debug", "run", "--once")
    assert code == 3 and "cannot reach the database" in err
    assert PASSWORD not in out + err


def test_a_redis_password_is_never_printed(
    config_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    """A stream URL whose credentials Redis refuses stops the daemon without printing them."""
    url = make_url_with_password(redis_url)
    log_path = tmp_path / "agent.log"
    with log_path.open("wb") as log:
        process = spawn_agent(
            config_dir, tmp_path / "home", log, "--log-level", "debug", "run", "--once",
            mode="paper",
            extra_env={"OTC_AGENT__INTAKE__REDIS__ENABLED": "true",
                       "OTC_AGENT__INTAKE__REDIS__URL": url},
        )  # fmt: skip
        assert process.wait(timeout=60) != 0
    output = log_path.read_text()
    assert "AuthenticationError" in output or "auth" in output.lower()
    assert PASSWORD not in output


def make_url_with_password(redis_url: str) -> str:
    """The test Redis's URL with a user and a password it does not know."""
    scheme, _, rest = redis_url.partition("://")
    return f"{scheme}://nobody:{PASSWORD}@{rest.rpartition('@')[2]}"


async def test_the_jupiter_api_key_is_sent_but_never_logged_or_stored(
    make_config: Callable[..., AgentConfig], sqlite_url: str, tmp_path: Path
) -> None:
    """The Jupiter API key goes out in x-api-key only: not in logs, results or the database."""
    jupiter = FakeJupiter().add_deep_sol_usdc()
    jupiter.plan(*(["401"] * 4))
    await jupiter.start()
    stream = io.StringIO()
    try:
        bench = await make_bench(
            make_config, sqlite_url, venues__jupiter__enabled="true",
            venues__jupiter__base_url=jupiter.base_url, venues__jupiter__rps="1000",
            venues__jupiter__api_key=PASSWORD,
        )  # fmt: skip
        bench.drop_valid(3)
        configure_logging(level="debug", stream=stream, json=True)
        stats = await asyncio.wait_for(bench.run_once(), 60)
    finally:
        await jupiter.aclose()
    assert stats.processed == 3
    assert jupiter.requests and {r.headers.get("x-api-key") for r in jupiter.requests} == {PASSWORD}
    logs = stream.getvalue()
    assert "jupiter_disabled" in logs and PASSWORD not in logs
    written = _written_files(tmp_path)  # the home and the database beside it
    assert any(path.name == "agent.db" for path in written)
    assert [path for path in written if PASSWORD.encode() in path.read_bytes()] == []
    bench.close()


def test_the_demo_never_prints_the_database_password(
    cli: CliRun, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """The demo on PostgreSQL, with a password in DATABASE_URL, runs and never prints it."""
    url = make_url(postgres_url).set(password=PASSWORD).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("OTC_AGENT__EXECUTION__MODE", "paper")
    monkeypatch.setenv("OTC_AGENT__METRICS__ENABLED", "false")
    code, out, err = cli("demo", "--duration", "1", "--rate", "5")
    assert code == 0 and "Intents:" in out
    assert PASSWORD not in out + err
