"""The intake's folders and their listings: what counts as pending, claimed or stray."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from agent.intake.folder.layout import (
    IntakeLayout,
    inbox_stats,
    is_ignored,
    list_claims,
    list_inbox,
    list_strays,
    scan,
)


@pytest.mark.parametrize(
    ("name", "ignored"),
    [
        ("intent.json", False),
        ("intent", False),
        ("intent.tmp.json", False),
        (".hidden.json", True),
        (".", True),
        ("intent.json.tmp", True),
        ("intent.json.part", True),
        ("intent.TMP", False),
    ],
)
def test_is_ignored(name: str, ignored: bool) -> None:
    """Hidden, *.tmp and *.part names are ignored; everything else is a submission."""
    assert is_ignored(name) is ignored


# --- folders ---------------------------------------------------------------------------------


def test_ensure_creates_all_directories_with_mode_0750(tmp_path: Path) -> None:
    """ensure() creates root and the five folders (mode 0o750 less umask) and is repeatable."""
    layout = IntakeLayout(tmp_path / "root")
    layout.ensure()
    layout.ensure()
    umask = os.umask(0)
    os.umask(umask)
    for directory in (layout.root, layout.inbox, layout.work, layout.out, layout.done):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o750 & ~umask
    assert layout.rejected.is_dir()


# --- listings --------------------------------------------------------------------------------


def test_list_claims_sorted_and_strays_separate(layout: IntakeLayout) -> None:
    """list_claims returns claim-named entries by claim id; other names are strays."""
    ids = ["0000000000000002-aaaaaa", "0000000000000001-bbbbbb", "0000000000000003-cccccc"]
    for claim_id in ids:
        (layout.work / f"{claim_id}--intent.json").write_bytes(b"{}")
    (layout.work / "0000000000000004-dddddd--link").symlink_to(layout.root / "nowhere")
    (layout.work / "stray.json").write_bytes(b"{}")
    (layout.work / ".hidden").write_bytes(b"")

    claims = list_claims(layout)
    assert [c.claim_id for c in claims] == [*sorted(ids), "0000000000000004-dddddd"]
    assert claims[-1].original_name == "link"
    assert all(c.path.parent == layout.work for c in claims)
    assert list_strays(layout) == [".hidden", "stray.json"]


def _drop(layout: IntakeLayout, name: str, mtime: float) -> None:
    path = layout.inbox / name
    path.write_bytes(b"{}")
    os.utime(path, (mtime, mtime))


def test_list_inbox_ignores_temp_names_and_orders_by_mtime_then_name(
    layout: IntakeLayout,
) -> None:
    """Hidden/.tmp/.part names are skipped; the rest come oldest first, ties by name."""
    now = time.time()
    _drop(layout, "c.json", now - 30)
    _drop(layout, "b.json", now - 10)
    _drop(layout, "a.json", now - 10)
    for name in (".hidden", "x.json.tmp", "y.json.part"):
        _drop(layout, name, now - 100)
    (layout.inbox / "dangling").symlink_to(layout.root / "nowhere")
    os.utime(layout.inbox / "dangling", (now, now), follow_symlinks=False)

    assert list_inbox(layout) == ["c.json", "a.json", "b.json", "dangling"]
    assert list_inbox(layout, limit=2) == ["c.json", "a.json"]


def test_list_inbox_tolerates_files_vanishing_mid_scan(
    layout: IntakeLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file claimed by another process between readdir and stat is just skipped."""
    _drop(layout, "stays.json", time.time())
    _drop(layout, "goes.json", time.time())
    real_scan = scan

    def scan_then_lose_one(directory: Path) -> list[os.DirEntry[str]]:
        entries = real_scan(directory)
        (layout.inbox / "goes.json").unlink()
        return entries

    monkeypatch.setattr("agent.intake.folder.layout.scan", scan_then_lose_one)
    assert list_inbox(layout) == ["stays.json"]


def test_inbox_stats_counts_pending_files_and_oldest_age(layout: IntakeLayout) -> None:
    """inbox_stats reports (0, None) when empty, else the count and the oldest file's age."""
    assert inbox_stats(layout) == (0, None)
    now = time.time()
    _drop(layout, "old.json", now - 120)
    _drop(layout, "new.json", now - 5)
    _drop(layout, ".ignored.tmp", now - 1000)
    count, age = inbox_stats(layout)
    assert count == 2
    assert age is not None
    assert 119 < age < 150
