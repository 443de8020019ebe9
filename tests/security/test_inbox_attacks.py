"""Hostile entries in the inbox, through the real daemon: symlinks, hard links, FIFOs and other
non-regular files, odd and path-like names, oversized files. Nothing is followed, nothing is
read beyond intake.max_file_bytes, nothing is written outside the intake folder, and the daemon
keeps answering."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair

from agent.app.daemon import Daemon
from agent.store.models import SubmissionRow
from tests.security.conftest import Bench, Signed

MAX_FILE_BYTES = 65_536  # intake.max_file_bytes in configs/local.toml


async def _run_once(bench: Bench, timeout_s: float = 60.0) -> int:
    """Run the daemon over what is pending; it must finish (nothing blocks it)."""
    stats = await asyncio.wait_for(bench.run_once(), timeout_s)
    assert bench.files("work") == []
    return stats.processed


def _moved(bench: Bench, folder: str, name: str) -> Path:
    """The one entry in ``folder`` that arrived from inbox/``name``."""
    [found] = [n for n in bench.files(folder) if n.endswith(f"--{name}")]
    return bench.root / folder / found


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` (links not followed): (mode, size, mtime_ns)."""
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            st = os.lstat(Path(folder) / name)
            key = str(Path(folder, name).relative_to(root))
            found[key] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def _outside(tree: dict[str, Any], bench: Bench, base: Path) -> dict[str, Any]:
    """The part of a tree of ``base`` that lies outside the intake folder and the database."""
    intake = str(bench.root.relative_to(base))
    return {
        path: value
        for path, value in tree.items()
        if not path.startswith(intake) and "otc-agent.db" not in path and "agent.db" not in path
    }


class _Reads:
    """Bytes read through each descriptor the daemon opened under a folder (os.open/os.read)."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.by_name: dict[str, int] = {}
        self._open_fds: dict[int, str] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def watching(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        real_open, real_read, real_close = os.open, os.read, os.close

        def counting_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            fd = real_open(path, flags, *args, **kwargs)
            text = os.fsdecode(path)
            if text.startswith(self.folder):
                with self._lock:
                    self._open_fds[fd] = Path(text).name
                    self.by_name.setdefault(Path(text).name, 0)
            return fd

        def counting_read(fd: int, n: int) -> bytes:
            data = real_read(fd, n)
            with self._lock:
                name = self._open_fds.get(fd)
                if name is not None:
                    self.by_name[name] += len(data)
            return data

        def forgetting_close(fd: int) -> None:
            with self._lock:
                self._open_fds.pop(fd, None)
            real_close(fd)

        with monkeypatch.context() as patch:
            patch.setattr(os, "open", counting_open)
            patch.setattr(os, "read", counting_read)
            patch.setattr(os, "close", forgetting_close)
            yield

    def of(self, original: str) -> int | None:
        """Bytes read from the claim of inbox/``original``; None when it was never opened."""
        counts = [n for name, n in self.by_name.items() if name.endswith(f"--{original}")]
        return sum(counts) if counts else None


@contextlib.asynccontextmanager
async def _running(bench: Bench) -> AsyncIterator[Daemon]:
    """The daemon running (watching the inbox) until the block ends; it must stop cleanly."""
    daemon = bench.daemon()
    task = asyncio.create_task(daemon.run())
    try:
        yield daemon
        assert not task.done(), "the daemon stopped on its own"
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)


async def _until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# --- links ----------------------------------------------------------------------------------------
def _link_to_intent(bench: Bench, target: Path) -> str:
    return str(target)


def _relative_link_to_intent(bench: Bench, target: Path) -> str:
    return os.path.relpath(target, bench.inbox)


def _link_to_dev_zero(bench: Bench, target: Path) -> str:
    return "/dev/zero"


def _dangling_link(bench: Bench, target: Path) -> str:
    return str(target.parent / "nothing-here.json")


def _link_to_a_folder(bench: Bench, target: Path) -> str:
    return str(target.parent)


LINKS = [
    (_link_to_intent, "absolute-to-valid-intent"),
    (_relative_link_to_intent, "relative-to-valid-intent"),
    (_link_to_dev_zero, "dev-zero"),
    (_dangling_link, "dangling"),
    (_link_to_a_folder, "folder"),
]


@pytest.mark.parametrize("link", [item[0] for item in LINKS], ids=[item[1] for item in LINKS])
async def test_a_symlink_is_rejected_unfollowed(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, link: Callable[[Bench, Path], str]
) -> None:
    """A symlink is rejected unopened: its target (a valid intent) is untouched and never traded."""
    lure = bench.sign()
    target = bench.root.parent / "elsewhere" / "lure.json"
    target.parent.mkdir()
    target.write_bytes(lure.data)
    before = target.stat()
    destination = link(bench, target)
    (bench.inbox / "link.json").symlink_to(destination)
    valid = bench.drop_valid(2)
    reads = _Reads(bench.root / "work")
    with reads.watching(monkeypatch):
        assert await _run_once(bench) == 3
    ending = (await bench.endings())["link.json"]
    assert (ending.status, ending.reason) == ("rejected", "symlink")
    assert reads.of("link.json") is None
    moved = _moved(bench, "rejected", "link.json")
    assert moved.is_symlink() and os.readlink(moved) == destination
    after = target.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns, after.st_nlink) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
        before.st_nlink,
    )
    intents = await bench.intents()
    assert lure.intent_id not in intents
    assert set(intents) == {signed.intent_id for signed in valid.values()}


async def test_a_symlink_loop_is_rejected(bench: Bench) -> None:
    """A link to itself is rejected as symlink; the daemon does not loop or fail."""
    (bench.inbox / "loop.json").symlink_to("loop.json")
    bench.drop_valid(1)
    assert await _run_once(bench) == 2
    assert (await bench.endings())["loop.json"].reason == "symlink"


@pytest.mark.parametrize("victim", ["intent", "key"])
async def test_a_hard_link_is_rejected_unread(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, victim: str
) -> None:
    """A hard-linked intent or key file is rejected as hard_link unread, leaking nothing of the key."""
    elsewhere = bench.root.parent / "elsewhere"
    elsewhere.mkdir()
    lure: Signed | None = None
    if victim == "intent":
        lure = bench.sign()
        original = elsewhere / "lure.json"
        original.write_bytes(lure.data)
    else:
        original = elsewhere / "key.json"
        key = Keypair()
        original.write_text(json.dumps(list(bytes(key))))
        original.chmod(0o600)
    os.link(original, bench.inbox / "linked.json")
    bench.drop_valid(1)
    reads = _Reads(bench.root / "work")
    with reads.watching(monkeypatch):
        assert await _run_once(bench) == 2
    ending = (await bench.endings())["linked.json"]
    assert (ending.status, ending.reason) == ("rejected", "hard_link")
    assert reads.of("linked.json") == 0  # opened to judge what it is, never read
    assert _moved(bench, "rejected", "linked.json").stat().st_ino == original.stat().st_ino
    if lure is not None:
        assert lure.intent_id not in await bench.intents()
    else:
        secret = original.read_text()[1:-1]  # the numbers of the key, as the file has them
        for path in bench.root.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.stat().st_nlink == 1:
                assert secret not in path.read_text(errors="replace")
        recorded = [row.detail + row.result for row in await bench.rows(SubmissionRow.__table__)]
        assert not [text for text in recorded if secret in text or str(key) in text]


# --- non-regular files ----------------------------------------------------------------------------
def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _unix_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.close()  # the socket file stays


def _folder_holding_an_intent(path: Path) -> None:
    path.mkdir()
    (path / "inner.json").write_text("{}")


@pytest.mark.parametrize(
    "make",
    [_fifo, _unix_socket, _folder_holding_an_intent],
    ids=["fifo", "unix-socket", "folder"],
)
async def test_a_non_regular_file_is_rejected_without_blocking(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], None]
) -> None:
    """A FIFO, socket or folder is not_regular_file: never opened, never waited on, moved whole."""
    make(bench.inbox / "odd.json")
    bench.drop_valid(2)
    reads = _Reads(bench.root / "work")
    with reads.watching(monkeypatch):
        assert await _run_once(bench, timeout_s=30) == 3
    ending = (await bench.endings())["odd.json"]
    assert (ending.status, ending.reason) == ("rejected", "not_regular_file")
    assert not reads.of("odd.json")
    moved = _moved(bench, "rejected", "odd.json")
    assert stat.S_IFMT(moved.lstat().st_mode) != stat.S_IFREG
    if moved.is_dir():
        assert os.listdir(moved) == ["inner.json"]


# --- oversized --------------------------------------------------------------------------------
def _padded(signed: Signed, size: int) -> bytes:
    assert len(signed.data) <= size
    return signed.data + b" " * (size - len(signed.data))


async def test_a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_not(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An intent of exactly max_file_bytes fills; one byte more is too_large with nothing read."""
    at_limit, over = bench.sign(), bench.sign()
    bench.drop("at-limit", _padded(at_limit, MAX_FILE_BYTES))
    bench.drop("over", _padded(over, MAX_FILE_BYTES + 1))
    reads = _Reads(bench.root / "work")
    with reads.watching(monkeypatch):
        assert await _run_once(bench) == 2
    endings = await bench.endings()
    assert endings["at-limit.json"].status == "filled"
    assert (endings["over.json"].status, endings["over.json"].reason) == ("rejected", "too_large")
    assert reads.of("over.json") == 0
    assert reads.of("at-limit.json") == MAX_FILE_BYTES
    assert f"{MAX_FILE_BYTES + 1} bytes" in endings["over.json"].detail
    assert over.intent_id not in await bench.intents()


async def test_a_huge_sparse_file_is_rejected_at_once_without_reading_it(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An 8 GiB sparse file is too_large within seconds, unread, without the daemon's memory growing."""
    with (bench.inbox / "huge.json").open("wb") as handle:
        handle.truncate(8 * 2**30)
    bench.drop_valid(1)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    reads = _Reads(bench.root / "work")
    started = time.monotonic()
    with reads.watching(monkeypatch):
        assert await _run_once(bench, timeout_s=30) == 2
    assert time.monotonic() - started < 20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 256 * 1024
    assert reads.of("huge.json") == 0
    ending = (await bench.endings())["huge.json"]
    assert (ending.status, ending.reason) == ("rejected", "too_large")


# --- names ----------------------------------------------------------------------------------------
ODD_NAMES = [
    "-rf.json",
    "with space.json",
    "new\nline.json",
    "tab\there.json",
    "ünïcødé-😀.json",
    "x..json",
    "x\\..\\..\\etc\\passwd.json",
    "%2e%2e%2fescape.json",
    "$(touch pwned).json",
    "`id`;.json",
    "x--y--z.json",
    "0123456789abcdef-012345--claim-lookalike.json",
    "0123456789abcdef-012345.abc--owned-lookalike.json",
    "evil.json.reason.json",
    "no-extension",
    "a" * 250 + ".json",  # 255 bytes: the longest name Linux allows
    "é" * 125 + ".json",  # 255 bytes of two-byte characters
]


@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda n: repr(n)[:40])
async def test_an_odd_name_is_only_a_name(bench: Bench, name: str) -> None:
    """A strange, path-like or overlong name fills like any other and touches nothing outside the intake."""
    base = bench.root.parent.parent  # the test's own temporary folder
    before = _outside(_tree(base), bench, base)
    signed = bench.sign()
    path = bench.inbox / name
    path.write_bytes(signed.data)
    assert await _run_once(bench) == 1
    [(recorded, ending)] = (await bench.endings()).items()
    assert (ending.status, ending.intent_id) == ("filled", signed.intent_id)
    # Recorded as given; an overlong name is trimmed to leave room for a reason file beside it.
    assert recorded == name if len(os.fsencode(name)) <= 200 else name.startswith(recorded)
    result = json.loads((bench.root / "out" / f"{signed.intent_id}.result.json").read_text())
    assert result["submission"]["name"] == recorded
    assert len(bench.files("done")) == 1
    assert _outside(_tree(base), bench, base) == before


@pytest.mark.parametrize(
    "name", [".hidden.json", "..json", "...json", "draft.json.tmp", "upload.json.part"]
)
async def test_files_still_being_written_are_left_alone(bench: Bench, name: str) -> None:
    """Hidden (dot-dot too), .tmp and .part names are a writer's work in progress: never claimed."""
    (bench.inbox / name).write_bytes(bench.sign().data)
    bench.drop_valid(1)
    assert await _run_once(bench) == 1
    assert bench.files("inbox") == [name]
    assert name not in await bench.endings()


async def test_an_intent_id_cannot_name_a_path(bench: Bench) -> None:
    """A signed id like ../../x is bad_schema and its result stays in out/ under the claim id."""
    signed = bench.sign(id="../../escaped")
    bench.drop("path-id", signed.data)
    assert await _run_once(bench) == 1
    ending = (await bench.endings())["path-id.json"]
    assert (ending.status, ending.reason, ending.intent_id) == ("rejected", "bad_schema", None)
    assert (bench.root / "out" / f"{ending.ref}.result.json").is_file()
    assert not list(bench.root.parent.rglob("escaped*"))


async def test_a_name_that_is_not_utf8_is_answered(bench: Bench) -> None:
    """A file whose name is not valid UTF-8 still gets an outcome and leaves work/."""
    signed = bench.sign()
    (bench.inbox / os.fsdecode(b"\xff\xfe-latin.json")).write_bytes(signed.data)
    stats = await asyncio.wait_for(bench.run_once(), 60)
    assert stats.processed == 1
    assert bench.files("work") == []


# --- all at once, against a running daemon -----------------------------------------------------
async def test_the_running_daemon_survives_every_hostile_entry_and_keeps_answering(
    bench: Bench,
) -> None:
    """A watching daemon rejects every kind of hostile entry with its reason and then still fills."""
    outside = bench.root.parent / "elsewhere.json"
    outside.write_bytes(bench.sign().data)
    async with _running(bench) as daemon:
        (bench.inbox / "link.json").symlink_to(outside)
        os.link(outside, bench.inbox / "hard.json")
        os.mkfifo(bench.inbox / "pipe.json")
        (bench.inbox / "dir.json").mkdir()
        with (bench.inbox / "huge.json").open("wb") as handle:
            handle.truncate(2**30)
        bench.drop("garbage", b"\x00\xff" * 100)
        await _until(lambda: daemon.stats.processed >= 6)
        valid = bench.drop_valid(3, prefix="after")
        await _until(lambda: daemon.stats.processed >= 9)
    endings = await bench.endings()
    assert {name: endings[name].reason for name in endings if not name.startswith("after")} == {
        "link.json": "symlink",
        "hard.json": "hard_link",
        "pipe.json": "not_regular_file",
        "dir.json": "not_regular_file",
        "huge.json": "too_large",
        "garbage.json": "malformed_json",
    }
    assert {endings[name].status for name in valid} == {"filled"}
    assert bench.files("inbox") == [] and bench.files("work") == []
