"""Submissions, intents and their transitions, quotes, routes, legs and trades."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.domain.outcomes import Reason, Status
from agent.domain.quotes import QuoteMiss
from agent.domain.routing import Candidate
from agent.store.models import (
    IntentEventRow,
    IntentRow,
    QuoteRow,
    RouteLegRow,
    RouteRow,
    SubmissionRow,
    TradeRow,
)

__all__ = [
    "IntentRecord",
    "SubmissionRecord",
    "find_conflict",
    "find_submission_intent",
    "get_intent",
    "get_submission",
    "insert_intent",
    "insert_leg",
    "insert_quotes",
    "insert_route",
    "insert_trade",
    "record_submission",
    "set_intent_status",
]

submissions = SubmissionRow.__table__
intents = IntentRow.__table__
events = IntentEventRow.__table__
quotes = QuoteRow.__table__
routes = RouteRow.__table__
legs = RouteLegRow.__table__
trades = TradeRow.__table__


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    source: str
    ref: str
    status: str
    reason: str | None
    detail: str
    intent_id: str | None
    name: str
    result: str


@dataclass(frozen=True, slots=True)
class IntentRecord:
    id: str
    wallet: str
    nonce: int
    status: str
    reason: str | None
    detail: str
    amount: int
    min_out: int
    amount_out: int | None
    notional_usd_micros: int
    usage_day: str
    submission_source: str
    submission_ref: str


async def get_submission(
    connection: AsyncConnection, source: str, ref: str
) -> SubmissionRecord | None:
    row = (
        await connection.execute(
            select(submissions).where(submissions.c.source == source, submissions.c.ref == ref)
        )
    ).first()
    if row is None:
        return None
    return SubmissionRecord(
        row.source, row.ref, row.status, row.reason, row.detail, row.intent_id, row.name, row.result
    )


async def record_submission(
    connection: AsyncConnection,
    *,
    source: str,
    ref: str,
    name: str,
    digest: str,
    status: Status,
    reason: Reason | None,
    detail: str,
    intent_id: str | None,
    received_at: float,
    result: str,
) -> None:
    await connection.execute(
        insert(submissions).values(
            source=source,
            ref=ref,
            name=name,
            digest=digest,
            status=status.value,
            reason=reason.value if reason else None,
            detail=detail[:2000],
            intent_id=intent_id,
            result=result,
            received_at=_ts(received_at),
            finished_at=datetime.now(UTC),
        )
    )


def _intent_record(row: Any) -> IntentRecord:
    return IntentRecord(
        id=row.id,
        wallet=row.wallet,
        nonce=row.nonce,
        status=row.status,
        reason=row.reason,
        detail=row.detail,
        amount=row.amount,
        min_out=row.min_out,
        amount_out=row.amount_out,
        notional_usd_micros=row.notional_usd_micros,
        usage_day=row.usage_day,
        submission_source=row.submission_source,
        submission_ref=row.submission_ref,
    )


async def get_intent(connection: AsyncConnection, intent_id: str) -> IntentRecord | None:
    row = (await connection.execute(select(intents).where(intents.c.id == intent_id))).first()
    return None if row is None else _intent_record(row)


async def find_submission_intent(
    connection: AsyncConnection, source: str, ref: str
) -> IntentRecord | None:
    """The intent a submission accepted, if it got that far."""
    row = (
        await connection.execute(
            select(intents).where(
                intents.c.submission_source == source, intents.c.submission_ref == ref
            )
        )
    ).first()
    return None if row is None else _intent_record(row)


async def find_conflict(
    connection: AsyncConnection, intent_id: str, wallet: str, nonce: int
) -> tuple[Reason, IntentRecord] | None:
    """An existing intent with this id, or else with this wallet and nonce."""
    existing = await get_intent(connection, intent_id)
    if existing is not None:
        return Reason.REPLAYED_ID, existing
    row = (
        await connection.execute(
            select(intents).where(intents.c.wallet == wallet, intents.c.nonce == nonce)
        )
    ).first()
    return None if row is None else (Reason.REPLAYED_NONCE, _intent_record(row))


async def insert_intent(connection: AsyncConnection, values: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    await connection.execute(
        insert(intents).values(
            status=Status.ACCEPTED.value, created_at=now, updated_at=now, **values
        )
    )
    await connection.execute(
        insert(events).values(intent_id=values["id"], status=Status.ACCEPTED.value, at=now)
    )


async def set_intent_status(
    connection: AsyncConnection,
    intent_id: str,
    status: Status,
    *,
    reason: Reason | None = None,
    detail: str = "",
    amount_out: int | None = None,
) -> None:
    now = datetime.now(UTC)
    await connection.execute(
        update(intents)
        .where(intents.c.id == intent_id)
        .values(
            status=status.value,
            reason=reason.value if reason else None,
            detail=detail[:2000],
            amount_out=amount_out,
            updated_at=now,
        )
    )
    await connection.execute(
        insert(events).values(
            intent_id=intent_id,
            status=status.value,
            reason=reason.value if reason else None,
            detail=detail[:2000],
            at=now,
        )
    )


async def insert_quotes(
    connection: AsyncConnection,
    intent_id: str,
    candidates: Sequence[Candidate],
    misses: Sequence[QuoteMiss],
) -> None:
    rows: list[dict[str, Any]] = [
        {
            "intent_id": intent_id,
            "venue": c.quote.venue,
            "source": c.quote.source,
            "verdict": c.verdict.value,
            "detail": "",
            "amount_in": c.quote.amount_in,
            "expected_out": c.quote.expected_out,
            "guaranteed_out": c.quote.guaranteed_out,
            "network_cost_out": c.network_cost_out,
            "net_out": c.net_out,
            "fee_bps": c.quote.fee_bps,
            "price_impact_bps": c.quote.price_impact_bps,
            "firm": c.quote.firm,
            "price_source": c.quote.price_source,
            "quoted_at": _ts(c.quote.quoted_at),
            "expires_at": _ts(c.quote.expires_at),
        }
        for c in candidates
    ]
    rows += [
        {
            "intent_id": intent_id,
            "venue": m.venue,
            "source": m.source,
            "verdict": m.reason,
            "detail": m.detail[:2000],
            "amount_in": None,
            "expected_out": None,
            "guaranteed_out": None,
            "network_cost_out": None,
            "net_out": None,
            "fee_bps": None,
            "price_impact_bps": None,
            "firm": None,
            "price_source": "",
            "quoted_at": None,
            "expires_at": None,
        }
        for m in misses
    ]
    if rows:
        await connection.execute(insert(quotes), rows)


async def insert_route(connection: AsyncConnection, values: dict[str, Any]) -> int:
    result = await connection.execute(insert(routes).values(**values).returning(routes.c.id))
    return int(result.scalar_one())


async def insert_leg(connection: AsyncConnection, values: dict[str, Any]) -> int:
    result = await connection.execute(insert(legs).values(**values).returning(legs.c.id))
    return int(result.scalar_one())


async def insert_trade(connection: AsyncConnection, values: dict[str, Any]) -> None:
    await connection.execute(insert(trades).values(**values))


def slippage_bps(expected: int, realised: int) -> Decimal:
    """Realised shortfall against the quote in bps: positive means less than quoted."""
    if expected <= 0:
        return Decimal(0)
    return (Decimal(expected - realised) * 10_000 / Decimal(expected)).quantize(Decimal("0.01"))
