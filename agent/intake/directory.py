"""The directory intake: turns files in inbox/ into submissions and files their outcomes.

Claiming, reading, writing results and moving originals are blocking file operations with
fsyncs; they run in worker threads so the event loop keeps routing meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from agent.domain.outcomes import IntentRejected, Reason, Status
from agent.intake import files
from agent.intake.watcher import InboxWatcher

__all__ = ["SOURCE", "DirectoryIntake", "DirectoryItem"]

SOURCE = "directory"


class DirectoryItem:
    """A claimed file: what the pipeline needs plus where the file now lives."""

    __slots__ = ("claim", "raw", "received_at", "resumed", "unreadable")

    def __init__(
        self,
        claim: files.Claim,
        raw: bytes | None,
        unreadable: IntentRejected | None,
        resumed: bool,
    ) -> None:
        self.claim = claim
        self.raw = raw
        self.unreadable = unreadable
        self.resumed = resumed
        self.received_at = time.time()


class DirectoryIntake:
    source = SOURCE

    def __init__(self, root: Path, *, max_file_bytes: int, rescan_interval_s: float) -> None:
        self.layout = files.IntakeLayout(root)
        self.max_file_bytes = max_file_bytes
        self.watcher = InboxWatcher(self.layout.inbox, rescan_interval_s=rescan_interval_s)

    async def start(self, *, watch: bool = True) -> None:
        self.layout.ensure()
        files.sweep_own_temp_files(self.layout)
        if watch:
            await self.watcher.start()

    async def aclose(self) -> None:
        await self.watcher.aclose()

    async def wait_for_files(self, within_s: float) -> None:
        await self.watcher.wait(within_s)

    def pending(self, limit: int | None = None) -> list[str]:
        return files.list_inbox(self.layout, limit=limit)

    def backlog(self) -> tuple[int, float | None]:
        return files.inbox_stats(self.layout)

    def leftovers(self) -> list[files.Claim]:
        """Files a previous run claimed but did not finish."""
        return files.list_claims(self.layout)

    def strays(self) -> list[str]:
        """Files in work/ that this agent did not name; they are reported, never touched."""
        return files.list_strays(self.layout)

    async def claim(self, name: str) -> DirectoryItem | None:
        claimed = await asyncio.to_thread(files.claim, self.layout, name)
        if claimed is None:
            return None
        return await self.read(claimed, resumed=False)

    async def read(self, claimed: files.Claim, *, resumed: bool) -> DirectoryItem:
        try:
            raw = await asyncio.to_thread(files.read_claimed, claimed.path, self.max_file_bytes)
        except files.UnreadableSubmission as exc:
            return DirectoryItem(
                claimed, None, IntentRejected(Reason(exc.reason), str(exc)), resumed
            )
        return DirectoryItem(claimed, raw, None, resumed)

    async def complete(
        self,
        item: DirectoryItem,
        *,
        status: Status,
        reason: Reason | None,
        result_name: str,
        result: str,
    ) -> Path:
        """Write the result, then move the original: done/ when filled, else rejected/."""
        return await asyncio.to_thread(self._complete, item, status, reason, result_name, result)

    def _complete(
        self,
        item: DirectoryItem,
        status: Status,
        reason: Reason | None,
        result_name: str,
        result: str,
    ) -> Path:
        result_path = self.layout.out / f"{result_name}.result.json"
        files.atomic_write(result_path, result.encode("utf-8"))
        if status is Status.FILLED:
            return files.finish(self.layout, item.claim, accepted=True)
        reason_document = json.dumps(
            {
                "status": status.value,
                "reason": reason.value if reason else None,
                "result": str(result_path.relative_to(self.layout.root)),
            },
            indent=2,
        ).encode("utf-8")
        return files.finish(
            self.layout, item.claim, accepted=False, reason_document=reason_document
        )
