"""Hand-overs between the intake's folders: renames that never replace, writes never seen half done.

Replicas sharing a root race for the same names, so a file changes folder only by
:func:`move_no_replace`: when two processes move the same file, or to the same name, exactly one
succeeds. It uses ``renameat2(RENAME_NOREPLACE)``, or link-then-unlink where the kernel or the
filesystem lacks it. Results and reason files are written by :func:`atomic_write` under a
temporary name (:func:`~agent.intake.folder.names.temp_name`) and renamed into place.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable
from pathlib import Path

from agent.intake.folder.dirsync import fsync_directory
from agent.intake.folder.names import temp_name

__all__ = ["FILE_MODE", "atomic_write", "move_no_replace", "same_file"]

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# Filesystems without RENAME_NOREPLACE (and kernels without renameat2) answer with these.
_NOREPLACE_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL})

# Group-readable so the wallets that drop intents (same group) can read their results.
FILE_MODE = 0o640

# Takes (src, dst) as bytes, returns 0 or an errno value. None when libc has no renameat2.
# A module attribute so tests can exercise the link/unlink fallback on a capable host.
_Renameat2 = Callable[[bytes, bytes], int]


def _load_renameat2() -> _Renameat2 | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int

    def renameat2_noreplace(src: bytes, dst: bytes) -> int:
        if func(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE) == 0:
            return 0
        return ctypes.get_errno()

    return renameat2_noreplace


_renameat2: _Renameat2 | None = _load_renameat2()


def move_no_replace(src: Path, dst: Path) -> None:
    """Atomically rename ``src`` to ``dst``; FileExistsError if ``dst`` exists.

    Works on any file type (symlinks, FIFOs, ...) without following or opening it.
    """
    renameat2 = _renameat2
    if renameat2 is not None:
        err = renameat2(os.fsencode(src), os.fsencode(dst))
        if err == 0:
            return
        if err not in _NOREPLACE_UNSUPPORTED:
            raise OSError(err, os.strerror(err), str(src), None, str(dst))
    _link_then_unlink(src, dst)


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _link_then_unlink(src: Path, dst: Path) -> None:
    # link() never replaces dst, which is what makes this a no-replace move. Two movers of
    # the same src may both link; exactly one unlink(src) succeeds and the loser drops its
    # duplicate link, so the file still ends up claimed once. Not crash-atomic: a crash
    # between link and unlink leaves the file under both names (nlink 2, rejected later as
    # a hard link rather than lost). Directories cannot be hard-linked: this path refuses them.
    os.link(src, dst, follow_symlinks=False)
    ours = dst.lstat()
    try:
        # Only unlink src while it still names our inode, never a replacement a writer
        # renamed over it meanwhile.
        if same_file(src.lstat(), ours):
            src.unlink()
            return
    except FileNotFoundError:
        pass
    except OSError:
        dst.unlink()
        raise
    if dst.lstat().st_nlink > 1:
        # Whoever removed src holds its own link to the file: ours is a duplicate.
        dst.unlink()
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(src))
    # src went away and ours is the only remaining link: the move is complete.


def atomic_write(
    path: Path,
    data: bytes,
    *,
    owner: str | None = None,
    sync_directory: Callable[[Path], None] = fsync_directory,
) -> None:
    """Write ``data`` to ``path`` durably; readers see the old or the new content, never a mix.

    Replaces an existing file on purpose: a resumed run rewrites identical results. The
    temporary file carries ``owner`` so that only its owner, or a replica that finds the owner
    dead, sweeps it. ``sync_directory`` makes the rename durable (an intake passes its shared
    :class:`~agent.intake.folder.dirsync.DirectorySync`).
    """
    tmp = path.with_name(temp_name(path.name, owner))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, FILE_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)
