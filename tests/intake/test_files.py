from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PosixPath
from typing import TypeVar

import pytest

from agent.intake import files
from agent.intake.files import (
    Claim,
    IntakeLayout,
    UnreadableSubmission,
    atomic_write,
    claim,
    claim_name,
    finish,
    inbox_stats,
    is_ignored,
    list_claims,
    list_inbox,
    list_strays,
    move_no_replace,
    new_claim_id,
    parse_claim_name,
    read_claimed,
)

T = TypeVar("T")


@pytest.fixture
def layout(tmp_path: Path) -> IntakeLayout:
    layout = IntakeLayout(tmp_path / "intake")
    layout.ensure()
    return layout


@pytest.fixture(params=["renameat2", "link_fallback"])
def move_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "renameat2":
        if files._renameat2 is None:
            pytest.skip("libc has no renameat2")
    else:
        monkeypatch.setattr(files, "_renameat2", None)
    return request.param


def _run_bounded(fn: Callable[[], T], fifos: Iterable[Path] = ()) -> T:
    # Opening a FIFO blocks until the other end opens: fail the test instead of hanging it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(fn)
        try:
            return future.result(timeout=5)
        except TimeoutError:
            for fifo in fifos:
                for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
                    with contextlib.suppress(OSError):
                        os.close(os.open(fifo, flags))
            pytest.fail("blocked on a FIFO")


# --- move_no_replace -------------------------------------------------------------------------


def test_move_no_replace_moves_a_regular_file(tmp_path: Path, move_mode: str) -> None:
    """A plain move renames the file, keeping its content and a single link."""
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"payload")
    move_no_replace(src, dst)
    assert not src.exists()
    assert dst.read_bytes() == b"payload"
    assert dst.stat().st_nlink == 1


def test_move_no_replace_refuses_to_replace(tmp_path: Path, move_mode: str) -> None:
    """An existing destination raises FileExistsError and both files stay intact."""
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"source")
    dst.write_bytes(b"destination")
    with pytest.raises(FileExistsError):
        move_no_replace(src, dst)
    assert src.read_bytes() == b"source"
    assert dst.read_bytes() == b"destination"
    assert src.stat().st_nlink == dst.stat().st_nlink == 1


def test_move_no_replace_missing_source(tmp_path: Path, move_mode: str) -> None:
    """A vanished source raises FileNotFoundError and creates nothing."""
    with pytest.raises(FileNotFoundError):
        move_no_replace(tmp_path / "gone", tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dangling", [False, True], ids=["to_file", "dangling"])
def test_move_no_replace_moves_symlink_itself(
    tmp_path: Path, move_mode: str, dangling: bool
) -> None:
    """A symlink is moved as a link; its target is neither moved nor modified."""
    target = tmp_path / "target"
    if not dangling:
        target.write_bytes(b"secret")
    src, dst = tmp_path / "link", tmp_path / "moved"
    src.symlink_to(target)
    move_no_replace(src, dst)
    assert not src.is_symlink()
    assert dst.is_symlink()
    assert os.readlink(dst) == str(target)
    if dangling:
        assert not target.exists()
    else:
        assert target.read_bytes() == b"secret"
        assert target.stat().st_nlink == 1


def test_move_no_replace_moves_fifo_without_opening(tmp_path: Path, move_mode: str) -> None:
    """A FIFO is moved without being opened (opening one would block)."""
    src, dst = tmp_path / "fifo", tmp_path / "moved"
    os.mkfifo(src)
    _run_bounded(lambda: move_no_replace(src, dst), fifos=[src, dst])
    assert stat.S_ISFIFO(dst.lstat().st_mode)
    assert not src.exists()


def test_real_renameat2_is_used_without_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On this Linux host renameat2(RENAME_NOREPLACE) itself succeeds."""
    real = files._renameat2
    if real is None:
        pytest.skip("libc has no renameat2")
    results: list[int] = []

    def spy(src: bytes, dst: bytes) -> int:
        results.append(real(src, dst))
        return results[-1]

    monkeypatch.setattr(files, "_renameat2", spy)
    (tmp_path / "a").write_bytes(b"x")
    move_no_replace(tmp_path / "a", tmp_path / "b")
    assert results == [0]


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EINVAL], ids=["ENOSYS", "EINVAL"])
def test_unsupported_renameat2_falls_back_to_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """ENOSYS/EINVAL from renameat2 switch to link+unlink, which still refuses to replace."""
    monkeypatch.setattr(files, "_renameat2", lambda src, dst: code)
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "c").write_bytes(b"c")
    move_no_replace(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"a"
    with pytest.raises(FileExistsError):
        move_no_replace(tmp_path / "b", tmp_path / "c")
    assert (tmp_path / "b").read_bytes() == b"a"
    assert (tmp_path / "c").read_bytes() == b"c"


@pytest.mark.parametrize(
    ("code", "exc_type"),
    [
        (errno.EEXIST, FileExistsError),
        (errno.ENOENT, FileNotFoundError),
        (errno.EACCES, PermissionError),
        (errno.EXDEV, OSError),
    ],
    ids=["EEXIST", "ENOENT", "EACCES", "EXDEV"],
)
def test_renameat2_errno_maps_to_oserror_subclass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, exc_type: type[OSError]
) -> None:
    """Other renameat2 errors raise the matching OSError subclass and skip the fallback."""
    monkeypatch.setattr(files, "_renameat2", lambda src, dst: code)
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"a")
    with pytest.raises(exc_type) as info:
        move_no_replace(src, dst)
    assert info.value.errno == code
    assert info.value.filename == str(src)
    assert info.value.filename2 == str(dst)
    assert src.exists()
    assert not dst.exists()


def test_concurrent_claims_take_each_file_exactly_once(
    layout: IntakeLayout, move_mode: str
) -> None:
    """Two threads racing to claim the same 200 files claim each exactly once."""
    names = [f"intent-{i:03d}.json" for i in range(200)]
    for name in names:
        (layout.inbox / name).write_bytes(name.encode())
    barrier = threading.Barrier(2)

    def worker() -> list[Claim]:
        won: list[Claim] = []
        for name in names:
            barrier.wait(timeout=10)
            result = claim(layout, name)
            if result is not None:
                won.append(result)
        return won

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(worker), pool.submit(worker)]
        claims = [c for f in futures for c in f.result(timeout=60)]

    assert sorted(c.original_name for c in claims) == names
    assert list(layout.inbox.iterdir()) == []
    in_work = sorted(layout.work.iterdir())
    assert len(in_work) == len(names)
    for c in claims:
        assert c.path.read_bytes() == c.original_name.encode()
        assert c.path.stat().st_nlink == 1


# --- naming ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ignored"),
    [
        ("intent.json", False),
        ("intent", False),
        ("intent.tmp.json", False),
        (".hidden.json", True),
        (".", True),
        ("intent.json.tmp", True),
        ("intent.json.part", True),
        ("intent.TMP", False),
    ],
)
def test_is_ignored(name: str, ignored: bool) -> None:
    """Hidden, *.tmp and *.part names are ignored; everything else is a submission."""
    assert is_ignored(name) is ignored


def test_new_claim_id_is_unique_sortable_and_safe() -> None:
    """Claim ids are unique, ordered by creation time and made of [0-9a-f-] only."""
    ids = [new_claim_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert all(set(i) <= set("0123456789abcdef-") for i in ids)
    first = new_claim_id()
    time.sleep(0.001)
    assert new_claim_id() > first


@pytest.mark.parametrize(
    "original",
    ["intent.json", "with--dashes--inside", "--leading", "new\nline", "ünïcödé.json", "a"],
)
def test_claim_name_round_trips(original: str) -> None:
    """parse_claim_name inverts claim_name, whatever the original name contains."""
    claim_id = new_claim_id()
    name = claim_name(claim_id, original)
    assert name == f"{claim_id}--{original}"
    assert parse_claim_name(name) == (claim_id, original)


@pytest.mark.parametrize(
    "name",
    ["intent.json", "0123456789abcdef-abcdef--", "0123-abcdef--x", "0123456789ABCDEF-abcdef--x"],
)
def test_parse_claim_name_rejects_other_names(name: str) -> None:
    """Names that are not exactly <16 hex>-<6 hex>--<original> do not parse."""
    assert parse_claim_name(name) is None


def test_claim_name_trims_overlong_original_to_leave_room_for_reason_file() -> None:
    """An overlong original is cut on a character boundary so the reason file name fits."""
    claim_id = new_claim_id()
    name = claim_name(claim_id, "é" * 200)
    assert len(os.fsencode(name + ".reason.json")) <= 255
    parsed = parse_claim_name(name)
    assert parsed is not None
    assert set(parsed[1]) == {"é"}


# --- layout, atomic_write --------------------------------------------------------------------


def test_ensure_creates_all_directories_with_mode_0750(tmp_path: Path) -> None:
    """ensure() creates root and the five folders (mode 0o750 less umask) and is repeatable."""
    layout = IntakeLayout(tmp_path / "root")
    layout.ensure()
    layout.ensure()
    umask = os.umask(0)
    os.umask(umask)
    for directory in (layout.root, layout.inbox, layout.work, layout.out, layout.done):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o750 & ~umask
    assert layout.rejected.is_dir()


def test_atomic_write_writes_and_replaces_without_leftovers(tmp_path: Path) -> None:
    """atomic_write creates, then replaces, the file and leaves no temp file behind."""
    target = tmp_path / "1.result.json"
    atomic_write(target, b"first")
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["1.result.json"]


# --- claim -----------------------------------------------------------------------------------


def test_claim_moves_file_into_work(layout: IntakeLayout) -> None:
    """claim() moves inbox/<name> to work/<claim_id>--<name> and describes it."""
    (layout.inbox / "intent.json").write_bytes(b"{}")
    result = claim(layout, "intent.json")
    assert result is not None
    assert result.original_name == "intent.json"
    assert result.path == layout.work / f"{result.claim_id}--intent.json"
    assert result.name == result.path.name
    assert result.path.read_bytes() == b"{}"
    assert not (layout.inbox / "intent.json").exists()


def test_claim_returns_none_when_file_already_taken(layout: IntakeLayout) -> None:
    """A name that vanished from the inbox (claimed elsewhere) gives None."""
    assert claim(layout, "gone.json") is None


def test_claim_without_work_dir_raises(layout: IntakeLayout) -> None:
    """A missing work/ is an error, not a lost race."""
    (layout.inbox / "intent.json").write_bytes(b"{}")
    layout.work.rmdir()
    with pytest.raises(FileNotFoundError):
        claim(layout, "intent.json")
    assert (layout.inbox / "intent.json").exists()


@pytest.mark.parametrize("name", ["", ".", "..", "../escape", "sub/file"])
def test_claim_rejects_non_plain_names(layout: IntakeLayout, name: str) -> None:
    """Names that are not a single path component are refused."""
    with pytest.raises(ValueError, match="plain file name"):
        claim(layout, name)


def test_claim_takes_fifo_without_opening(layout: IntakeLayout) -> None:
    """A FIFO in the inbox is claimed (to be rejected later) without being opened."""
    fifo = layout.inbox / "pipe"
    os.mkfifo(fifo)
    result = _run_bounded(lambda: claim(layout, "pipe"), fifos=[fifo])
    assert result is not None
    assert stat.S_ISFIFO(result.path.lstat().st_mode)


# --- read_claimed ----------------------------------------------------------------------------

MAX = 64


def _regular(size: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        path = d / "file"
        path.write_bytes(b"x" * size)
        return path

    return build


def _symlink_to_file(d: Path) -> Path:
    (d / "real").write_bytes(b"{}")
    (d / "link").symlink_to(d / "real")
    return d / "link"


def _dangling_symlink(d: Path) -> Path:
    (d / "link").symlink_to(d / "nowhere")
    return d / "link"


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "fifo")
    return d / "fifo"


def _directory(d: Path) -> Path:
    (d / "dir").mkdir()
    return d / "dir"


def _hard_link(d: Path) -> Path:
    (d / "original").write_bytes(b"{}")
    os.link(d / "original", d / "second")
    return d / "second"


def _missing(d: Path) -> Path:
    return d / "missing"


@pytest.mark.parametrize(
    ("build", "reason", "content"),
    [
        pytest.param(_symlink_to_file, "symlink", None, id="symlink_to_real_file"),
        pytest.param(_dangling_symlink, "symlink", None, id="dangling_symlink"),
        pytest.param(_fifo, "not_regular_file", None, id="fifo"),
        pytest.param(_directory, "not_regular_file", None, id="directory"),
        pytest.param(_hard_link, "hard_link", None, id="hard_link"),
        pytest.param(_regular(MAX + 1), "too_large", None, id="too_large"),
        pytest.param(_missing, "unreadable", None, id="missing"),
        pytest.param(_regular(MAX), None, b"x" * MAX, id="exactly_max_bytes"),
        pytest.param(_regular(0), None, b"", id="empty"),
    ],
)
def test_read_claimed(
    tmp_path: Path,
    build: Callable[[Path], Path],
    reason: str | None,
    content: bytes | None,
) -> None:
    """read_claimed returns regular single-link files up to max_bytes, else says why not."""
    path = build(tmp_path)
    if reason is None:
        assert _run_bounded(lambda: read_claimed(path, MAX), fifos=[path]) == content
    else:
        with pytest.raises(UnreadableSubmission) as info:
            _run_bounded(lambda: read_claimed(path, MAX), fifos=[path])
        assert info.value.reason == reason


@pytest.mark.parametrize(
    ("build", "reason"),
    [(_symlink_to_file, "symlink"), (_fifo, "not_regular_file")],
    ids=["symlink", "fifo"],
)
def test_read_claimed_judges_what_it_opened(
    tmp_path: Path, build: Callable[[Path], Path], reason: str
) -> None:
    """A name swapped after the lstat check is still caught, without following or blocking."""
    (tmp_path / "decoy").write_bytes(b"{}")
    decoy_stat = (tmp_path / "decoy").lstat()

    class SwappedPath(PosixPath):
        def lstat(self) -> os.stat_result:
            return decoy_stat

    path = SwappedPath(build(tmp_path))
    with pytest.raises(UnreadableSubmission) as info:
        _run_bounded(lambda: read_claimed(path, MAX), fifos=[path])
    assert info.value.reason == reason


def test_read_claimed_catches_growth_after_fstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file larger than fstat claimed (it grew) is rejected after reading max_bytes+1."""
    path = tmp_path / "growing"
    path.write_bytes(b"x" * (MAX * 2))
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:
        values = list(real_fstat(fd))
        values[stat.ST_SIZE] = MAX
        return os.stat_result(values)

    monkeypatch.setattr(files.os, "fstat", stale_fstat)
    with pytest.raises(UnreadableSubmission) as info:
        read_claimed(path, MAX)
    assert info.value.reason == "too_large"


def test_unreadable_submission_message_states_size_and_limit_not_content(tmp_path: Path) -> None:
    """The too_large message gives the size and the limit and never the file content."""
    path = tmp_path / "big"
    path.write_bytes(b"SECRET" * 20)
    with pytest.raises(UnreadableSubmission) as info:
        read_claimed(path, 100)
    message = str(info.value)
    assert "120" in message
    assert "100" in message
    assert "SECRET" not in message


def test_unreadable_submission_refuses_unknown_reason() -> None:
    """Only the documented reasons can be raised."""
    with pytest.raises(ValueError, match="unknown reason"):
        UnreadableSubmission("weird")


# --- finish ----------------------------------------------------------------------------------


def _claimed(layout: IntakeLayout, name: str = "intent.json") -> Claim:
    (layout.inbox / name).write_bytes(b"{}")
    result = claim(layout, name)
    assert result is not None
    return result


def test_finish_accepted_moves_to_done_idempotently(layout: IntakeLayout) -> None:
    """Accepted claims go to done/; finishing again returns the same path."""
    c = _claimed(layout)
    first = finish(layout, c, accepted=True)
    assert first == layout.done / c.name
    assert first.read_bytes() == b"{}"
    assert finish(layout, c, accepted=True) == first
    assert not c.path.exists()


def test_finish_rejected_writes_reason_beside_it_idempotently(layout: IntakeLayout) -> None:
    """Rejected claims go to rejected/ with <name>.reason.json; finishing again is harmless."""
    c = _claimed(layout)
    reason = json.dumps({"reason": "too_large"}).encode()
    for _ in range(2):
        dest = finish(layout, c, accepted=False, reason_document=reason)
        assert dest == layout.rejected / c.name
        assert dest.read_bytes() == b"{}"
        assert (layout.rejected / f"{c.name}.reason.json").read_bytes() == reason
    assert sorted(p.name for p in layout.rejected.iterdir()) == [c.name, f"{c.name}.reason.json"]


def test_finish_moves_symlink_without_following(layout: IntakeLayout) -> None:
    """A claimed symlink is rejected as a link; its target stays where it was."""
    target = layout.root / "target"
    target.write_bytes(b"secret")
    (layout.inbox / "link").symlink_to(target)
    c = claim(layout, "link")
    assert c is not None
    dest = finish(layout, c, accepted=False, reason_document=b"{}")
    assert dest.is_symlink()
    assert target.read_bytes() == b"secret"


def test_finish_raises_when_source_and_destination_both_exist(layout: IntakeLayout) -> None:
    """If the destination already exists while the claim is still in work/, nothing moves."""
    c = _claimed(layout)
    (layout.done / c.name).write_bytes(b"other")
    with pytest.raises(FileExistsError):
        finish(layout, c, accepted=True)
    assert c.path.read_bytes() == b"{}"
    assert (layout.done / c.name).read_bytes() == b"other"


def test_finish_raises_when_claim_is_nowhere(layout: IntakeLayout) -> None:
    """A claim missing from both work/ and the destination is an error."""
    c = Claim("0123456789abcdef-abcdef", "x", layout.work / "0123456789abcdef-abcdef--x")
    with pytest.raises(FileNotFoundError):
        finish(layout, c, accepted=True)


def test_finish_accepted_refuses_reason_document(layout: IntakeLayout) -> None:
    """Reason documents belong to rejections only."""
    c = _claimed(layout)
    with pytest.raises(ValueError, match="rejected"):
        finish(layout, c, accepted=True, reason_document=b"{}")
    assert c.path.exists()


# --- listings --------------------------------------------------------------------------------


def test_list_claims_sorted_and_strays_separate(layout: IntakeLayout) -> None:
    """list_claims returns claim-named entries by claim id; other names are strays."""
    ids = ["0000000000000002-aaaaaa", "0000000000000001-bbbbbb", "0000000000000003-cccccc"]
    for claim_id in ids:
        (layout.work / f"{claim_id}--intent.json").write_bytes(b"{}")
    (layout.work / "0000000000000004-dddddd--link").symlink_to(layout.root / "nowhere")
    (layout.work / "stray.json").write_bytes(b"{}")
    (layout.work / ".hidden").write_bytes(b"")

    claims = list_claims(layout)
    assert [c.claim_id for c in claims] == [*sorted(ids), "0000000000000004-dddddd"]
    assert claims[-1].original_name == "link"
    assert all(c.path.parent == layout.work for c in claims)
    assert list_strays(layout) == [".hidden", "stray.json"]


def _drop(layout: IntakeLayout, name: str, mtime: float) -> None:
    path = layout.inbox / name
    path.write_bytes(b"{}")
    os.utime(path, (mtime, mtime))


def test_list_inbox_ignores_temp_names_and_orders_by_mtime_then_name(
    layout: IntakeLayout,
) -> None:
    """Hidden/.tmp/.part names are skipped; the rest come oldest first, ties by name."""
    now = time.time()
    _drop(layout, "c.json", now - 30)
    _drop(layout, "b.json", now - 10)
    _drop(layout, "a.json", now - 10)
    for name in (".hidden", "x.json.tmp", "y.json.part"):
        _drop(layout, name, now - 100)
    (layout.inbox / "dangling").symlink_to(layout.root / "nowhere")
    os.utime(layout.inbox / "dangling", (now, now), follow_symlinks=False)

    assert list_inbox(layout) == ["c.json", "a.json", "b.json", "dangling"]
    assert list_inbox(layout, limit=2) == ["c.json", "a.json"]


def test_list_inbox_tolerates_files_vanishing_mid_scan(
    layout: IntakeLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file claimed by another process between readdir and stat is just skipped."""
    _drop(layout, "stays.json", time.time())
    _drop(layout, "goes.json", time.time())
    real_scan = files._scan

    def scan_then_lose_one(directory: Path) -> list[os.DirEntry[str]]:
        entries = real_scan(directory)
        (layout.inbox / "goes.json").unlink()
        return entries

    monkeypatch.setattr(files, "_scan", scan_then_lose_one)
    assert list_inbox(layout) == ["stays.json"]


def test_inbox_stats_counts_pending_files_and_oldest_age(layout: IntakeLayout) -> None:
    """inbox_stats reports (0, None) when empty, else the count and the oldest file's age."""
    assert inbox_stats(layout) == (0, None)
    now = time.time()
    _drop(layout, "old.json", now - 120)
    _drop(layout, "new.json", now - 5)
    _drop(layout, ".ignored.tmp", now - 1000)
    count, age = inbox_stats(layout)
    assert count == 2
    assert age is not None
    assert 119 < age < 150


def test_sweep_removes_only_the_agents_own_partial_writes(tmp_path: Path) -> None:
    """Stale atomic_write temp files in out/ and rejected/ go; submissions and results stay."""
    layout = files.IntakeLayout(tmp_path)
    layout.ensure()
    stale = layout.out / ".abc.result.json.0123abcd.tmp"
    stale.write_text("{")
    partial_reason = layout.rejected / ".x--a.json.reason.json.deadbeef.tmp"
    partial_reason.write_text("{")
    keep = [
        layout.out / "abc.result.json",
        layout.rejected / "1-2--.hidden.json",
        layout.rejected / "1-2--a.json.tmp",
        layout.inbox / ".note.0123abcd.tmp",
    ]
    for path in keep:
        path.write_text("x")
    assert sorted(files.sweep_own_temp_files(layout)) == sorted([stale.name, partial_reason.name])
    assert all(path.exists() for path in keep)
