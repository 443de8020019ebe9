"""Key files others could read (or own) are refused by every command that loads one, with a
message naming the file and the fix, before a byte of the key is parsed or anything runs."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from solders.keypair import Keypair

from tests.security.conftest import CliRun

# Not JSON: a key file that was parsed would be refused as "is not valid JSON" instead, and
# the marker would show wherever its content leaked.
CANARY = "CANARY-never-parsed-7f3a"
LOOSE_MODES = [0o644, 0o640, 0o604, 0o660, 0o666, 0o755, 0o610, 0o601]


def _intent_new(cli: CliRun, key: Path) -> tuple[int, str, str]:
    return cli("intent", "new", "--keypair", str(key), "--sell", "SOL", "--buy", "USDC",
               "--amount", "1")  # fmt: skip


def _keygen(cli: CliRun, path: Path) -> str:
    """A fresh key file at ``path`` (mode 0600); returns its public key."""
    code, out, _ = cli("keygen", "--outfile", str(path))
    assert code == 0
    return out.split()[-1]


def _assert_refused_for_mode(code: int, err: str, path: Path, mode: int) -> None:
    assert code == 2
    assert str(path) in err and f"has mode {mode:04o}" in err and f"chmod 600 {path}" in err
    assert "not valid JSON" not in err and CANARY not in err


@pytest.mark.parametrize("mode", LOOSE_MODES, ids=lambda m: f"{m:04o}")
def test_intent_new_refuses_a_loose_key_file_unparsed(
    cli: CliRun, tmp_path: Path, mode: int
) -> None:
    """`intent new` refuses a loose key file with exit 2 and the fix, unparsed, writing no intent."""
    key = tmp_path / "loose.json"
    key.write_text(CANARY)
    key.chmod(mode)
    code, out, err = _intent_new(cli, key)
    _assert_refused_for_mode(code, err, key, mode)
    assert out == ""
    inbox = tmp_path / "home" / "intents" / "inbox"
    assert not inbox.exists() or os.listdir(inbox) == []


def test_a_real_key_at_0644_is_refused_without_echoing_it(cli: CliRun, tmp_path: Path) -> None:
    """A genuine keypair file at 0644 is refused, and no form of the key appears in the output."""
    key = tmp_path / "wallet.json"
    _keygen(cli, key)
    secret = key.read_text()
    key.chmod(0o644)
    code, out, err = _intent_new(cli, key)
    assert code == 2 and "has mode 0644" in err
    keypair = Keypair.from_bytes(bytes(json.loads(secret)))
    for form in (secret, secret[1:40], str(keypair), bytes(keypair)[:32].hex()):
        assert form not in out + err


def test_wallet_add_refuses_a_loose_key_file_and_registers_nothing(
    cli: CliRun, tmp_path: Path
) -> None:
    """`wallet add --keypair` with a 0640 key file exits 2 and leaves the registry as it was."""
    key = tmp_path / "wallet.json"
    pubkey = _keygen(cli, key)
    key.chmod(0o640)
    code, _, err = cli("wallet", "add", pubkey, "--keypair", str(key))
    assert code == 2 and "has mode 0640" in err
    code, out, _ = cli("wallet", "list", "--json")
    assert code == 0 and pubkey not in out


def test_run_refuses_to_start_when_a_held_wallet_key_became_loose(
    cli: CliRun, tmp_path: Path
) -> None:
    """`run` stops with exit 2 when a held wallet key became group-readable, claiming nothing."""
    key = tmp_path / "wallet.json"
    pubkey = _keygen(cli, key)
    assert cli("wallet", "add", pubkey, "--keypair", str(key))[0] == 0
    assert _intent_new(cli, key)[0] == 0
    key.chmod(0o640)
    code, _, err = cli("run", "--once")
    assert code == 2 and str(key) in err and "has mode 0640" in err
    inbox = tmp_path / "home" / "intents" / "inbox"
    assert len(os.listdir(inbox)) == 1
    assert not (tmp_path / "home" / "intents" / "done").exists() or not os.listdir(
        tmp_path / "home" / "intents" / "done"
    )


def test_run_refuses_a_loose_pool_authority_key(cli: CliRun, tmp_path: Path) -> None:
    """`run` stops with exit 2 naming a pool authority key that was made world-readable."""
    assert cli("run", "--once")[0] == 0
    pools = tmp_path / "home" / "keys" / "pools"
    created = sorted(pools.iterdir())
    assert created and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in created)
    created[0].chmod(0o644)
    code, _, err = cli("run", "--once")
    assert code == 2 and str(created[0]) in err and "has mode 0644" in err


def test_demo_refuses_a_loose_demo_key(cli: CliRun, tmp_path: Path) -> None:
    """The demo's own wallet key, if found group-readable, stops the demo with exit 2."""
    key = tmp_path / "home" / "keys" / "demo-desk.json"
    _keygen(cli, key)
    key.chmod(0o604)
    code, _, err = cli("demo", "--duration", "1")
    assert code == 2 and str(key) in err and "has mode 0604" in err


def test_a_symlink_to_a_loose_key_file_is_refused(cli: CliRun, tmp_path: Path) -> None:
    """The mode that counts is the file's, not the link's: a link to a 0644 key is refused."""
    key = tmp_path / "wallet.json"
    _keygen(cli, key)
    key.chmod(0o644)
    link = tmp_path / "link.json"
    link.symlink_to(key)
    code, _, err = _intent_new(cli, link)
    assert code == 2 and "has mode 0644" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_key_file_owned_by_another_user_is_refused(cli: CliRun, tmp_path: Path) -> None:
    """A 0600 key file owned by another user is refused, naming both uids, though root could read it."""
    key = tmp_path / "wallet.json"
    _keygen(cli, key)
    os.chown(key, 65534, 65534)
    code, _, err = _intent_new(cli, key)
    assert code == 2 and "owned by uid 65534" in err and f"uid {os.geteuid()}" in err


def test_a_fifo_in_place_of_a_key_file_is_refused_without_hanging(
    cli: CliRun, tmp_path: Path
) -> None:
    """A FIFO in place of a key file is refused as not a regular file at once, not waited on."""
    key = tmp_path / "wallet.json"
    os.mkfifo(key, 0o600)
    outcome: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: outcome.append(_intent_new(cli, key)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():
        # Unblock the reader so the thread ends, then fail.
        fd = os.open(key, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(timeout=10)
        pytest.fail("loading a FIFO as a key file blocked")
    [(code, _, err)] = outcome
    assert code == 2 and "is not a regular file" in err
