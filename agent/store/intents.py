"""Submissions, intents and their transitions, quotes, routes, legs and trades.

Writes take lists of rows so that one statement records a whole batch of outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

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
    "ExecutingIntent",
    "SubmissionRecord",
    "executing_intents",
    "existing_intents",
    "finish_execution",
    "get_submission",
    "insert_rows",
    "slippage_bps",
    "submissions_for",
]

submissions = SubmissionRow.__table__
intents = IntentRow.__table__
events = IntentEventRow.__table__
quotes = QuoteRow.__table__
routes = RouteRow.__table__
legs = RouteLegRow.__table__
trades = TradeRow.__table__

# Insert order respects the foreign keys.
TABLES = {
    "intents": intents,
    "events": events,
    "quotes": quotes,
    "routes": routes,
    "legs": legs,
    "trades": trades,
    "submissions": submissions,
}

# Built once: the group commit runs these for every batch, and building a statement (and its
# cache key) costs more than SQLite takes to run it.
_INSERTS = {name: insert(table) for name, table in TABLES.items()}
_RECORDED = select(submissions).where(
    submissions.c.source == bindparam("source"),
    submissions.c.ref.in_(bindparam("refs", expanding=True)),
)
_TAKEN_IDS = select(intents.c.id).where(intents.c.id.in_(bindparam("ids", expanding=True)))
# Two plain IN lists use the (wallet, nonce) index; a row-value IN scans it on SQLite.
_TAKEN_PAIRS = select(intents.c.wallet, intents.c.nonce).where(
    intents.c.wallet.in_(bindparam("wallets", expanding=True)),
    intents.c.nonce.in_(bindparam("nonces", expanding=True)),
)


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    source: str
    ref: str
    status: str
    reason: str | None
    intent_id: str | None
    result: str


def _record(row: Row[Any]) -> SubmissionRecord:
    return SubmissionRecord(row.source, row.ref, row.status, row.reason, row.intent_id, row.result)


def get_submission(connection: Connection, source: str, ref: str) -> SubmissionRecord | None:
    row = (
        connection.execute(
            select(submissions).where(submissions.c.source == source, submissions.c.ref == ref)
        )
    ).first()
    return None if row is None else _record(row)


def submissions_for(
    connection: Connection, key: str, sources: Iterable[str]
) -> list[SubmissionRecord]:
    """Every finished submission carrying this intent id, or with this ref (a claim id or a
    stream entry id) from one of ``sources``, oldest first."""
    # (source, ref) is the unique index: a bare ref would scan the table.
    by_ref = (submissions.c.source.in_(sorted(set(sources)))) & (submissions.c.ref == key)
    rows = connection.execute(
        select(submissions)
        .where((submissions.c.intent_id == key) | by_ref)
        .order_by(submissions.c.finished_at, submissions.c.id)
    )
    return [_record(row) for row in rows]


def recorded_submissions(
    connection: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], SubmissionRecord]:
    """Which of these (source, ref) submissions already reached a terminal state, and how."""
    by_source: dict[str, set[str]] = {}
    for source, ref in keys:
        by_source.setdefault(source, set()).add(ref)
    found: dict[tuple[str, str], SubmissionRecord] = {}
    for source, refs in sorted(by_source.items()):
        rows = connection.execute(_RECORDED, {"source": source, "refs": sorted(refs)})
        for row in rows:
            found[(row.source, row.ref)] = _record(row)
    return found


def existing_intents(
    connection: Connection, ids: Iterable[str], wallet_nonces: Iterable[tuple[str, int]]
) -> tuple[set[str], set[tuple[str, int]]]:
    """Which of these ids, and which (wallet, nonce) pairs, are already consumed."""
    id_list = sorted(set(ids))
    pairs = sorted(set(wallet_nonces))
    taken_ids: set[str] = set()
    taken_pairs: set[tuple[str, int]] = set()
    if id_list:
        rows = connection.execute(_TAKEN_IDS, {"ids": id_list})
        taken_ids = {row.id for row in rows}
    if pairs:
        rows = connection.execute(
            _TAKEN_PAIRS,
            {
                "wallets": sorted({w for w, _ in pairs}),
                "nonces": sorted({n for _, n in pairs}),
            },
        )
        wanted = set(pairs)
        taken_pairs = {(row.wallet, row.nonce) for row in rows} & wanted
    return taken_ids, taken_pairs


def insert_rows(connection: Connection, rows: Mapping[str, Sequence[Mapping[str, object]]]) -> None:
    """Insert each table's rows with one statement, parents before children."""
    for name, statement in _INSERTS.items():
        batch = rows.get(name)
        if batch:
            connection.execute(statement, list(batch))


def slippage_bps(expected: int, realised: int) -> Decimal:
    """Realised shortfall against the quote in bps: positive means less than quoted."""
    if expected <= 0:
        return Decimal(0)
    return (Decimal(expected - realised) * 10_000 / Decimal(expected)).quantize(Decimal("0.01"))


def finish_execution(
    connection: Connection,
    intent_id: str,
    *,
    intent: Mapping[str, object],
    leg_rows: Sequence[Mapping[str, object]],
    rows: Mapping[str, Sequence[Mapping[str, object]]],
    route: Mapping[str, object] | None = None,
) -> None:
    """Close an EXECUTING intent: its row, its executed legs, what its route came to (the
    figures known only once the legs are settled), and the terminal rows."""
    now = datetime.now(UTC)
    connection.execute(
        update(intents).where(intents.c.id == intent_id).values(**intent, updated_at=now)
    )
    if route:
        connection.execute(update(routes).where(routes.c.intent_id == intent_id).values(**route))
    for leg in leg_rows:
        key = {"intent_id": intent_id, "leg_index": leg["leg_index"]}
        values = {k: v for k, v in leg.items() if k not in key}
        updated = connection.execute(
            update(legs)
            .where(legs.c.intent_id == intent_id, legs.c.leg_index == leg["leg_index"])
            .values(**values, executed_at=now)
        )
        if updated.rowcount == 0:
            connection.execute(insert(legs).values(**leg, executed_at=now))
    insert_rows(connection, rows)


@dataclass(frozen=True, slots=True)
class ExecutingIntent:
    """An intent whose fill was reserved but whose transaction's fate was never recorded."""

    intent: Row[Any]
    legs: list[Row[Any]]


def executing_intents(
    connection: Connection, source: str | None = None, ref: str | None = None
) -> list[ExecutingIntent]:
    """Every executing intent, or the one a given submission left executing."""
    query = select(intents).where(intents.c.status == "executing")
    if source is not None and ref is not None:
        query = query.where(intents.c.submission_source == source, intents.c.submission_ref == ref)
    found = []
    for row in connection.execute(query):
        leg_rows = connection.execute(
            select(legs).where(legs.c.intent_id == row.id).order_by(legs.c.leg_index)
        )
        found.append(ExecutingIntent(row, list(leg_rows)))
    return found
