"""The directory intake's folders, and what is in them.

Layout under one root: ``inbox/`` → (claim) ``work/`` → ``done/`` or ``rejected/``, with results
in ``out/``, and the owners' lock files in ``work/.owners/`` (see :mod:`agent.intake.folder.owners`).
Several processes (replicas) may watch the same root, so every hand-over is a rename that
refuses to replace an existing name (:func:`~agent.intake.folder.renames.move_no_replace`); the intake
never deletes a submission, follows a link, or opens a non-regular file in a way that could
block. Listing a folder only reads names and ``lstat`` results.
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.intake.folder.dirsync import DirectorySync
from agent.intake.folder.names import Claim, claim_at, parse_claim_name

__all__ = [
    "DIR_MODE",
    "OWNERS_DIR",
    "IntakeLayout",
    "inbox_stats",
    "is_ignored",
    "list_claims",
    "list_inbox",
    "list_strays",
    "scan",
]

# work/.owners/<owner-id>.lock: one per live (or not yet adopted dead) owner.
OWNERS_DIR = ".owners"

DIR_MODE = 0o750


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
            directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def is_ignored(name: str) -> bool:
    """Names writers use while a file is still being written; they stay in the inbox."""
    return name.startswith(".") or name.endswith((".tmp", ".part"))


def scan(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as entries:
        return list(entries)


# --- inbox -----------------------------------------------------------------------------------


def _inbox_entries(layout: IntakeLayout) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for entry in scan(layout.inbox):
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


# --- work ------------------------------------------------------------------------------------


def list_claims(layout: IntakeLayout) -> list[Claim]:
    """Files in ``work/`` with claim names (of any owner, or none), oldest claim first."""
    claims: list[Claim] = []
    for entry in scan(layout.work):
        found = claim_at(Path(entry.path))
        if found is not None:
            claims.append(found)
    claims.sort(key=lambda c: (c.claim_id, c.original_name, c.owner or ""))
    return claims


def list_strays(layout: IntakeLayout) -> list[str]:
    """Names in ``work/`` that are neither claim names nor the owners folder; left alone."""
    return sorted(
        e.name
        for e in scan(layout.work)
        if e.name != OWNERS_DIR and parse_claim_name(e.name) is None
    )
