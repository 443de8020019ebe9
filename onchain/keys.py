"""Solana CLI keypair files: a JSON array of 64 integers (secret seed, then public key).

Nothing here logs key material or puts it in an exception: errors name the path and the
problem only, and are raised `from None` so a parser error carrying the file text is not
chained onto them.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

from solders.keypair import Keypair

_KEYPAIR_LEN = 64
_SEED_LEN = 32
# A 64-number array is a few hundred bytes; anything far bigger is not a keypair file.
_MAX_FILE_BYTES = 64 * 1024


class KeyFileError(Exception):
    """A key file that cannot be read or written; the message never includes key material."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"key file {path} {problem}")


def _read_private_file(path: Path) -> bytes:
    try:
        # O_NONBLOCK: a FIFO put where a key file belongs must not hang the caller in open().
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise KeyFileError(path, "does not exist") from None
    except OSError as exc:
        raise KeyFileError(path, f"cannot be opened ({exc.strerror})") from None
    # Check the mode on the open descriptor so the file checked is the file read.
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(path, "is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                path,
                f"has mode {mode:04o}; it must be readable by its owner only (chmod 600 {path})",
            )
        # "Its owner only" means this user: a file another user owns is that user's key
        # (they can read or replace it), even when this process (root) can read it too.
        if st.st_uid != os.geteuid():
            raise KeyFileError(
                path, f"is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})"
            )
        data = b""
        while len(data) <= _MAX_FILE_BYTES:
            chunk = os.read(fd, _MAX_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > _MAX_FILE_BYTES:
        raise KeyFileError(path, "is too large to be a keypair file")
    return data


def _parse_keypair(path: Path, data: bytes) -> Keypair:
    try:
        values = json.loads(data)
    except (ValueError, RecursionError):
        raise KeyFileError(path, "is not valid JSON") from None
    if not isinstance(values, list) or len(values) != _KEYPAIR_LEN:
        raise KeyFileError(path, "must hold a JSON array of 64 integers")
    # bool is an int subclass in Python, but `true` in a key file is garbage.
    if not all(type(v) is int for v in values):
        raise KeyFileError(path, "must hold a JSON array of 64 integers")
    if not all(0 <= v <= 255 for v in values):
        raise KeyFileError(path, "holds values outside 0..255")
    raw = bytes(values)
    keypair = Keypair.from_seed(raw[:_SEED_LEN])
    # Derive the public key rather than trusting the stored half, which could be stale or
    # tampered with and would make us sign as someone we are not.
    if bytes(keypair.pubkey()) != raw[_SEED_LEN:]:
        raise KeyFileError(path, "has a public key that does not match its secret key")
    return keypair


def load_keypair(path: Path) -> Keypair:
    """Load a solana-keygen keypair file, refusing one that group or others can access or
    that another user owns."""
    return _parse_keypair(path, _read_private_file(path))


def _make_private_dirs(directory: Path) -> None:
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        # mkdir's mode is filtered by the umask; the requirement is exactly 0700.
        d.chmod(0o700)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_keypair(keypair: Keypair, path: Path, *, overwrite: bool = False) -> None:
    """Atomically write `keypair` in solana-keygen format with mode 0600.

    The file appears complete or not at all. Without `overwrite`, an existing file is never
    replaced, even one created concurrently (os.link refuses an existing target).
    """
    if not overwrite and path.exists():
        raise KeyFileError(path, "already exists; refusing to overwrite it")
    _make_private_dirs(path.parent)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            payload = json.dumps(list(bytes(keypair)), separators=(",", ":")).encode()
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            tmp.replace(path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeyFileError(path, "already exists; refusing to overwrite it") from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def generate_keypair_file(path: Path, *, overwrite: bool = False) -> Keypair:
    """Create a fresh random keypair and write it to `path`."""
    keypair = Keypair()
    write_keypair(keypair, path, overwrite=overwrite)
    return keypair
