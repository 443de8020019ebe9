"""A submission's way through the folders: claimed into ``work/``, read, filed as done or rejected.

:func:`claim` takes a file from ``inbox/`` by renaming it, no-replace, to its claim name in
``work/`` (see :mod:`agent.intake.folder.names`): when replicas race for a file exactly one wins.
:func:`read_claimed` reads it without following a link or opening anything but a regular file,
and :func:`finish` (or :func:`write_reason` then :func:`move_final`) files it, after its result,
into ``done/`` or ``rejected/``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from agent.intake.folder.layout import IntakeLayout
from agent.intake.folder.names import REASON_SUFFIX, Claim, claim_at, claim_name, new_claim_id
from agent.intake.folder.owners import Owner, held_id
from agent.intake.folder.renames import atomic_write, move_no_replace

__all__ = [
    "UnreadableSubmission",
    "claim",
    "finish",
    "move_final",
    "read_claimed",
    "write_reason",
]


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
    owner_id = held_id(owner) if owner is not None else None
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
    claimed = claim_at(target)  # the original may be trimmed, see claim_name
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
    path = layout.rejected / f"{claim.final_name}{REASON_SUFFIX}"
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
