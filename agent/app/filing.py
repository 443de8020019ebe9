"""Filing committed outcomes back to the folder (result file, original moved) beside the workers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from agent.intake.folder.intake import DirectoryIntake, DirectoryItem
from agent.ledger.plans import Outcome

__all__ = ["Filing"]

log = structlog.get_logger("agent.daemon")


class Filing:
    def __init__(
        self, intake: DirectoryIntake, slots: int, on_filed: Callable[[Outcome], None]
    ) -> None:
        self.intake = intake
        self._on_filed = on_filed
        # Outcomes committed, their files being filed by the intake: a worker hands them over
        # and takes the next file (at most `slots` wait, so a slow disk slows the intake).
        self._filing: set[asyncio.Task[None]] = set()
        self._filing_slots = asyncio.Semaphore(slots)

    @property
    def busy(self) -> bool:
        return bool(self._filing)

    async def hand_over(self, item: DirectoryItem, outcome: Outcome) -> None:
        """Start filing ``outcome``, once fewer than `slots` outcomes wait to be filed."""
        await self._filing_slots.acquire()
        filing = asyncio.create_task(self._file(item, outcome), name=f"file-{item.claim.claim_id}")
        self._filing.add(filing)
        filing.add_done_callback(self._filing.discard)

    async def _file(self, item: DirectoryItem, outcome: Outcome) -> None:
        """Write the committed outcome's result file and move the original; the worker that
        decided it is already on its next file. Should this fail, the original stays in
        work/ and the next start files it again from SQL."""
        try:
            await self.intake.complete(
                item,
                status=outcome.status,
                reason=outcome.reason,
                result_name=outcome.result_name,
                result=outcome.result,
            )
        except Exception:
            log.exception("filing_failed", ref=outcome.submission.ref)
            return
        finally:
            self._filing_slots.release()
        self._on_filed(outcome)

    async def filed(self) -> None:
        """Wait until every committed outcome handed over so far is filed."""
        while self._filing:
            await asyncio.gather(*self._filing, return_exceptions=True)
