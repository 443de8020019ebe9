"""Renames that never replace (renameat2 and its link fallback) and atomic writes."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from agent.intake.folder import renames
from agent.intake.folder.renames import atomic_write, move_no_replace
from tests.support.bounded import run_bounded

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
    run_bounded(lambda: move_no_replace(src, dst), fifos=[src, dst])
    assert stat.S_ISFIFO(dst.lstat().st_mode)
    assert not src.exists()


def test_real_renameat2_is_used_without_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On this Linux host renameat2(RENAME_NOREPLACE) itself succeeds."""
    real = renames._renameat2
    if real is None:
        pytest.skip("libc has no renameat2")
    results: list[int] = []

    def spy(src: bytes, dst: bytes) -> int:
        results.append(real(src, dst))
        return results[-1]

    monkeypatch.setattr(renames, "_renameat2", spy)
    (tmp_path / "a").write_bytes(b"x")
    move_no_replace(tmp_path / "a", tmp_path / "b")
    assert results == [0]


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EINVAL], ids=["ENOSYS", "EINVAL"])
def test_unsupported_renameat2_falls_back_to_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """ENOSYS/EINVAL from renameat2 switch to link+unlink, which still refuses to replace."""
    monkeypatch.setattr(renames, "_renameat2", lambda src, dst: code)
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
    monkeypatch.setattr(renames, "_renameat2", lambda src, dst: code)
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"a")
    with pytest.raises(exc_type) as info:
        move_no_replace(src, dst)
    assert info.value.errno == code
    assert info.value.filename == str(src)
    assert info.value.filename2 == str(dst)
    assert src.exists()
    assert not dst.exists()


# --- atomic_write ----------------------------------------------------------------------------


def test_atomic_write_writes_and_replaces_without_leftovers(tmp_path: Path) -> None:
    """atomic_write creates, then replaces, the file and leaves no temp file behind."""
    target = tmp_path / "1.result.json"
    atomic_write(target, b"first")
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["1.result.json"]
