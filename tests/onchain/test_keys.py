"""Keypair files: solana-keygen format, owner-only permissions, no key material in errors."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest import param
from solders.keypair import Keypair

from onchain.keys import KeyFileError, generate_keypair_file, load_keypair, write_keypair

SEED = bytes(range(100, 132))


@pytest.fixture
def keypair() -> Keypair:
    return Keypair.from_seed(SEED)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Run with umask 000 so any mode the code does not set explicitly shows up."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_raw(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _secret_forms(keypair: Keypair) -> list[str]:
    """Renderings of the secret a careless error message might contain."""
    raw = bytes(keypair)
    seed = raw[:32]
    return [
        json.dumps(list(raw)),
        json.dumps(list(raw), separators=(",", ":")),
        str(list(seed)),
        ",".join(str(b) for b in seed[:8]),
        seed.hex(),
        raw.hex(),
        repr(seed),
        str(keypair),
    ]


def _assert_no_secret(error: KeyFileError, keypair: Keypair) -> None:
    text = f"{error} {error!r} {error.problem}"
    for form in _secret_forms(keypair):
        assert form not in text
    # A chained parser error could carry the file text into a logged traceback.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


# --- writing -----------------------------------------------------------------------------


@pytest.mark.usefixtures("loose_umask")
def test_write_sets_mode_0600_regardless_of_umask(tmp_path: Path, keypair: Keypair) -> None:
    """write_keypair leaves a 0600 file even when the umask would allow more."""
    path = tmp_path / "id.json"
    write_keypair(keypair, path)
    assert _mode(path) == 0o600


@pytest.mark.usefixtures("loose_umask")
def test_write_creates_parents_0700(tmp_path: Path, keypair: Keypair) -> None:
    """Missing parent directories are created with mode 0700."""
    path = tmp_path / "a" / "b" / "id.json"
    write_keypair(keypair, path)
    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "b") == 0o700
    assert _mode(path) == 0o600


def test_write_leaves_existing_parent_mode_alone(tmp_path: Path, keypair: Keypair) -> None:
    """An existing parent directory keeps its own mode."""
    tmp_path.chmod(0o755)
    write_keypair(keypair, tmp_path / "id.json")
    assert _mode(tmp_path) == 0o755


def test_write_uses_solana_keygen_format(tmp_path: Path, keypair: Keypair) -> None:
    """The file is a JSON array of the 64 keypair bytes, seed first, as solana-keygen writes."""
    path = tmp_path / "id.json"
    write_keypair(keypair, path)
    values = json.loads(path.read_text())
    assert values == list(SEED) + list(bytes(keypair.pubkey()))


def test_write_then_load_round_trips(tmp_path: Path, keypair: Keypair) -> None:
    """A written keypair loads back as the same keypair."""
    path = tmp_path / "id.json"
    write_keypair(keypair, path)
    loaded = load_keypair(path)
    assert loaded == keypair
    assert loaded.pubkey() == keypair.pubkey()


def test_write_refuses_existing_file(tmp_path: Path, keypair: Keypair) -> None:
    """Without overwrite an existing file is refused and left untouched."""
    path = _write_raw(tmp_path / "id.json", "original")
    with pytest.raises(KeyFileError, match="already exists") as info:
        write_keypair(keypair, path)
    assert path.read_text() == "original"
    assert str(path) in str(info.value)
    _assert_no_secret(info.value, keypair)


def test_write_overwrite_replaces(tmp_path: Path, keypair: Keypair) -> None:
    """With overwrite=True an existing file is replaced and ends up 0600."""
    path = _write_raw(tmp_path / "id.json", "original", 0o644)
    write_keypair(keypair, path, overwrite=True)
    assert load_keypair(path) == keypair
    assert _mode(path) == 0o600


@pytest.mark.parametrize("overwrite", [False, True])
def test_write_leaves_no_temp_files(tmp_path: Path, keypair: Keypair, overwrite: bool) -> None:
    """Only the key file remains in the directory after a write, refused or not."""
    path = tmp_path / "id.json"
    write_keypair(keypair, path)
    if overwrite:
        write_keypair(keypair, path, overwrite=True)
    else:
        with pytest.raises(KeyFileError):
            write_keypair(keypair, path)
    assert [p.name for p in tmp_path.iterdir()] == ["id.json"]


def test_generate_keypair_file(tmp_path: Path) -> None:
    """generate_keypair_file writes a fresh keypair that loads back identically."""
    path = tmp_path / "new.json"
    first = generate_keypair_file(path)
    assert load_keypair(path) == first
    assert _mode(path) == 0o600
    with pytest.raises(KeyFileError, match="already exists"):
        generate_keypair_file(path)
    second = generate_keypair_file(path, overwrite=True)
    assert second != first
    assert load_keypair(path) == second


# --- loading -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o700, 0o400, 0o600])
def test_load_mode_check(tmp_path: Path, keypair: Keypair, mode: int) -> None:
    """Files group or others can access are refused; owner-only modes load."""
    path = tmp_path / "id.json"
    write_keypair(keypair, path)
    path.chmod(mode)
    if mode & 0o077:
        with pytest.raises(KeyFileError) as info:
            load_keypair(path)
        message = str(info.value)
        assert f"has mode {mode:04o}" in message
        assert f"chmod 600 {path}" in message
        assert "readable by its owner only" in message
        _assert_no_secret(info.value, keypair)
    else:
        assert load_keypair(path) == keypair


def test_load_follows_symlink(tmp_path: Path, keypair: Keypair) -> None:
    """A symlink to a private key file is followed and the target's mode is what counts."""
    target = tmp_path / "real.json"
    write_keypair(keypair, target)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert load_keypair(link) == keypair


def test_load_missing_file(tmp_path: Path) -> None:
    """A missing file is reported by path."""
    path = tmp_path / "nope.json"
    with pytest.raises(KeyFileError, match="does not exist") as info:
        load_keypair(path)
    assert info.value.path == path


def test_load_directory(tmp_path: Path) -> None:
    """A directory is not accepted as a key file."""
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_keypair(directory)


def _replace_last(keypair: Keypair, value: object) -> str:
    return json.dumps([*list(bytes(keypair))[:63], value])


@pytest.mark.parametrize(
    ("make_text", "problem"),
    [
        param(lambda kp: "", "is not valid JSON", id="empty"),
        param(lambda kp: "not json at all", "is not valid JSON", id="text"),
        param(lambda kp: json.dumps(list(bytes(kp)))[:-1], "is not valid JSON", id="cut-short"),
        param(lambda kp: "[" * 5_000, "is not valid JSON", id="deep-nesting"),
        param(lambda kp: json.dumps({"k": list(bytes(kp))}), "array of 64 integers", id="object"),
        param(lambda kp: json.dumps(list(bytes(kp))[:63]), "array of 64 integers", id="63-values"),
        param(lambda kp: _replace_last(kp, 0), "does not match", id="pubkey-last-zeroed"),
        param(lambda kp: json.dumps([*bytes(kp), 0]), "array of 64 integers", id="65-values"),
        param(lambda kp: json.dumps(list(bytes(kp)[:32])), "array of 64 integers", id="seed-only"),
        param(lambda kp: _replace_last(kp, 1.5), "array of 64 integers", id="float"),
        param(lambda kp: _replace_last(kp, "7"), "array of 64 integers", id="string"),
        param(lambda kp: _replace_last(kp, True), "array of 64 integers", id="bool"),
        param(lambda kp: _replace_last(kp, None), "array of 64 integers", id="null"),
        param(lambda kp: _replace_last(kp, 256), "outside 0..255", id="256"),
        param(lambda kp: json.dumps([-1, *bytes(kp)[1:]]), "outside 0..255", id="negative"),
        param(lambda kp: json.dumps(list(bytes(kp)[:32]) * 2), "does not match", id="seed-twice"),
        param(lambda kp: " " * 70_000, "too large", id="huge"),
    ],
)
def test_load_refuses_garbage(
    tmp_path: Path, keypair: Keypair, make_text: Callable[[Keypair], str], problem: str
) -> None:
    """Malformed contents are refused with a message naming the path but no key bytes."""
    path = _write_raw(tmp_path / "id.json", make_text(keypair))
    with pytest.raises(KeyFileError) as info:
        load_keypair(path)
    assert problem in str(info.value)
    assert str(path) in str(info.value)
    _assert_no_secret(info.value, keypair)


def test_secret_forms_would_be_caught(keypair: Keypair) -> None:
    """The leak check itself notices key bytes when a message does contain them."""
    leaky = KeyFileError(Path("x"), f"bad values {json.dumps(list(bytes(keypair)))}")
    with pytest.raises(AssertionError):
        _assert_no_secret(leaky, keypair)
