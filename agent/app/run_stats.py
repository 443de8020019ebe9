"""What one run of the daemon did, counted as outcomes end."""

from __future__ import annotations

from dataclasses import dataclass

from agent.domain.outcomes import Status

__all__ = ["RunStats"]


@dataclass
class RunStats:
    processed: int = 0
    filled: int = 0
    rejected: int = 0
    failed: int = 0
    store_outages: int = 0

    def count(self, status: Status) -> None:
        self.processed += 1
        if status is Status.FILLED:
            self.filled += 1
        elif status is Status.FAILED:
            self.failed += 1
        else:
            self.rejected += 1
