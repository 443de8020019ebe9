"""Shared directory fsyncs: fewer fsyncs under concurrency, the same guarantee for each caller."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from agent.intake.folder import dirsync
from agent.intake.folder.dirsync import DirectorySync


class RecordingFsync:
    """Stands in for the fsync call only, recording when each began and ended on one clock."""

    def __init__(self, duration_s: float, fail_first: int = 0) -> None:
        self.duration_s = duration_s
        self.fail_first = fail_first
        self.clock = itertools.count()
        self.lock = threading.Lock()
        self.spans: list[tuple[int, int]] = []

    def tick(self) -> int:
        with self.lock:
            return next(self.clock)

    def __call__(self, path: Path) -> None:
        assert path.is_dir()
        began = self.tick()
        time.sleep(self.duration_s)
        with self.lock:
            if self.fail_first:
                self.fail_first -= 1
                raise OSError(5, "Input/output error")
            self.spans.append((began, next(self.clock)))


def test_concurrent_callers_share_fsyncs_and_each_is_covered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sixteen simultaneous callers need far fewer fsyncs, and each returns only after an fsync
    that began after it called."""
    fsync = RecordingFsync(duration_s=0.02)
    monkeypatch.setattr(dirsync, "fsync_directory", fsync)
    syncer = DirectorySync()
    calls: list[tuple[int, int]] = []
    start = threading.Barrier(16)

    def caller() -> None:
        start.wait()
        called = fsync.tick()
        syncer.sync(tmp_path)
        calls.append((called, fsync.tick()))

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 16
    assert 1 <= len(fsync.spans) <= 4
    for called, returned in calls:
        assert any(called < began and ended < returned for began, ended in fsync.spans)


def test_callers_one_after_another_each_get_their_own_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without overlap nothing is shared: every call runs an fsync of its own."""
    fsync = RecordingFsync(duration_s=0)
    monkeypatch.setattr(dirsync, "fsync_directory", fsync)
    syncer = DirectorySync()
    for _ in range(3):
        syncer.sync(tmp_path)
    assert len(fsync.spans) == 3


def test_a_failed_fsync_reaches_its_caller_and_the_next_call_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fsync error is raised to the caller and covers nobody; the next call syncs afresh."""
    fsync = RecordingFsync(duration_s=0, fail_first=1)
    monkeypatch.setattr(dirsync, "fsync_directory", fsync)
    syncer = DirectorySync()
    with pytest.raises(OSError, match="Input/output error"):
        syncer.sync(tmp_path)
    syncer.sync(tmp_path)
    assert len(fsync.spans) == 1


def test_every_caller_a_failed_fsync_covered_gets_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Callers waiting on a shared fsync that fails all get an OSError, none a success from a
    later fsync (a writeback error is reported to one fsync only); later callers sync afresh."""
    release = threading.Event()
    calls: list[int] = []

    def fsync(path: Path) -> None:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            release.wait(5)  # the first caller's fsync is in flight while the others arrive
        elif len(calls) == 2:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(dirsync, "fsync_directory", fsync)
    syncer = DirectorySync()
    results: dict[str, str] = {}

    def caller(name: str) -> None:
        try:
            syncer.sync(tmp_path)
            results[name] = "synced"
        except OSError as error:
            results[name] = f"errno {error.errno}"

    first = threading.Thread(target=caller, args=("first",))
    first.start()
    while not calls:
        time.sleep(0.001)
    waiting = [threading.Thread(target=caller, args=(f"w{i}",)) for i in range(3)]
    for thread in waiting:
        thread.start()
    while syncer._directories[tmp_path].requested < 4:
        time.sleep(0.001)
    release.set()
    for thread in [first, *waiting]:
        thread.join()
    assert results == {"first": "synced", "w0": "errno 5", "w1": "errno 5", "w2": "errno 5"}
    syncer.sync(tmp_path)
    assert len(calls) == 3


def test_directories_are_synced_independently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each directory gets its own fsync: syncing one never counts for another."""
    fsync = RecordingFsync(duration_s=0)
    synced: list[Path] = []

    def recording(path: Path) -> None:
        synced.append(path)
        fsync(path)

    monkeypatch.setattr(dirsync, "fsync_directory", recording)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    syncer = DirectorySync()
    syncer.sync(first)
    syncer.sync(second)
    syncer.sync(first)
    assert synced == [first, second, first]


def test_a_real_directory_is_fsynced(tmp_path: Path) -> None:
    """Without stand-ins the fsync is the system's: a missing directory is an OSError."""
    syncer = DirectorySync()
    syncer.sync(tmp_path)
    with pytest.raises(FileNotFoundError):
        syncer.sync(tmp_path / "missing")


def test_claims_results_and_moves_are_made_durable_through_the_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claiming fsyncs work/, a result fsyncs out/, finishing fsyncs done/: all through the
    layout's shared syncer."""
    from agent.intake.folder.claims import claim, finish
    from agent.intake.folder.layout import IntakeLayout
    from agent.intake.folder.renames import atomic_write

    synced: list[str] = []
    monkeypatch.setattr(dirsync, "fsync_directory", lambda path: synced.append(path.name))
    layout = IntakeLayout(tmp_path)
    layout.ensure()
    (layout.inbox / "a.json").write_bytes(b"{}")
    claimed = claim(layout, "a.json")
    assert claimed is not None and synced == ["work"]
    atomic_write(layout.out / "a.result.json", b"{}", sync_directory=layout.sync)
    finish(layout, claimed, accepted=True)
    assert synced == ["work", "out", "done"]
