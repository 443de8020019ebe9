"""The directory intake claims and completes in batches: one fsync per folder per batch, results
on disk before any original leaves work/, and one file's failure confined to its caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.domain.outcomes import Reason, Status
from agent.intake.folder import dirsync
from agent.intake.folder.intake import DirectoryIntake, DirectoryItem
from agent.intake.folder.layout import IntakeLayout


class FsyncLog:
    """Stands in for the directory fsync: records each folder synced and what work/ held then."""

    def __init__(self, layout: IntakeLayout) -> None:
        self.layout = layout
        self.synced: list[str] = []
        self.work_at_sync: list[set[str]] = []
        self.fail: set[str] = set()

    def __call__(self, path: Path) -> None:
        self.synced.append(path.name)
        self.work_at_sync.append({p.name for p in self.layout.work.iterdir() if p.is_file()})
        if path.name in self.fail:
            raise OSError(5, "Input/output error")


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[DirectoryIntake]:
    intake = DirectoryIntake(tmp_path / "intake", max_file_bytes=4096, rescan_interval_s=1.0)
    await intake.start(watch=False)
    yield intake
    await intake.aclose()


@pytest.fixture
def fsyncs(intake: DirectoryIntake, monkeypatch: pytest.MonkeyPatch) -> FsyncLog:
    log = FsyncLog(intake.layout)
    monkeypatch.setattr(dirsync, "fsync_directory", log)
    return log


def _drop(intake: DirectoryIntake, count: int) -> list[str]:
    names = [f"intent-{i:02d}.json" for i in range(count)]
    for name in names:
        (intake.layout.inbox / name).write_bytes(b'{"n": 1}')
    return names


async def _claim_all(intake: DirectoryIntake, names: list[str]) -> list[DirectoryItem]:
    items = await asyncio.gather(*(intake.claim(name) for name in names))
    assert all(item is not None for item in items)
    return [item for item in items if item is not None]


async def _complete(intake: DirectoryIntake, item: DirectoryItem, status: Status) -> Path:
    reason = None if status is Status.FILLED else Reason.BAD_SCHEMA
    return await intake.complete(
        item,
        status=status,
        reason=reason,
        result_name=item.claim.claim_id,
        result=f'{{"status": "{status.value}"}}',
    )


async def test_concurrent_claims_share_one_fsync_of_work(
    intake: DirectoryIntake, fsyncs: FsyncLog
) -> None:
    """Ten workers claiming at once are served by one batch: every file read, work/ synced once."""
    items = await _claim_all(intake, _drop(intake, 10))
    assert sorted(i.claim.original_name for i in items) == [
        f"intent-{i:02d}.json" for i in range(10)
    ]
    assert all(i.raw == b'{"n": 1}' for i in items)
    assert fsyncs.synced == ["work"]
    assert not list(intake.layout.inbox.iterdir())


async def test_a_claim_lost_to_another_process_or_a_bad_name_concerns_only_its_caller(
    intake: DirectoryIntake, fsyncs: FsyncLog
) -> None:
    """In one batch: a vanished file answers None, a path answers ValueError, the rest are claimed."""
    (name,) = _drop(intake, 1)
    results = await asyncio.gather(
        intake.claim(name),
        intake.claim("gone.json"),
        intake.claim("../escape.json"),
        return_exceptions=True,
    )
    assert isinstance(results[0], DirectoryItem) and results[0].claim.original_name == name
    assert results[1] is None
    assert isinstance(results[2], ValueError)


async def test_results_are_durable_before_any_original_leaves_work(
    intake: DirectoryIntake, fsyncs: FsyncLog
) -> None:
    """A batch of completions syncs out/ and rejected/ (results, reasons) while every original is
    still in work/, then moves them and syncs done/ and rejected/ once each."""
    items = await _claim_all(intake, _drop(intake, 6))
    fsyncs.synced.clear()
    fsyncs.work_at_sync.clear()
    statuses = [Status.FILLED, Status.REJECTED] * 3
    moved = await asyncio.gather(
        *(_complete(intake, item, status) for item, status in zip(items, statuses, strict=True))
    )
    assert fsyncs.synced == ["out", "rejected", "done", "rejected"]
    claimed = {item.claim.name for item in items}
    assert fsyncs.work_at_sync[0] == claimed and fsyncs.work_at_sync[1] == claimed
    assert fsyncs.work_at_sync[2] == set()
    layout = intake.layout
    for item, status, path in zip(items, statuses, moved, strict=True):
        assert (layout.out / f"{item.claim.claim_id}.result.json").exists()
        folder = layout.done if status is Status.FILLED else layout.rejected
        assert path == folder / item.claim.final_name and path.exists()
        reason = layout.rejected / f"{item.claim.final_name}.reason.json"
        assert reason.exists() == (status is not Status.FILLED)


async def test_a_result_that_cannot_be_written_fails_only_its_completion(
    intake: DirectoryIntake, fsyncs: FsyncLog
) -> None:
    """When one result cannot be written its original stays in work/; the batch's others finish."""
    items = await _claim_all(intake, _drop(intake, 3))
    blocked = items[1]
    (intake.layout.out / f"{blocked.claim.claim_id}.result.json").mkdir()
    results = await asyncio.gather(
        *(_complete(intake, item, Status.FILLED) for item in items), return_exceptions=True
    )
    assert isinstance(results[1], OSError)
    assert isinstance(results[0], Path) and isinstance(results[2], Path)
    assert blocked.claim.path.exists()
    assert {p.name for p in intake.layout.done.iterdir()} == {
        items[0].claim.final_name,
        items[2].claim.final_name,
    }


async def test_a_failed_fsync_of_out_moves_no_original(
    intake: DirectoryIntake, fsyncs: FsyncLog
) -> None:
    """When out/ cannot be synced, no result is known durable: every original of the batch stays
    in work/ (to be resumed) and every caller gets the error."""
    items = await _claim_all(intake, _drop(intake, 4))
    fsyncs.fail = {"out"}
    results = await asyncio.gather(
        *(_complete(intake, item, Status.FILLED) for item in items), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
    assert all(item.claim.path.exists() for item in items)
    assert not list(intake.layout.done.iterdir())


async def test_a_failed_fsync_after_the_moves_reaches_every_moved_caller(
    intake: DirectoryIntake, fsyncs: FsyncLog
) -> None:
    """When done/ cannot be synced the moves are not known durable: their callers get the error
    (a resumed run finds the file in done/ or work/ and finishes it idempotently)."""
    items = await _claim_all(intake, _drop(intake, 2))
    fsyncs.fail = {"done"}
    results = await asyncio.gather(
        *(_complete(intake, item, Status.FILLED) for item in items), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
