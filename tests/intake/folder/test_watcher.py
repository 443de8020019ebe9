from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.intake.folder import watcher as watcher_module
from agent.intake.folder.watcher import InboxWatcher

MakeWatcher = Callable[[Path, float], Awaitable[InboxWatcher]]

# Generous bound for "returns promptly": real latency is ~50-100 ms, CI machines are slow.
PROMPT_S = 1.0


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
async def make_watcher() -> AsyncIterator[MakeWatcher]:
    started: list[InboxWatcher] = []

    async def make(inbox: Path, rescan_interval_s: float) -> InboxWatcher:
        w = InboxWatcher(inbox, rescan_interval_s=rescan_interval_s)
        await asyncio.wait_for(w.start(), PROMPT_S)
        started.append(w)
        return w

    yield make
    for w in started:
        await asyncio.wait_for(w.aclose(), PROMPT_S)


async def _timed_wait(w: InboxWatcher, bound_s: float, wait_timeout: float | None = None) -> float:
    began = time.monotonic()
    await asyncio.wait_for(w.wait(wait_timeout), bound_s)
    return time.monotonic() - began


def _drop_atomically(inbox: Path, name: str) -> None:
    staging = inbox.parent / f"{name}.staging"
    staging.write_bytes(b"{}")
    staging.rename(inbox / name)


async def test_wait_returns_promptly_when_a_file_is_renamed_in(
    inbox: Path, make_watcher: MakeWatcher
) -> None:
    """A file renamed into the inbox wakes wait() long before the 30 s rescan interval."""
    w = await make_watcher(inbox, 30.0)
    waiter = asyncio.create_task(_timed_wait(w, PROMPT_S))
    await asyncio.sleep(0)
    _drop_atomically(inbox, "intent.json")
    assert await waiter < PROMPT_S


async def test_notification_before_wait_is_not_lost(inbox: Path, make_watcher: MakeWatcher) -> None:
    """An arrival while the caller is busy makes the next wait() return at once."""
    w = await make_watcher(inbox, 30.0)
    _drop_atomically(inbox, "intent.json")
    await asyncio.sleep(0.3)  # the watcher yields after ~50 ms of quiet
    assert await _timed_wait(w, PROMPT_S) < 0.1


async def test_wait_returns_after_rescan_interval_without_events(
    inbox: Path, make_watcher: MakeWatcher
) -> None:
    """With no filesystem activity wait() returns once the rescan interval has passed."""
    w = await make_watcher(inbox, 0.2)
    assert 0.15 < await _timed_wait(w, PROMPT_S) < PROMPT_S


async def test_wait_timeout_shortens_the_interval(inbox: Path, make_watcher: MakeWatcher) -> None:
    """A timeout shorter than the rescan interval bounds the wait."""
    w = await make_watcher(inbox, 30.0)
    assert await _timed_wait(w, PROMPT_S, wait_timeout=0.1) < PROMPT_S


async def test_temp_files_do_not_wake_but_their_rename_does(
    inbox: Path, make_watcher: MakeWatcher
) -> None:
    """Writing a hidden .tmp file is ignored; renaming it to its final name wakes wait()."""
    w = await make_watcher(inbox, 0.5)
    temp = inbox / ".intent.json.tmp"
    temp.write_bytes(b"{}")
    assert await _timed_wait(w, 2.0) > 0.4
    waiter = asyncio.create_task(_timed_wait(w, PROMPT_S))
    await asyncio.sleep(0)
    temp.rename(inbox / "intent.json")
    assert await waiter < 0.4


async def test_wait_works_without_start(inbox: Path) -> None:
    """An unstarted watcher still returns after each rescan interval."""
    w = InboxWatcher(inbox, rescan_interval_s=0.1)
    assert await _timed_wait(w, PROMPT_S) < PROMPT_S
    await asyncio.wait_for(w.aclose(), PROMPT_S)


async def test_aclose_is_prompt_and_repeatable(inbox: Path) -> None:
    """aclose() stops the background watch quickly and can be called twice."""
    w = InboxWatcher(inbox, rescan_interval_s=30.0)
    await asyncio.wait_for(w.start(), PROMPT_S)
    await asyncio.sleep(0.1)
    began = time.monotonic()
    await asyncio.wait_for(w.aclose(), PROMPT_S)
    assert time.monotonic() - began < 0.5
    await asyncio.wait_for(w.aclose(), PROMPT_S)


def _failing_awatch(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
    raise OSError(errno.ENOSPC, "OS file watch limit reached")


@pytest.mark.parametrize("cause", ["missing_inbox", "inotify_limit"])
async def test_watch_failure_is_logged_once_and_falls_back_to_rescans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cause: str
) -> None:
    """If watchfiles cannot watch, one warning is logged and wait() falls back to the interval."""
    inbox = tmp_path / "inbox"
    if cause == "inotify_limit":
        inbox.mkdir()
        monkeypatch.setattr(watcher_module.watchfiles, "awatch", _failing_awatch)
    w = InboxWatcher(inbox, rescan_interval_s=0.1)
    with capture_logs() as logs:
        await asyncio.wait_for(w.start(), PROMPT_S)
        for _ in range(3):
            assert await _timed_wait(w, PROMPT_S) < PROMPT_S
        await asyncio.wait_for(w.aclose(), PROMPT_S)
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == ["inbox_watch_unavailable"]
    assert warnings[0]["inbox"] == str(inbox)
