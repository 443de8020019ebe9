"""What one submission will write: a plan built by the pipeline, rendered into rows by the recorder.

A plan says what the pipeline wants (reject early, record a routed outcome, or fill a
candidate); the recorder decides what actually happens in the batch's transaction (a replay
or the daily limit can still turn it down, a book can refuse the fill) and calls
:func:`agent.ledger.rendering.render` with that final word to get the rows and the result document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from agent.domain.intent import IntentMessage
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import TradeTerms
from agent.domain.routing import Candidate, Decision
from agent.domain.shortfall import Arrival
from agent.ledger.leg_reports import LegReport
from agent.store.intents import SubmissionRecord
from agent.venues.base import LegFailed
from agent.venues.jupiter.swaps import BuiltSwap
from onchain.cluster import Blockhash

__all__ = [
    "Final",
    "Outcome",
    "Plan",
    "PlanKind",
    "Submission",
    "result_name",
    "venue_set",
]


@dataclass(frozen=True, slots=True)
class Submission:
    source: str  # "directory" | "redis"
    ref: str  # unique per source: the claim id or the stream entry id
    name: str
    raw: bytes | None
    received_at: float
    unreadable: Exception | None = None  # IntentRejected from the intake, if it could not read
    resumed: bool = False  # claimed by an earlier run; may already be recorded
    # The SHA-256 of what was received, when the bytes themselves are gone (a fill rebuilt
    # from SQL after a crash); otherwise it is computed from ``raw``.
    recorded_digest: str | None = None

    @property
    def digest(self) -> str:
        """The hex SHA-256 of the bytes received."""
        if self.recorded_digest is not None:
            return self.recorded_digest
        return hashlib.sha256(self.raw or b"").hexdigest()


class PlanKind(Enum):
    REJECT = "reject"  # refused before routing: no intent row, the id and nonce stay free
    ROUTED = "routed"  # routed without a fill (no route, min_out unreachable, every leg failed)
    FILL = "fill"  # fill every candidate of `fills` (one per leg) and record the intent filled


@dataclass(slots=True)
class Plan:
    kind: PlanKind
    submission: Submission
    mode: str
    reason: Reason | None = None  # for REJECT and ROUTED
    detail: str = ""
    intent: IntentMessage | None = None
    message: str = ""
    signature: str = ""
    verified_at: float = 0.0
    terms: TradeTerms | None = None
    arrival: Arrival | None = None  # the pair's mid when the intent was read
    min_out: int | None = None
    venues: tuple[str, ...] = ()
    notional_micros: int = 0
    day: str = ""
    daily_limit_micros: int = 0
    decision: Decision | None = None
    latency_s: float = 0.0
    failures: list[tuple[Candidate, LegFailed]] = field(default_factory=list)
    # What FILL fills: one candidate per leg (a split has several), each quoted at its size.
    fills: list[Candidate] = field(default_factory=list)
    blockhash: Blockhash | None = None  # dry-run and send: the blockhash the settlement is built on
    # Venue-built swaps (BuiltSwap) that passed verification, by fill index, for the executor.
    swaps: dict[int, BuiltSwap] = field(default_factory=dict)
    replica: str = ""  # "<host>/<owner>" of the process that reserves the fill

    @property
    def status(self) -> Status:
        if self.kind is PlanKind.FILL:
            return Status.FILLED
        if self.kind is PlanKind.ROUTED and self.failures:
            return Status.FAILED
        return Status.REJECTED


class LegStatus(Enum):
    FILLED = "filled"
    EXECUTING = "executing"  # reserved in the books; its transaction is simulated or sent next
    BUILT = "built"  # dry-run swap verified, with no cluster to simulate it on
    FAILED = "failed"
    CANCELLED = "cancelled"  # simulated fine, but a sibling leg failed: given back with it


@dataclass(frozen=True, slots=True)
class LegOutcome:
    """What became of one fill: its output, and its transaction with what the cluster said."""

    status: LegStatus
    realised_out: int | None = None
    chain: dict[str, Any] | None = None
    reason: Reason | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Final:
    """What the recorder decided: the plan as it stands, or turned down with a reason."""

    status: Status
    reason: Reason | None
    detail: str
    writes_intent: bool  # the intent row (and its id and nonce) is consumed
    legs: tuple[LegOutcome, ...] = ()  # one per plan.fills, in order

    @property
    def realised_out(self) -> int | None:
        """The output the wallet got (while executing: is planned to get); None when nothing
        was delivered or a built-only leg leaves it unmeasured."""
        counted = (LegStatus.FILLED, LegStatus.EXECUTING, LegStatus.BUILT)
        outs = [leg.realised_out for leg in self.legs if leg.status in counted]
        if not outs or any(out is None for out in outs):
            return None
        return sum(out for out in outs if out is not None)


@dataclass(frozen=True, slots=True)
class Outcome:
    submission: Submission
    status: Status
    reason: Reason | None
    intent_id: str | None
    # Results are named after the intent, except for replays of an accepted id (they must not
    # overwrite the original's result) and files without a readable id.
    result_name: str
    result: str  # the JSON document
    decision_venue: str | None = None
    legs: tuple[LegReport, ...] = ()
    # What the metrics value the legs with (None for an outcome that never got this far).
    terms: TradeTerms | None = None
    # A filled intent's implementation shortfall and its parts, in bps of its arrival value
    # (keys: shortfall_bps, spread_impact_bps, delay_bps, slippage_bps, costs_bps); a part is
    # None when it was not measured.
    shortfall: dict[str, Decimal | None] | None = None


def recorded_outcome(submission: Submission, recorded: SubmissionRecord) -> Outcome:
    """The outcome a submission already has in SQL (met again after a crash, or raced)."""
    reason = Reason(recorded.reason) if recorded.reason else None
    return Outcome(
        submission=submission,
        status=Status(recorded.status),
        reason=reason,
        intent_id=recorded.intent_id,
        result_name=result_name(recorded.intent_id, reason, submission.ref),
        result=recorded.result,
    )


def result_name(intent_id: str | None, reason: Reason | None, ref: str) -> str:
    if intent_id is None or reason is Reason.REPLAYED_ID:
        return ref
    return intent_id


def venue_set(fills: list[Candidate]) -> str:
    """The venues of a plan's fills, as one label: "otc", or "jupiter+otc" for a split."""
    return "+".join(sorted({c.quote.venue for c in fills}))
