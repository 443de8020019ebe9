"""File-system side of the directory intake.

Layout under one root: ``inbox/`` → (claim) ``work/`` → ``done/`` or ``rejected/``, with results
in ``out/``. Several processes (replicas) may watch the same root, so every hand-over is a rename
that refuses to replace an existing name; nothing here deletes a submission, follows a link, or
opens a non-regular file in a way that could block.

Owners. A replica first takes an owner identity (:func:`acquire_owner`): a short id
(``<pid in base 36>_<5 random base-36 characters>``, at most 11 characters of ``[0-9a-z_]``) and
the lock file ``work/.owners/<owner-id>.lock``, created exclusively and held under an exclusive
``flock`` for as long as the replica lives. The kernel drops the lock when the process dies,
even on SIGKILL, so an owner whose lock file can be locked by someone else, or whose lock file
is gone, is dead. (flock locks belong to an open file description: two owners in one process
exclude each other too, and a child that inherits the descriptor keeps the owner alive.)

Claim names in ``work/``:

* ``<claim-id>.<owner-id>--<original>``: claimed by that owner;
* ``<claim-id>--<original>``: ownerless (an older agent, or :func:`claim` without an owner).

Only the owner processes its claims. At start a replica adopts (:func:`adopt_orphans`) the
claims of dead owners and ownerless ones: it locks each dead owner's lock file, renames each of
its claims to ``<claim-id>.<own-id>--<original>`` with the same no-replace rename (when two
replicas race for a claim exactly one rename succeeds; the other skips it) and then deletes the
dead owner's lock file. The claim id, which the store knows the submission by, never changes.
``done/`` and ``rejected/`` get the owner-free name ``<claim-id>--<original>``, so the owner tag
exists only while a file is in ``work/``. Temporary files of :func:`atomic_write` carry their
owner too (``.<name>.<8 hex>.<owner-id>.tmp``), and :func:`sweep_own_temp_files` removes only
those of the sweeping owner, of dead owners and untagged ones.

Do not run this version next to a live older agent on the same root: an older agent's claims
are ownerless and would be adopted while it still works on them.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import heapq
import json
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.intake.dirsync import DirectorySync, fsync_directory

__all__ = [
    "OWNERS_DIR",
    "Claim",
    "IntakeLayout",
    "Owner",
    "UnreadableSubmission",
    "acquire_owner",
    "adopt_orphans",
    "atomic_write",
    "claim",
    "claim_name",
    "finish",
    "inbox_stats",
    "is_ignored",
    "list_claims",
    "list_inbox",
    "list_strays",
    "move_final",
    "move_no_replace",
    "new_claim_id",
    "new_owner_id",
    "parse_claim",
    "parse_claim_name",
    "read_claimed",
    "sweep_own_temp_files",
    "write_reason",
]

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# Filesystems without RENAME_NOREPLACE (and kernels without renameat2) answer with these.
_NOREPLACE_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL})

_REASON_SUFFIX = ".reason.json"
# Linux NAME_MAX; a claim name must leave room for the reason file written beside it.
_NAME_MAX = 255
_MAX_CLAIM_NAME_BYTES = _NAME_MAX - len(_REASON_SUFFIX)

# An owner tag (".<owner-id>") is never longer than the reason suffix: a claim name that fits
# beside its reason file in rejected/ without the tag still fits NAME_MAX in work/ with it.
_MAX_OWNER_ID = len(_REASON_SUFFIX) - 1
_OWNER_ID = rf"[0-9a-z_]{{1,{_MAX_OWNER_ID}}}"
_OWNER_ID_RE = re.compile(_OWNER_ID)
_CLAIM_NAME_RE = re.compile(
    rf"(?P<claim_id>[0-9a-f]{{16}}-[0-9a-f]{{6}})(?:\.(?P<owner>{_OWNER_ID}))?--(?P<original>.+)",
    re.DOTALL,
)

# work/.owners/<owner-id>.lock: one per live (or not yet adopted dead) owner.
OWNERS_DIR = ".owners"
_LOCK_SUFFIX = ".lock"

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


def _truncate_name(name: str, max_bytes: int) -> str:
    # Trims whole characters so a multi-byte UTF-8 sequence is never split.
    while len(os.fsencode(name)) > max_bytes:
        name = name[:-1]
    return name


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
    :class:`~agent.intake.dirsync.DirectorySync`).
    """
    tag = f".{_check_owner_id(owner)}" if owner is not None else ""
    tmp = path.with_name(f".{_truncate_name(path.name, 200)}.{secrets.token_hex(4)}{tag}.tmp")
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
    sync_directory(path.parent)


# The shortest base wins, so a tagged name always parses with its owner.
_OWN_TEMP = re.compile(rf"\..+?\.[0-9a-f]{{8}}(?:\.(?P<owner>{_OWNER_ID}))?\.tmp", re.DOTALL)


def sweep_own_temp_files(layout: IntakeLayout, owner: Owner | None = None) -> list[str]:
    """Remove partial writes of :func:`atomic_write` that a crash left in out/ and rejected/.

    Only the agent writes into those folders, and only it names files this way, so no
    submission can ever be touched here. Removed: untagged ones, ``owner``'s own, and those of
    dead owners; a live replica's write in progress stays.
    """
    own = owner.id if owner is not None else None
    dead: dict[str, bool] = {}
    removed = []
    for folder in (layout.out, layout.rejected):
        for entry in _scan(folder):
            match = _OWN_TEMP.fullmatch(entry.name)
            if match is None or not entry.is_file(follow_symlinks=False):
                continue
            tag = match["owner"]
            if tag is not None and tag != own:
                if tag not in dead:
                    dead[tag] = _owner_is_dead(layout, tag)
                if not dead[tag]:
                    continue
            Path(entry.path).unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


@dataclass(frozen=True)
class IntakeLayout:
    root: Path
    # Concurrent claims and moves into one directory share its fsyncs (see dirsync).
    syncer: DirectorySync = field(default_factory=DirectorySync, compare=False, repr=False)

    def sync(self, directory: Path) -> None:
        """Make what was renamed into ``directory`` so far durable."""
        self.syncer.sync(directory)

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

    @property
    def owners(self) -> Path:
        return self.work / OWNERS_DIR

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


def new_owner_id() -> str:
    """``<pid in base 36>_<5 random base-36 characters>``: at most 11 characters."""
    return f"{_base36(os.getpid())}_{_random_base36(5)}"


_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(value: int) -> str:
    digits = ""
    while True:
        value, digit = divmod(value, 36)
        digits = _BASE36[digit] + digits
        if not value:
            return digits


def _random_base36(length: int) -> str:
    return "".join(secrets.choice(_BASE36) for _ in range(length))


def _check_owner_id(owner: str) -> str:
    if not _OWNER_ID_RE.fullmatch(owner):
        raise ValueError(f"not an owner id: {owner!r}")
    return owner


def claim_name(claim_id: str, original: str, owner: str | None = None) -> str:
    """``<claim_id>--<original>``, or ``<claim_id>.<owner>--<original>`` for an owned claim.

    An overlong original is trimmed so that the owner-free name leaves room for the reason
    file beside it in rejected/ (the owner tag fits in that room, so it never costs more).
    """
    budget = _MAX_CLAIM_NAME_BYTES - len(os.fsencode(f"{claim_id}--"))
    prefix = f"{claim_id}--" if owner is None else f"{claim_id}.{_check_owner_id(owner)}--"
    budget = min(budget, _NAME_MAX - len(os.fsencode(prefix)))
    return prefix + _truncate_name(original, budget)


def parse_claim(name: str) -> tuple[str, str | None, str] | None:
    """``(claim_id, owner or None, original_name)``, or None when ``name`` is not a claim name."""
    match = _CLAIM_NAME_RE.fullmatch(name)
    if match is None:
        return None
    return match["claim_id"], match["owner"], match["original"]


def parse_claim_name(name: str) -> tuple[str, str] | None:
    """``(claim_id, original_name)``, or None when ``name`` is not a claim name (owned or not)."""
    parsed = parse_claim(name)
    if parsed is None:
        return None
    return parsed[0], parsed[2]


@dataclass(frozen=True)
class Claim:
    claim_id: str
    original_name: str
    path: Path
    owner: str | None = None

    @property
    def name(self) -> str:
        """The name in ``work/``."""
        return self.path.name

    @property
    def final_name(self) -> str:
        """The name in ``done/`` or ``rejected/``: the claim name without the owner."""
        return claim_name(self.claim_id, self.original_name)


def _claim_at(path: Path) -> Claim | None:
    parsed = parse_claim(path.name)
    if parsed is None:
        return None
    claim_id, owner, original = parsed
    return Claim(claim_id=claim_id, original_name=original, path=path, owner=owner)


def claim(
    layout: IntakeLayout,
    name: str,
    owner: Owner | None = None,
    *,
    sync_directory: Callable[[Path], None] | None = None,
) -> Claim | None:
    """Move ``inbox/name`` into ``work/``; None when another process claimed it first.

    With ``owner`` the claim is named for it (the owner must still hold its lock). The claim
    is durable when this returns, unless ``sync_directory`` defers the fsync of ``work/``: a
    batch of claims then shares one, which must run before any of them is acted on.
    """
    if not name or name in {".", ".."} or "/" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    owner_id = _held_id(owner) if owner is not None else None
    claim_id = new_claim_id()
    name_in_work = claim_name(claim_id, name, owner_id)
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
    (sync_directory or layout.sync)(layout.work)
    claimed = _claim_at(target)  # the original may be trimmed, see claim_name
    assert claimed is not None
    return claimed


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
    owner: str | None = None,
) -> Path:
    """Move a claimed file to ``done/`` or ``rejected/``; safe to repeat after a resume.

    It arrives there under its owner-free name (:attr:`Claim.final_name`). The reason file's
    temporary name carries ``owner`` (by default the claim's).
    """
    if accepted and reason_document is not None:
        raise ValueError("a reason document is only written for rejected submissions")
    if reason_document is not None:
        # Written (and made durable) first, so a rejected file never sits in rejected/
        # without its reason.
        write_reason(layout, claim, reason_document, owner=owner)
    return move_final(layout, claim, accepted=accepted)


def write_reason(
    layout: IntakeLayout,
    claim: Claim,
    document: bytes,
    *,
    owner: str | None = None,
    sync_directory: Callable[[Path], None] | None = None,
) -> Path:
    """Write the reason file a rejected claim gets beside it in ``rejected/``.

    Call it before :func:`move_final`, and let its ``sync_directory`` run before that move.
    """
    path = layout.rejected / f"{claim.final_name}{_REASON_SUFFIX}"
    atomic_write(
        path,
        document,
        owner=owner if owner is not None else claim.owner,
        sync_directory=sync_directory or layout.sync,
    )
    return path


def move_final(
    layout: IntakeLayout,
    claim: Claim,
    *,
    accepted: bool,
    sync_directory: Callable[[Path], None] | None = None,
) -> Path:
    """Move a claimed file to ``done/`` (accepted) or ``rejected/``; safe to repeat."""
    target_dir = layout.done if accepted else layout.rejected
    target = target_dir / claim.final_name
    try:
        move_no_replace(claim.path, target)
    except FileNotFoundError:
        if os.path.lexists(target):
            return target
        raise
    (sync_directory or layout.sync)(target_dir)
    return target


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as entries:
        return list(entries)


def list_claims(layout: IntakeLayout) -> list[Claim]:
    """Files in ``work/`` with claim names (of any owner, or none), oldest claim first."""
    claims: list[Claim] = []
    for entry in _scan(layout.work):
        found = _claim_at(Path(entry.path))
        if found is not None:
            claims.append(found)
    claims.sort(key=lambda c: (c.claim_id, c.original_name, c.owner or ""))
    return claims


def list_strays(layout: IntakeLayout) -> list[str]:
    """Names in ``work/`` that are neither claim names nor the owners folder; left alone."""
    return sorted(
        e.name
        for e in _scan(layout.work)
        if e.name != OWNERS_DIR and parse_claim_name(e.name) is None
    )


# --- owners --------------------------------------------------------------------------------


class Owner:
    """One replica's identity on a root: its id, and the flocked lock file that proves it alive.

    Keep it for the life of the process; :meth:`release` (a clean stop) deletes the lock file,
    after which any claims still named for this owner may be adopted by another replica.
    """

    def __init__(self, owner_id: str, lock_path: Path, fd: int) -> None:
        self.id = owner_id
        self.lock_path = lock_path
        self._fd: int | None = fd

    def __repr__(self) -> str:
        return f"Owner({self.id!r}, held={self.held})"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Delete the lock file (while still locked, so no one else can be misled), unlock,
        and remove ``work/.owners`` if that left it empty. Repeatable."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlink_if_locked_file(self.lock_path, fd)
        finally:
            os.close(fd)
        # Fails while other owners' lock files are there; a replica creating its own lock file
        # at this moment retries (see acquire_owner).
        with contextlib.suppress(OSError):
            self.lock_path.parent.rmdir()


def _held_id(owner: Owner) -> str:
    if not owner.held:
        raise RuntimeError(f"owner {owner.id} was released")
    return owner.id


def _names_same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (it may have been deleted or
    replaced between open and flock)."""
    try:
        return _same_file(path.lstat(), os.fstat(fd))
    except FileNotFoundError:
        return False


def _unlink_if_locked_file(path: Path, fd: int) -> None:
    if _names_same_file(path, fd):
        path.unlink(missing_ok=True)


def _owner_lock_path(layout: IntakeLayout, owner_id: str) -> Path:
    return layout.owners / f"{owner_id}{_LOCK_SUFFIX}"


def acquire_owner(layout: IntakeLayout, *, attempts: int = 100) -> Owner:
    """Take a fresh owner identity: create ``work/.owners/<id>.lock`` exclusively and flock it.

    An id whose lock file exists, or that claims in ``work/`` already carry, is never reused.
    """
    for _ in range(attempts):
        layout.owners.mkdir(mode=_DIR_MODE, exist_ok=True)
        owner_id = new_owner_id()
        path = _owner_lock_path(layout, owner_id)
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, _FILE_MODE)
        except FileExistsError:
            continue  # the id is taken (perhaps by a dead owner not yet adopted)
        except FileNotFoundError:
            continue  # a stopping replica removed the empty owners folder just now
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # A replica found it unlocked before our flock, took it for a dead owner's and
            # will delete it: give it up.
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        owner = Owner(owner_id, path, fd)
        try:
            # Deleted by such a replica between our open and our flock: not ours any more.
            reusable = _names_same_file(path, fd) and not any(
                c.owner == owner_id for c in list_claims(layout)
            )
            if reusable:
                info = {
                    "owner": owner_id,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "started_at": time.time(),
                }
                os.write(fd, json.dumps(info).encode("utf-8"))
                return owner
        except BaseException:
            owner.release()
            raise
        owner.release()
    raise RuntimeError(f"could not take an owner id under {layout.owners}")


def _lock_if_dead(path: Path) -> tuple[bool, int | None]:
    """``(dead, fd)`` for the owner whose lock file is ``path``.

    Dead with an fd: we now hold its lock, so it cannot come back while we adopt its claims.
    Dead without one: its lock file is gone (an owner keeps it from before its first claim until
    after its last, so only a dead owner lacks one). Anything unclear counts as alive.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return True, None
    except OSError:
        return False, None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return False, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EWOULDBLOCK: the owner (or a replica adopting from it) holds it
            os.close(fd)
            return False, None
        if _names_same_file(path, fd):
            return True, fd
        # Deleted meanwhile by a replica that adopted from it, or replaced: let go, look again.
        os.close(fd)
    except BaseException:
        os.close(fd)
        raise
    return (True, None) if not os.path.lexists(path) else (False, None)


def owner_is_dead(layout: IntakeLayout, owner_id: str) -> bool:
    """Whether the replica ``owner_id`` of this root has stopped (its lock is free or gone)."""
    return _owner_is_dead(layout, owner_id)


def _owner_is_dead(layout: IntakeLayout, owner_id: str) -> bool:
    dead, fd = _lock_if_dead(_owner_lock_path(layout, owner_id))
    if fd is not None:
        os.close(fd)
    return dead


def _lock_file_owners(layout: IntakeLayout) -> set[str]:
    try:
        entries = _scan(layout.owners)
    except FileNotFoundError:
        return set()
    found = set()
    for entry in entries:
        stem, suffix = entry.name[: -len(_LOCK_SUFFIX)], entry.name[-len(_LOCK_SUFFIX) :]
        if suffix == _LOCK_SUFFIX and _OWNER_ID_RE.fullmatch(stem):
            found.add(stem)
    return found


def adopt_orphans(layout: IntakeLayout, owner: Owner) -> list[Claim]:
    """Re-claim for ``owner`` the claims of dead owners and ownerless claims; delete the dead
    owners' lock files. Returns the claims adopted now, oldest first.

    Each is renamed (no-replace) to ``<claim-id>.<owner>--<original>``: when replicas race for
    one, exactly one rename succeeds. Safe to call at any time; a live owner's claims are never
    touched.
    """
    own = _held_id(owner)
    others = ({c.owner for c in list_claims(layout)} | _lock_file_owners(layout)) - {own}
    dead: dict[str, int | None] = {}
    try:
        for other in sorted(o for o in others if o is not None):
            is_dead, fd = _lock_if_dead(_owner_lock_path(layout, other))
            if is_dead:
                dead[other] = fd
        adopted: list[Claim] = []
        # Listed again now that the dead owners' locks are held: everything they ever claimed.
        for found in list_claims(layout):
            if found.owner is None or found.owner in dead:
                target = layout.work / claim_name(found.claim_id, found.original_name, own)
                try:
                    move_no_replace(found.path, target)
                except (FileNotFoundError, FileExistsError):
                    continue  # another replica adopted (or finished) it first
                taken = _claim_at(target)
                assert taken is not None
                adopted.append(taken)
        if adopted:
            layout.sync(layout.work)
        for other, fd in dead.items():
            if fd is not None:
                _unlink_if_locked_file(_owner_lock_path(layout, other), fd)
        return adopted
    finally:
        for fd in dead.values():
            if fd is not None:
                os.close(fd)


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
