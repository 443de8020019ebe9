"""Sending on mainnet-beta takes two switches, `execution.allow_mainnet_send = true` and
`run --allow-mainnet-send`: with either alone (or neither) nothing starts, and the demo never
sends there at all."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from onchain.keys import generate_keypair_file
from tests.security.conftest import CliRun

REFUSAL = "send mode on mainnet-beta needs execution.allow_mainnet_send = true"


@pytest.fixture(name="mainnet_send")
def _mainnet_send(monkeypatch: pytest.MonkeyPatch, config_dir: Path, tmp_path: Path) -> Path:
    """send mode on mainnet-beta against an RPC nobody answers, with every pool's authority key
    in place (so that only the switches stand between the command and the cluster), and one
    intent waiting in the inbox. Returns the home folder."""
    monkeypatch.setenv("OTC_AGENT__CLUSTER__NAME", "mainnet-beta")
    monkeypatch.setenv("OTC_AGENT__CLUSTER__URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("OTC_AGENT__EXECUTION__MODE", "send")
    monkeypatch.setenv("OTC_AGENT__METRICS__ENABLED", "false")
    home = tmp_path / "home"
    pools = tomllib.loads((config_dir / "pools.toml").read_text())
    for pool in pools["otc"] + pools["localdex"]:
        generate_keypair_file(home / "keys" / "pools" / f"{pool['id']}.json")
    inbox = home / "intents" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "waiting.json").write_text("{}")
    return home


def _untouched(home: Path) -> None:
    """Nothing started: no database, the intent still waiting, no other intake folder."""
    assert not (home / "otc-agent.db").exists()
    assert os.listdir(home / "intents") == ["inbox"]
    assert os.listdir(home / "intents" / "inbox") == ["waiting.json"]


@pytest.mark.parametrize(
    ("config_switch", "flag"),
    [(None, False), ("false", True), ("true", False)],
    ids=["neither", "flag-without-config", "config-without-flag"],
)
def test_send_on_mainnet_is_refused_without_both_switches(
    cli: CliRun,
    mainnet_send: Path,
    monkeypatch: pytest.MonkeyPatch,
    config_switch: str | None,
    flag: bool,
) -> None:
    """`run` in send mode on mainnet-beta exits 2 before anything starts unless both switches are set."""
    if config_switch is not None:
        monkeypatch.setenv("OTC_AGENT__EXECUTION__ALLOW_MAINNET_SEND", config_switch)
    code, _, err = cli("run", "--once", *(["--allow-mainnet-send"] if flag else []))
    assert code == 2 and REFUSAL in err and "--allow-mainnet-send" in err
    _untouched(mainnet_send)


def test_the_config_switch_in_the_file_alone_is_not_enough(
    cli: CliRun, mainnet_send: Path, config_dir: Path
) -> None:
    """The switch written in the configuration file (not the environment) is still only one."""
    local = config_dir / "local.toml"
    local.write_text(
        local.read_text().replace('mode = "dry-run"', 'mode = "dry-run"\nallow_mainnet_send = true')
    )
    code, _, err = cli("run", "--once")
    assert code == 2 and REFUSAL in err
    _untouched(mainnet_send)


def _ran(home: Path) -> None:
    """The daemon started and answered the waiting file (garbage, so no cluster was needed)."""
    assert os.listdir(home / "intents" / "inbox") == []
    [rejected] = [
        n for n in os.listdir(home / "intents" / "rejected") if n.endswith("waiting.json")
    ]
    assert rejected


def test_both_switches_let_the_daemon_start(
    cli: CliRun, mainnet_send: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With both switches `run` starts and processes the inbox: the refusals are the guard's."""
    monkeypatch.setenv("OTC_AGENT__EXECUTION__ALLOW_MAINNET_SEND", "true")
    code, _, err = cli("run", "--once", "--allow-mainnet-send")
    assert REFUSAL not in err and code == 0
    _ran(mainnet_send)


@pytest.mark.parametrize("config_switch", ["false", "true"])
def test_the_demo_never_sends_on_mainnet(
    cli: CliRun, mainnet_send: Path, monkeypatch: pytest.MonkeyPatch, config_switch: str
) -> None:
    """`demo` refuses send mode on mainnet-beta with exit 2 whatever the config says."""
    monkeypatch.setenv("OTC_AGENT__EXECUTION__ALLOW_MAINNET_SEND", config_switch)
    code, _, err = cli("demo", "--duration", "1")
    assert code == 2 and "the demo never sends on mainnet-beta" in err
    _untouched(mainnet_send)
    assert not (mainnet_send / "keys" / "demo-desk.json").exists()


@pytest.mark.parametrize("mode", ["dry-run", "paper"])
def test_the_switches_are_only_needed_to_send(
    cli: CliRun, mainnet_send: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """dry-run and paper on mainnet-beta never send, so they start without either switch."""
    monkeypatch.setenv("OTC_AGENT__EXECUTION__MODE", mode)
    code, _, err = cli("run", "--once")
    assert REFUSAL not in err and code == 0
    _ran(mainnet_send)
