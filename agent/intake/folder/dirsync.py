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
    """Tickets for one directory: ``requested`` counts callers, ``synced`` those covered by a
    successful fsync, ``failed_upto`` those covered by a failed one."""

    __slots__ = ("changed", "failed_upto", "failure", "path", "requested", "running", "synced")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = threading.Condition()
        self.requested = 0
        self.synced = 0
        self.failed_upto = 0
        self.failure: OSError | None = None
        self.running = False

    def sync(self) -> None:
        with self.changed:
            self.requested += 1
            ticket = self.requested
            while True:
                if ticket <= self.failed_upto:
                    # Linux reports a writeback error to one fsync only: a later fsync of the
                    # same directory may succeed while this caller's rename was lost.
                    assert self.failure is not None
                    raise OSError(self.failure.errno, self.failure.strerror, str(self.path))
                if ticket <= self.synced:
                    return
                if self.running:
                    # The fsync in flight may have begun before this caller's rename.
                    self.changed.wait()
                    continue
                self.running = True
                covers = self.requested
                self.changed.release()
                failure: OSError | None = None
                try:
                    fsync_directory(self.path)
                except OSError as error:
                    failure = error
                finally:
                    self.changed.acquire()
                    self.running = False
                    self.changed.notify_all()
                if failure is not None:
                    self.failed_upto, self.failure = max(self.failed_upto, covers), failure
                else:
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
