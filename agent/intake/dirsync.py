"""Directory fsyncs shared by concurrent callers: group commit for renames.

A rename (or a file created) in a directory is durable once that directory is fsynced after
it. When many worker threads rename into the same directory at once, one fsync started after
all of their renames covers every one of them. :class:`DirectorySync` hands out that shared
fsync: a caller whose rename happened before a running fsync began is covered by it; a later
caller waits for the next one, which covers everyone who arrived meanwhile. Under load the
number of fsyncs per directory falls from one per file to about one per batch of arrivals,
with the same guarantee for each caller: when :meth:`DirectorySync.sync` returns, everything
the caller did to that directory before calling it is on disk.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["DirectorySync", "fsync_directory"]


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Directory:
    """Tickets for one directory: ``requested`` counts callers, ``synced`` those covered."""

    __slots__ = ("changed", "path", "requested", "running", "synced")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = threading.Condition()
        self.requested = 0
        self.synced = 0
        self.running = False

    def sync(self) -> None:
        with self.changed:
            self.requested += 1
            ticket = self.requested
            while self.synced < ticket:
                if self.running:
                    # The fsync in flight may have begun before this caller's rename.
                    self.changed.wait()
                    continue
                self.running = True
                covers = self.requested
                self.changed.release()
                try:
                    fsync_directory(self.path)
                finally:
                    self.changed.acquire()
                    self.running = False
                    self.changed.notify_all()
                # Reached only when the fsync succeeded: a failure raises here, and the callers
                # it would have covered run their own and see the error for themselves.
                self.synced = max(self.synced, covers)


class DirectorySync:
    """Shared fsyncs per directory; thread-safe, one instance per intake layout."""

    __slots__ = ("_directories", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._directories: dict[Path, _Directory] = {}

    def sync(self, path: Path) -> None:
        """Return once everything done in ``path`` before this call is on disk."""
        with self._lock:
            directory = self._directories.get(path)
            if directory is None:
                directory = self._directories[path] = _Directory(path)
        directory.sync()
