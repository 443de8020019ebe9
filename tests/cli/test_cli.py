"""The command line as a user types it: exit codes, files it writes, what it prints."""

from __future__ import annotations

import json
import os
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from agent.cli import main
from agent.pipeline.verification import verify_submission
from tests.conftest import unique_key


@pytest.fixture(name="cli")
def _cli(config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `otc-agent` with the test's config and home; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(
            ["--config", str(config_dir / "local.toml"), "--home", str(tmp_path / "home"), *args]
        )
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(name="wallet_key")
def _wallet_key(cli, tmp_path: Path) -> tuple[Path, str]:  # type: ignore[no-untyped-def]
    path = tmp_path / "keys" / "wallet.json"
    code, out, _ = cli("keygen", "--outfile", str(path))
    assert code == 0
    return path, out.split()[-1]


def test_keygen_writes_an_owner_only_key_file_and_refuses_to_overwrite(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """keygen creates a 64-integer key file with mode 0600 and will not clobber it."""
    path = tmp_path / "k.json"
    assert cli("keygen", "--outfile", str(path))[0] == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(json.loads(path.read_text())) == 64
    code, _, err = cli("keygen", "--outfile", str(path))
    assert code == 2 and str(path) in err


def test_loose_key_file_permissions_are_refused(cli, wallet_key) -> None:  # type: ignore[no-untyped-def]
    """A key file readable by others is refused with a clear error and exit code 2."""
    path, _ = wallet_key
    path.chmod(0o644)
    code, _, err = cli(
        "intent", "new", "--keypair", str(path), "--sell", "SOL", "--buy", "USDC", "--amount", "1"
    )
    assert code == 2
    assert "0644" in err and "chmod 600" in err


def test_wallet_add_then_list_shows_the_policy(cli, wallet_key) -> None:  # type: ignore[no-untyped-def]
    """wallet add persists limits and pairs; wallet list --json returns them."""
    path, pubkey = wallet_key
    assert (
        cli(
            "wallet",
            "add",
            pubkey,
            "--keypair",
            str(path),
            "--max-notional-usd",
            "2500",
            "--pairs",
            "SOL/USDC,sol/usdt",
        )[0]
        == 0
    )
    code, out, _ = cli("wallet", "list", "--json")
    rows = json.loads(out)
    assert code == 0
    assert rows == [
        {
            "pubkey": pubkey,
            "max_notional_usd": "2500",
            "daily_notional_usd": "1000000",
            "pairs": ["SOL/USDC", "SOL/USDT"],
            "keypair": str(path.resolve()),
            "source": "cli",
        }
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["wallet", "add", "not-a-key"], "not a base58 public key"),
        (
            ["wallet", "add", "11111111111111111111111111111111", "--pairs", "SOL/DOGE"],
            "two configured tokens",
        ),
    ],
    ids=["bad-pubkey", "unknown-pair"],
)
def test_wallet_add_rejects_bad_input_with_exit_code_2(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    """Invalid wallet registrations exit 2 and say what is wrong."""
    code, _, err = cli(*args)
    assert code == 2 and message in err


def test_intent_new_verify_show_round_trip(cli, wallet_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """intent new writes a signed file that intent verify accepts and intent show prints."""
    path, pubkey = wallet_key
    out_dir = tmp_path / "drop"
    code, out, _ = cli(
        "intent",
        "new",
        "--keypair",
        str(path),
        "--sell",
        "SOL",
        "--buy",
        "USDC",
        "--amount",
        "2.5",
        "--max-slippage-bps",
        "75",
        "--nonce",
        "42",
        "--out",
        str(out_dir),
    )
    assert code == 0
    written = Path(out.strip())
    assert written.parent == out_dir and written.exists()
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]
    code, out, _ = cli("intent", "verify", str(written))
    assert code == 0 and pubkey in out
    code, out, _ = cli("intent", "show", str(written))
    shown = json.loads(out)
    message = shown["message"]
    assert (message["amount"], message["nonce"], message["max_slippage_bps"]) == (
        "2500000000",
        42,
        75,
    )
    assert shown["readable"] == {"sell": "2.500000000 SOL", "min_out": None}


def test_intent_verify_fails_with_reason_for_a_tampered_file(
    cli, wallet_key, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A file whose message changed after signing fails verification with exit 1 and bad_signature."""
    path, _ = wallet_key
    _, out, _ = cli(
        "intent",
        "new",
        "--keypair",
        str(path),
        "--sell",
        "SOL",
        "--buy",
        "USDC",
        "--amount",
        "1",
        "--out",
        str(tmp_path / "d"),
    )
    written = Path(out.strip())
    envelope = json.loads(written.read_text())
    envelope["message"] = envelope["message"].replace(
        '"amount":"1000000000"', '"amount":"9000000000"'
    )
    written.write_text(json.dumps(envelope))
    code, out, _ = cli("intent", "verify", str(written))
    assert code == 1 and out.startswith("bad_signature")


def test_intent_new_refuses_amounts_finer_than_the_token(cli, wallet_key) -> None:  # type: ignore[no-untyped-def]
    """An amount with more decimals than the token has is a usage error, not a rounded intent."""
    path, _ = wallet_key
    code, _, err = cli(
        "intent",
        "new",
        "--keypair",
        str(path),
        "--sell",
        "USDC",
        "--buy",
        "SOL",
        "--amount",
        "1.0000001",
    )
    assert code == 2 and "decimal places" in err


def test_tokens_json_lists_mints_and_decimals(cli) -> None:  # type: ignore[no-untyped-def]
    """tokens --json gives other programs each token's symbol, mint and decimals for the cluster."""
    code, out, _ = cli("tokens", "--json")
    document = json.loads(out)
    assert code == 0 and document["cluster"] == "local"
    by_symbol = {t["symbol"]: t for t in document["tokens"]}
    assert by_symbol["SOL"] == {
        "symbol": "SOL",
        "mint": "So11111111111111111111111111111111111111112",
        "decimals": 9,
    }
    assert by_symbol["USDC"]["decimals"] == 6


def test_bad_config_exits_2_naming_file_and_key(config_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An invalid value in the config stops the program with exit code 2, naming the file and key."""
    local = config_dir / "local.toml"
    local.write_text(local.read_text().replace('mode = "dry-run"', 'mode = "fast"'))
    assert main(["--config", str(local), "--home", str(tmp_path), "tokens"]) == 2
    err = capsys.readouterr().err
    assert str(local) in err and "execution.mode" in err and "'fast'" in err


def test_environment_override_with_a_bad_value_exits_2(
    config_dir: Path,
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OTC_AGENT__SECTION__KEY overrides are validated like the file."""
    monkeypatch.setenv("OTC_AGENT__EXECUTION__MAX_WORKERS", "0")
    assert (
        main(["--config", str(config_dir / "local.toml"), "--home", str(tmp_path), "tokens"]) == 2
    )
    assert "execution.max_workers" in capsys.readouterr().err


def test_run_once_then_report_json_counts_outcomes(cli, wallet_key) -> None:  # type: ignore[no-untyped-def]
    """run --once processes the inbox; report --json counts intents by status and fills by venue."""
    path, pubkey = wallet_key
    cli("wallet", "add", pubkey)
    for amount in ("1.5", "40", "0"):
        assert (
            cli(
                "intent",
                "new",
                "--keypair",
                str(path),
                "--sell",
                "SOL",
                "--buy",
                "USDC",
                "--amount",
                amount,
            )[0]
            == 0
        )
    os.environ["OTC_AGENT__EXECUTION__HONOUR_EXECUTION_DELAY"] = "false"
    try:
        code, out, _ = cli("run", "--once")
    finally:
        del os.environ["OTC_AGENT__EXECUTION__HONOUR_EXECUTION_DELAY"]
    assert code == 0 and json.loads(out.splitlines()[-1])["processed"] == 3
    code, out, _ = cli("report", "--json")
    report = json.loads(out)
    assert report["intents"]["total"] == 3
    assert report["intents"]["by_status"] == {"filled": 2, "rejected": 1}
    assert report["intents"]["by_reason"] == {"zero_amount": 1}
    routes = report["routes"]
    assert routes["filled"] == 2 and routes["fills"] >= 2
    assert sum(v["count"] for v in routes["by_venue"].values()) == routes["fills"]
    assert report["prices"]["SOL"]["usd"] == "150" and report["prices"]["SOL"]["source"] == "static"
    code, out, _ = cli("report")
    assert code == 0 and "legs for 2 filled intents" in out


def test_intent_result_prints_what_sql_recorded_for_an_intent(cli, wallet_key, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """intent result prints an intent's latest outcome, --all every submission of it (a replay
    included), a claim id finds its own submission, and an unknown key exits 1."""
    path, pubkey = wallet_key
    cli("wallet", "add", pubkey)
    args = ("intent", "new", "--keypair", str(path), "--sell", "SOL", "--buy", "USDC")
    code, out, _ = cli(*args, "--amount", "2")
    assert code == 0
    written = Path(out.strip())
    intent_id = written.stem
    (written.parent / "again.json").write_bytes(written.read_bytes())  # the same intent twice
    monkeypatch.setenv("OTC_AGENT__EXECUTION__HONOUR_EXECUTION_DELAY", "false")
    assert cli("run", "--once")[0] == 0

    code, out, _ = cli("intent", "result", intent_id)
    latest = json.loads(out)
    assert code == 0 and latest["intent_id"] == intent_id
    code, out, _ = cli("intent", "result", intent_id, "--all")
    every = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(every) == 2 and every[-1] == latest
    assert sorted((d["status"], d["reason"]) for d in every) == [
        ("filled", None),
        ("rejected", "replayed_id"),
    ]
    replay = next(d for d in every if d["reason"] == "replayed_id")
    code, out, _ = cli("intent", "result", replay["submission"]["ref"])
    assert code == 0 and json.loads(out) == replay

    code, out, _ = cli("intent", "result", "no-such-intent")
    assert code == 1 and "no-such-intent" in out


@pytest.mark.parametrize(
    ("config_flag", "cli_flag"),
    [("false", False), ("true", False), ("false", True)],
    ids=["neither", "config-only", "flag-only"],
)
def test_mainnet_send_needs_both_switches(
    cli,
    monkeypatch: pytest.MonkeyPatch,
    config_flag: str,  # type: ignore[no-untyped-def]
    cli_flag: bool,
) -> None:
    """send on mainnet-beta is refused unless the config flag and --allow-mainnet-send are both set."""
    monkeypatch.setenv("OTC_AGENT__CLUSTER__NAME", "mainnet-beta")
    monkeypatch.setenv("OTC_AGENT__CLUSTER__URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("OTC_AGENT__EXECUTION__MODE", "send")
    monkeypatch.setenv("OTC_AGENT__EXECUTION__ALLOW_MAINNET_SEND", config_flag)
    code, _, err = cli("run", "--once", *(["--allow-mainnet-send"] if cli_flag else []))
    assert code == 2 and "allow_mainnet_send" in err


def test_db_upgrade_creates_the_schema(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """db upgrade applies the migrations to a new database under the home folder."""
    code, out, _ = cli("db", "upgrade")
    assert code == 0 and "latest schema" in out
    assert (tmp_path / "home" / "otc-agent.db").exists()


def test_send_mode_without_a_configured_wallets_key_is_a_configuration_error(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """send signs for every configured wallet: one without a keypair stops the start with exit 2."""
    local = config_dir / "local.toml"
    local.write_text(
        local.read_text().replace('mode = "dry-run"', 'mode = "send"')
        + '\n[[wallets]]\npubkey = "11111111111111111111111111111112"\n'
    )
    assert main(["--config", str(local), "--home", str(tmp_path / "h"), "run", "--once"]) == 2
    assert "wallets[0].keypair" in capsys.readouterr().err


def test_prices_json_reports_each_token_with_its_source(cli) -> None:  # type: ignore[no-untyped-def]
    """prices --json lists every token's USD price, the source it came from and its age."""
    code, out, _ = cli("prices", "--json")
    document = json.loads(out)
    assert code == 0
    by_token = {row["token"]: row for row in document["prices"]}
    assert set(by_token) == {"SOL", "USDC", "USDT", "RAY"}
    assert (by_token["SOL"]["usd"], by_token["SOL"]["source"]) == ("150", "static")


def test_quote_shows_candidates_and_the_split_allocation(cli) -> None:  # type: ignore[no-untyped-def]
    """`quote --json` lists every venue's answer and the split the router would fill, unexecuted."""
    code, out, _ = cli(
        "quote", "--sell", "SOL", "--buy", "USDC", "--amount", "3000",
        "--max-slippage-bps", "300", "--json",
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["buy"]["min_out"] == "436500" and doc["sell"]["amount"] == "3000"
    assert {(q["venue"], q["verdict"]) for q in doc["quotes"]} >= {("localdex", "below_min_out")}
    allocation = doc["allocation"]
    assert allocation["kind"] == "split" and allocation["venues"] == "localdex+otc"
    assert sum(Decimal(leg["amount_in"]) for leg in allocation["legs"]) == 3000
    assert sum(Decimal(leg["min_out_share"]) for leg in allocation["legs"]) == Decimal("436500")
    code, table, _ = cli("quote", "--sell", "SOL", "--buy", "USDC", "--amount", "3000",
                         "--max-slippage-bps", "300")  # fmt: skip
    assert code == 0 and "allocation: split over localdex+otc" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sell", "DOGE", "--buy", "USDC", "--amount", "1"), "unknown token 'DOGE'"),
        (("--sell", "SOL", "--buy", "USDC", "--amount", "0.0000000001"), "decimal"),
    ],
)
def test_quote_refuses_what_cannot_be_quoted(cli, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    """An unknown token or an amount finer than the token's decimals exits 2 with the reason."""
    code, _, err = cli("quote", *args)
    assert code == 2 and message in err


def test_intent_new_queue_adds_a_verifiable_entry_to_the_stream(cli, wallet_key, redis_url) -> None:  # type: ignore[no-untyped-def]
    """intent new --queue adds one entry whose `intent` field is the signed envelope."""
    import redis

    path, pubkey = wallet_key
    stream = unique_key("cli-intents")
    args = ("intent", "new", "--keypair", str(path), "--sell", "SOL", "--buy", "USDC")
    code, out, _ = cli(*args, "--amount", "3", "--queue", redis_url, "--stream", stream)
    assert code == 0
    printed_stream, entry_id, intent_id = out.split()
    client = redis.Redis.from_url(redis_url)
    try:
        ((got_id, fields),) = client.xrange(stream)
    finally:
        client.delete(stream)
        client.close()
    assert (printed_stream, got_id.decode()) == (stream, entry_id)
    intent, _message, _signature = verify_submission(fields[b"intent"])
    assert (intent.id, intent.wallet) == (intent_id, pubkey)


def test_intent_new_queue_without_a_url_uses_the_configured_redis(
    cli, wallet_key, redis_url, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """intent new --queue with no URL submits to intake.redis.url (here set by the environment)."""
    import redis

    monkeypatch.setenv("OTC_AGENT__INTAKE__REDIS__URL", redis_url)
    path, _ = wallet_key
    stream = unique_key("cli-intents")
    args = ("intent", "new", "--keypair", str(path), "--sell", "SOL", "--buy", "USDC")
    code, out, err = cli(*args, "--amount", "2", "--queue", "--stream", stream)
    assert code == 0, err
    _stream, entry_id, _intent_id = out.split()
    client = redis.Redis.from_url(redis_url)
    try:
        assert [entry for entry, _ in client.xrange(stream)] == [entry_id.encode()]
    finally:
        client.delete(stream)
        client.close()


def test_intent_new_queue_reports_an_unreachable_redis(cli, wallet_key) -> None:  # type: ignore[no-untyped-def]
    """An unreachable Redis is a usage error naming the stream, not a traceback."""
    path, _ = wallet_key
    args = ("intent", "new", "--keypair", str(path), "--sell", "SOL", "--buy", "USDC")
    code, _, err = cli(*args, "--amount", "1", "--queue", "redis://127.0.0.1:1/0")
    assert code == 2 and "otc-agent:intents" in err
