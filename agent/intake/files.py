"""File-system side of the directory intake.

Layout under one root: ``inbox/`` → (claim) ``work/`` → ``done/`` or ``rejected/``, with results
in ``out/``. Several processes may watch the same root, so every hand-over is a rename that
refuses to replace an existing name; nothing here deletes a submission, follows a link, or opens
a non-regular file in a way that could block.
"""

from __future__ import annotations

import ctypes
import errno
import heapq
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Claim",
    "IntakeLayout",
    "UnreadableSubmission",
    "atomic_write",
    "claim",
    "claim_name",
    "finish",
    "inbox_stats",
    "is_ignored",
    "list_claims",
    "list_inbox",
    "list_strays",
    "move_no_replace",
    "new_claim_id",
    "parse_claim_name",
    "read_claimed",
    "sweep_own_temp_files",
]

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# Filesystems without RENAME_NOREPLACE (and kernels without renameat2) answer with these.
_NOREPLACE_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL})

_REASON_SUFFIX = ".reason.json"
# Linux NAME_MAX; a claim name must leave room for the reason file written beside it.
_NAME_MAX = 255
_MAX_CLAIM_NAME_BYTES = _NAME_MAX - len(_REASON_SUFFIX)

_CLAIM_NAME_RE = re.compile(r"(?P<claim_id>[0-9a-f]{16}-[0-9a-f]{6})--(?P<original>.+)", re.DOTALL)

_DIR_MODE = 0o750
# Group-readable so the wallets that drop intents (same group) can read their results.
_FILE_MODE = 0o640

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


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
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
        if _same_file(src.lstat(), ours):
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _truncate_name(name: str, max_bytes: int) -> str:
    # Trims whole characters so a multi-byte UTF-8 sequence is never split.
    while len(os.fsencode(name)) > max_bytes:
        name = name[:-1]
    return name


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` durably; readers see the old or the new content, never a mix.

    Replaces an existing file on purpose: a resumed run rewrites identical results.
    """
    tmp = path.with_name(f".{_truncate_name(path.name, 200)}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, _FILE_MODE)
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
    _fsync_dir(path.parent)


_OWN_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")


def sweep_own_temp_files(layout: IntakeLayout) -> list[str]:
    """Remove partial writes of :func:`atomic_write` that a crash left in out/ and rejected/.

    Only the agent writes into those folders, and only it names files this way, so no
    submission can ever be touched here.
    """
    removed = []
    for folder in (layout.out, layout.rejected):
        for entry in _scan(folder):
            if _OWN_TEMP.match(entry.name) and entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)
                removed.append(entry.name)
    return removed


@dataclass(frozen=True)
class IntakeLayout:
    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    def ensure(self) -> None:
        for directory in (self.root, self.inbox, self.work, self.out, self.done, self.rejected):
            directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)


def is_ignored(name: str) -> bool:
    """Names writers use while a file is still being written; they stay in the inbox."""
    return name.startswith(".") or name.endswith((".tmp", ".part"))


def new_claim_id() -> str:
    # Zero-padded nanoseconds sort lexicographically in time order; the random part keeps
    # ids from concurrent processes distinct.
    return f"{time.time_ns():016x}-{secrets.token_hex(3)}"


def claim_name(claim_id: str, original: str) -> str:
    """``<claim_id>--<original>``; an overlong original is trimmed to fit NAME_MAX."""
    prefix = f"{claim_id}--"
    budget = _MAX_CLAIM_NAME_BYTES - len(os.fsencode(prefix))
    return prefix + _truncate_name(original, budget)


def parse_claim_name(name: str) -> tuple[str, str] | None:
    """``(claim_id, original_name)``, or None when ``name`` is not a claim name."""
    match = _CLAIM_NAME_RE.fullmatch(name)
    if match is None:
        return None
    return match["claim_id"], match["original"]


@dataclass(frozen=True)
class Claim:
    claim_id: str
    original_name: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def claim(layout: IntakeLayout, name: str) -> Claim | None:
    """Move ``inbox/name`` into ``work/``; None when another process claimed it first."""
    if not name or name in {".", ".."} or "/" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    claim_id = new_claim_id()
    name_in_work = claim_name(claim_id, name)
    target = layout.work / name_in_work
    try:
        move_no_replace(layout.inbox / name, target)
    except FileNotFoundError:
        # A missing work/ would otherwise look like losing every race, forever.
        if not layout.work.is_dir():
            raise
        return None
    # Make the claim durable before the daemon acts on it, so a crash cannot put the file
    # back in the inbox after its trade was executed.
    _fsync_dir(layout.work)
    original = name_in_work[len(claim_id) + 2 :]  # may be trimmed, see claim_name
    return Claim(claim_id=claim_id, original_name=original, path=target)


# The name is part of the intake's public API, so N818's Error suffix is not applied.
class UnreadableSubmission(Exception):
    REASONS = frozenset({"symlink", "not_regular_file", "hard_link", "too_large", "unreadable"})

    def __init__(
        self,
        reason: str,
        *,
        size: int | None = None,
        limit: int | None = None,
        error: OSError | None = None,
    ) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        self.reason = reason
        self.size = size
        self.limit = limit
        # Never include file content: these messages end up in reason files and logs.
        if reason == "symlink":
            message = "submission is a symbolic link"
        elif reason == "not_regular_file":
            message = "submission is not a regular file"
        elif reason == "hard_link":
            message = "submission has more than one hard link"
        elif reason == "too_large":
            if size is None:
                message = f"submission is too large: more than the {limit}-byte limit"
            else:
                message = f"submission is too large: {size} bytes, limit is {limit} bytes"
        else:
            code = errno.errorcode.get(error.errno, "?") if error and error.errno else "?"
            detail = error.strerror if error and error.strerror else "unknown error"
            message = f"submission could not be read: {code} ({detail})"
        super().__init__(message)


def read_claimed(path: Path, max_bytes: int) -> bytes:
    """Read a claimed file's content, or raise UnreadableSubmission saying why not."""
    try:
        before = path.lstat()
    except OSError as exc:
        raise UnreadableSubmission("unreadable", error=exc) from exc
    # Classify before opening: opening a FIFO or device could block or have side effects.
    if stat.S_ISLNK(before.st_mode):
        raise UnreadableSubmission("symlink")
    if not stat.S_ISREG(before.st_mode):
        raise UnreadableSubmission("not_regular_file")
    # The name may be swapped after lstat: these flags keep open() from following a link
    # or blocking on a FIFO, and fstat below judges what was actually opened.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableSubmission("symlink") from exc
        raise UnreadableSubmission("unreadable", error=exc) from exc
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise UnreadableSubmission("not_regular_file")
        # Another name for the same inode lets someone change it after we validate it.
        if opened.st_nlink > 1:
            raise UnreadableSubmission("hard_link")
        if opened.st_size > max_bytes:
            raise UnreadableSubmission("too_large", size=opened.st_size, limit=max_bytes)
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise UnreadableSubmission("unreadable", error=exc) from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        # It grew after fstat; its final size is unknown.
        raise UnreadableSubmission("too_large", limit=max_bytes)
    return data


def finish(
    layout: IntakeLayout,
    claim: Claim,
    *,
    accepted: bool,
    reason_document: bytes | None = None,
) -> Path:
    """Move a claimed file to ``done/`` or ``rejected/``; safe to repeat after a resume."""
    if accepted and reason_document is not None:
        raise ValueError("a reason document is only written for rejected submissions")
    target_dir = layout.done if accepted else layout.rejected
    target = target_dir / claim.name
    if reason_document is not None:
        # Written first so a rejected file never sits in rejected/ without its reason.
        atomic_write(target_dir / f"{claim.name}{_REASON_SUFFIX}", reason_document)
    try:
        move_no_replace(claim.path, target)
    except FileNotFoundError:
        if os.path.lexists(target):
            return target
        raise
    _fsync_dir(target_dir)
    return target


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as entries:
        return list(entries)


def list_claims(layout: IntakeLayout) -> list[Claim]:
    """Files in ``work/`` with claim names, oldest claim first."""
    claims: list[Claim] = []
    for entry in _scan(layout.work):
        parsed = parse_claim_name(entry.name)
        if parsed is not None:
            claims.append(Claim(claim_id=parsed[0], original_name=parsed[1], path=Path(entry.path)))
    claims.sort(key=lambda c: (c.claim_id, c.original_name))
    return claims


def list_strays(layout: IntakeLayout) -> list[str]:
    """Names in ``work/`` that are not claim names; left alone for an operator."""
    return sorted(e.name for e in _scan(layout.work) if parse_claim_name(e.name) is None)


def _inbox_entries(layout: IntakeLayout) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for entry in _scan(layout.inbox):
        if is_ignored(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # claimed by another process during the scan
        found.append((st.st_mtime_ns, entry.name))
    return found


def list_inbox(layout: IntakeLayout, limit: int | None = None) -> list[str]:
    """Pending inbox names, oldest first (ties by name); any file type is listed."""
    entries = _inbox_entries(layout)
    ordered = sorted(entries) if limit is None else heapq.nsmallest(limit, entries)
    return [name for _, name in ordered]


def inbox_stats(layout: IntakeLayout) -> tuple[int, float | None]:
    """``(pending count, age in seconds of the oldest pending file or None)``."""
    entries = _inbox_entries(layout)
    if not entries:
        return 0, None
    oldest_ns = min(mtime for mtime, _ in entries)
    return len(entries), max(0.0, (time.time_ns() - oldest_ns) / 1e9)
