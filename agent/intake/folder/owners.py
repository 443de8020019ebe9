"""Replicas sharing an intake root: owner identities, and taking over from dead owners.

A replica first takes an owner identity (:func:`acquire_owner`): a short id
(:func:`~agent.intake.folder.names.new_owner_id`) and the lock file ``work/.owners/<owner-id>.lock``,
created exclusively and held under an exclusive ``flock`` for as long as the replica lives. The
kernel drops the lock when the process dies, even on SIGKILL, so an owner whose lock file can be
locked by someone else, or whose lock file is gone, is dead. (flock locks belong to an open file
description: two owners in one process exclude each other too, and a child that inherits the
descriptor keeps the owner alive.)

Only the owner processes its claims. At start a replica adopts (:func:`adopt_orphans`) the
claims of dead owners and ownerless ones: it locks each dead owner's lock file, renames each of
its claims to ``<claim-id>.<own-id>--<original>`` with the no-replace rename (when two replicas
race for a claim exactly one rename succeeds; the other skips it) and then deletes the dead
owner's lock file. Likewise :func:`sweep_own_temp_files` removes only the partial writes of the
sweeping owner, of dead owners and untagged ones.

Do not run this version next to a live older agent on the same root: an older agent's claims
are ownerless and would be adopted while it still works on them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import time
from pathlib import Path

from agent.intake.folder.layout import DIR_MODE, IntakeLayout, list_claims, scan
from agent.intake.folder.names import (
    Claim,
    claim_at,
    claim_name,
    is_owner_id,
    new_owner_id,
    parse_temp_name,
)
from agent.intake.folder.renames import FILE_MODE, move_no_replace, same_file

__all__ = [
    "Owner",
    "acquire_owner",
    "adopt_orphans",
    "held_id",
    "owner_is_dead",
    "sweep_own_temp_files",
]

_LOCK_SUFFIX = ".lock"


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


def held_id(owner: Owner) -> str:
    """The id of ``owner``; RuntimeError once it was released."""
    if not owner.held:
        raise RuntimeError(f"owner {owner.id} was released")
    return owner.id


def _names_same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (it may have been deleted or
    replaced between open and flock)."""
    try:
        return same_file(path.lstat(), os.fstat(fd))
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
        layout.owners.mkdir(mode=DIR_MODE, exist_ok=True)
        owner_id = new_owner_id()
        path = _owner_lock_path(layout, owner_id)
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, FILE_MODE)
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
    dead, fd = _lock_if_dead(_owner_lock_path(layout, owner_id))
    if fd is not None:
        os.close(fd)
    return dead


def _lock_file_owners(layout: IntakeLayout) -> set[str]:
    try:
        entries = scan(layout.owners)
    except FileNotFoundError:
        return set()
    found = set()
    for entry in entries:
        stem, suffix = entry.name[: -len(_LOCK_SUFFIX)], entry.name[-len(_LOCK_SUFFIX) :]
        if suffix == _LOCK_SUFFIX and is_owner_id(stem):
            found.add(stem)
    return found


# --- taking over -----------------------------------------------------------------------------


def adopt_orphans(layout: IntakeLayout, owner: Owner) -> list[Claim]:
    """Re-claim for ``owner`` the claims of dead owners and ownerless claims; delete the dead
    owners' lock files. Returns the claims adopted now, oldest first.

    Each is renamed (no-replace) to ``<claim-id>.<owner>--<original>``: when replicas race for
    one, exactly one rename succeeds. Safe to call at any time; a live owner's claims are never
    touched.
    """
    own = held_id(owner)
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
                taken = claim_at(target)
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


def sweep_own_temp_files(layout: IntakeLayout, owner: Owner | None = None) -> list[str]:
    """Remove partial writes of :func:`~agent.intake.folder.renames.atomic_write` that a crash left in
    out/ and rejected/.

    Only the agent writes into those folders, and only it names files this way, so no
    submission can ever be touched here. Removed: untagged ones, ``owner``'s own, and those of
    dead owners; a live replica's write in progress stays.
    """
    own = owner.id if owner is not None else None
    dead: dict[str, bool] = {}
    removed = []
    for folder in (layout.out, layout.rejected):
        for entry in scan(folder):
            parsed = parse_temp_name(entry.name)
            if parsed is None or not entry.is_file(follow_symlinks=False):
                continue
            tag = parsed[1]
            if tag is not None and tag != own:
                if tag not in dead:
                    dead[tag] = owner_is_dead(layout, tag)
                if not dead[tag]:
                    continue
            Path(entry.path).unlink(missing_ok=True)
            removed.append(entry.name)
    return removed
