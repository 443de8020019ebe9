"""Wakes the intake loop when files may have arrived in the inbox.

Notifications only shorten the wait: callers rescan the inbox after every wake-up, so a lost,
spurious or coalesced notification costs at most one rescan interval, never a file.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import structlog
import watchfiles

from agent.intake.folder.layout import is_ignored

__all__ = ["InboxWatcher"]

log = structlog.get_logger(__name__)

# Changes are yielded once the inbox is quiet for _STEP_MS, or after _DEBOUNCE_MS at most.
# Both are small because a file waits here before anything else happens to it: at 200 files a
# second the inbox is never quiet for long, and a 200 ms debounce was most of the latency.
# The price: the watch thread wakes every _STEP_MS to check for a stop (a few hundred brief
# wake-ups a second, idle or busy); a flood of arrivals costs no extra scans, since the feeder
# waits on the watcher only when a scan came up empty.
_STEP_MS = 2
_DEBOUNCE_MS = 10
# The watch thread cannot be interrupted; this bounds how long a task cancellation that
# bypasses aclose() waits for it.
_RUST_TIMEOUT_MS = 1000


def _is_arrival(change: watchfiles.Change, path: str) -> bool:
    # Deletions are mostly our own claims; temp files are not ready yet. Neither needs a rescan.
    return change != watchfiles.Change.deleted and not is_ignored(Path(path).name)


class InboxWatcher:
    def __init__(self, inbox: Path, *, rescan_interval_s: float = 1.0) -> None:
        self._inbox = inbox
        self._rescan_interval_s = rescan_interval_s
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._watch(self._stop), name="inbox-watcher")
        # One loop turn lets the task register the inotify watch (awatch does it synchronously
        # before its first await), so files arriving after start() returns are not missed.
        await asyncio.sleep(0)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # The watch thread checks the stop event every _STEP_MS, so this returns promptly.
        self._stop.set()
        await task

    # `timeout` is part of the intake's interface; it only ever shortens the rescan interval.
    async def wait(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return on an inbox notification or after the rescan interval (or ``timeout``)."""
        limit = self._rescan_interval_s
        if timeout is not None:
            limit = min(limit, timeout)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                await self._wakeup.wait()
        # Cleared after waking, before the caller's rescan: anything that arrives later sets
        # the event again, so no arrival falls between a notification and a scan.
        self._wakeup.clear()

    async def _watch(self, stop: asyncio.Event) -> None:
        try:
            async for _changes in watchfiles.awatch(
                self._inbox,
                watch_filter=_is_arrival,
                stop_event=stop,
                debounce=_DEBOUNCE_MS,
                step=_STEP_MS,
                rust_timeout=_RUST_TIMEOUT_MS,
                recursive=False,
            ):
                self._wakeup.set()
        except Exception as exc:
            # Typically the inotify watch/instance limit. Interval rescans keep the daemon
            # working, only with more latency.
            log.warning(
                "inbox_watch_unavailable",
                inbox=str(self._inbox),
                error=repr(exc),
                fallback="interval_rescan",
                rescan_interval_s=self._rescan_interval_s,
            )
