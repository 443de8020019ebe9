"""The directory intake: turns files in inbox/ into submissions and files their outcomes.

Claiming, reading, writing results and moving originals are blocking file operations with
fsyncs; they run in worker threads so the event loop keeps routing meanwhile, in batches
(:class:`~agent.intake.folder.batched_calls.BatchedCalls`): the claims (or completions) asked for
while a batch runs go together in the next, sharing one fsync per folder.

Several replicas (processes) may run a DirectoryIntake on the same folder. Each takes an owner
identity at :meth:`DirectoryIntake.start` (see :mod:`agent.intake.folder.owners`): the lock file
``work/.owners/<owner-id>.lock``, flocked for as long as the intake is open, and a short owner id
that its claims carry in their names (``work/<claim-id>.<owner-id>--<name>``). At start,
:meth:`~DirectoryIntake.leftovers` returns only this replica's own unfinished claims and the
claims it adopts from dead replicas (whose lock can be taken, or is gone) and ownerless ones; a
live replica's claims and its partial writes are never touched. :meth:`~DirectoryIntake.aclose`
releases the identity and deletes the lock file (and ``work/.owners`` once it is empty).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from agent.domain.outcomes import IntentRejected, Reason, Status
from agent.intake.folder import claims, owners
from agent.intake.folder.batched_calls import BatchedCalls
from agent.intake.folder.layout import (
    IntakeLayout,
    inbox_stats,
    list_claims,
    list_inbox,
    list_strays,
)
from agent.intake.folder.names import Claim
from agent.intake.folder.renames import atomic_write
from agent.intake.folder.watcher import InboxWatcher

__all__ = ["SOURCE", "DirectoryIntake", "DirectoryItem"]

SOURCE = "directory"


class DirectoryItem:
    """A claimed file: what the pipeline needs plus where the file now lives."""

    __slots__ = ("claim", "raw", "received_at", "resumed", "unreadable")

    def __init__(
        self,
        claim: Claim,
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
        self.layout = IntakeLayout(root)
        self.max_file_bytes = max_file_bytes
        self.watcher = InboxWatcher(self.layout.inbox, rescan_interval_s=rescan_interval_s)
        self._owner: owners.Owner | None = None
        # Claims and completions go to their worker thread in batches: one trip, and one
        # fsync per folder, for every worker that asked meanwhile.
        self._claims = BatchedCalls(self._claim_batch, name="intake-claims")
        self._completions = BatchedCalls(self._complete_batch, name="intake-completions")

    @property
    def owner(self) -> owners.Owner:
        """This replica's owner identity, taken at start() (or on first use without it)."""
        if self._owner is None or not self._owner.held:
            self._owner = owners.acquire_owner(self.layout)
        return self._owner

    def owner_alive(self, owner_id: str) -> bool:
        """Whether the replica ``owner_id`` (on this host and root) is running."""
        return owner_id == self.owner.id or not owners.owner_is_dead(self.layout, owner_id)

    async def start(self, *, watch: bool = True) -> None:
        self.layout.ensure()
        owners.sweep_own_temp_files(self.layout, self.owner)
        if watch:
            await self.watcher.start()

    async def aclose(self) -> None:
        await self.watcher.aclose()
        await self._claims.aclose()
        await self._completions.aclose()
        if self._owner is not None:
            # Claims still in work/ under this owner become adoptable by other replicas.
            self._owner.release()
            self._owner = None

    async def wait_for_files(self, within_s: float) -> None:
        await self.watcher.wait(within_s)

    def pending(self, limit: int | None = None) -> list[str]:
        return list_inbox(self.layout, limit=limit)

    def backlog(self) -> tuple[int, float | None]:
        return inbox_stats(self.layout)

    def leftovers(self) -> list[Claim]:
        """Claims to resume at start: this replica's own unfinished ones plus those it adopts
        now from dead replicas and ownerless ones (a previous run's), oldest first.

        Call it once, before claiming: later it would also return claims in progress. To pick
        up the claims of replicas that die while this one runs, use :meth:`adopt_orphans`.
        """
        owner = self.owner
        owners.adopt_orphans(self.layout, owner)
        return [c for c in list_claims(self.layout) if c.owner == owner.id]

    def adopt_orphans(self) -> list[Claim]:
        """Claims adopted now from dead replicas (and ownerless ones); safe at any time."""
        return owners.adopt_orphans(self.layout, self.owner)

    def strays(self) -> list[str]:
        """Files in work/ that this agent did not name; they are reported, never touched.

        Claims of other replicas, live or dead, and the owners folder are not strays.
        """
        return list_strays(self.layout)

    async def claim(self, name: str) -> DirectoryItem | None:
        """Claim and read ``inbox/name``; None when another process claimed it first."""
        return await self._claims((name, self.owner))

    def _claim_batch(
        self, requests: Sequence[tuple[str, owners.Owner]]
    ) -> list[DirectoryItem | Exception | None]:
        """Rename every file into work/, fsync work/ once, then read them."""
        deferred: set[Path] = set()
        claimed: list[Claim | Exception | None] = []
        for name, owner in requests:
            try:
                claimed.append(claims.claim(self.layout, name, owner, sync_directory=deferred.add))
            except Exception as exc:  # this name's failure (an OS error, a bad name) only
                claimed.append(exc)
        # Durable before any of them is acted on: a crash must not put a file back in the
        # inbox after its trade was executed.
        failure = _sync_all(self.layout, deferred)
        items: list[DirectoryItem | Exception | None] = []
        for outcome in claimed:
            if isinstance(outcome, Claim):
                items.append(failure or self._read(outcome, resumed=False))
            else:
                items.append(outcome)
        return items

    async def read(self, claimed: Claim, *, resumed: bool) -> DirectoryItem:
        return await asyncio.to_thread(self._read, claimed, resumed=resumed)

    def _read(self, claimed: Claim, *, resumed: bool) -> DirectoryItem:
        try:
            raw = claims.read_claimed(claimed.path, self.max_file_bytes)
        except claims.UnreadableSubmission as exc:
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
        return await self._completions(_Completion(item, status, reason, result_name, result))

    def _complete_batch(self, completions: Sequence[_Completion]) -> list[Path | Exception]:
        """Every result (and reason) file first, their folders fsynced once each; only then
        the originals moved, and their folders fsynced: a file never leaves work/ before its
        result is on disk."""
        outcomes: list[Path | Exception | None] = []
        written: set[Path] = set()
        for completion in completions:
            try:
                self._write_result(completion, written.add)
            except Exception as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)  # written; moved below
        failure = _sync_all(self.layout, written)
        if failure is not None:
            # No result of the batch is known durable: every original stays in work/.
            return [outcome or failure for outcome in outcomes]
        moved: set[Path] = set()
        for index, completion in enumerate(completions):
            if outcomes[index] is not None:
                continue
            try:
                outcomes[index] = claims.move_final(
                    self.layout,
                    completion.item.claim,
                    accepted=completion.status is Status.FILLED,
                    sync_directory=moved.add,
                )
            except Exception as exc:
                outcomes[index] = exc
        failure = _sync_all(self.layout, moved)
        # Every completion is now moved (a Path) or failed (an exception).
        finished = cast(list[Path | Exception], outcomes)
        return [
            failure if failure is not None and isinstance(outcome, Path) else outcome
            for outcome in finished
        ]

    def _write_result(self, completion: _Completion, sync_later: Callable[[Path], None]) -> None:
        item = completion.item
        # Partial writes carry this replica's owner id, so no live replica sweeps them.
        owner = self._owner.id if self._owner is not None else item.claim.owner
        result_path = self.layout.out / f"{completion.result_name}.result.json"
        atomic_write(
            result_path, completion.result.encode("utf-8"), owner=owner, sync_directory=sync_later
        )
        if completion.status is Status.FILLED:
            return
        reason_document = json.dumps(
            {
                "status": completion.status.value,
                "reason": completion.reason.value if completion.reason else None,
                "result": str(result_path.relative_to(self.layout.root)),
            },
            indent=2,
        ).encode("utf-8")
        claims.write_reason(
            self.layout, item.claim, reason_document, owner=owner, sync_directory=sync_later
        )


@dataclass(frozen=True, slots=True)
class _Completion:
    item: DirectoryItem
    status: Status
    reason: Reason | None
    result_name: str
    result: str


def _sync_all(layout: IntakeLayout, directories: set[Path]) -> OSError | None:
    """fsync each directory (sorted, for a stable order); the first failure, if any."""
    for directory in sorted(directories):
        try:
            layout.sync(directory)
        except OSError as exc:
            return exc
    return None
