"""Group commit: many submissions' outcomes, fills and books in one transaction.

Workers hand the recorder a :class:`~agent.ledger.plans.Plan` and wait. The recorder takes every
plan that is waiting (up to ``max_batch``), and in one transaction: refuses replays (an id or
a (wallet, nonce) already consumed, or twice in the batch), enforces each wallet's daily
limit, moves the venues' books fill by fill, and writes every row with one statement per
table. A plan whose fill a book refuses is handed back to its worker, which tries the next
candidate; nothing of it is written. A batch that fails for a reason other than the database
being away is retried one plan at a time, so one bad plan cannot hold up the others.

Locks are taken in one order (wallet usage, then each venue's pools sorted by id), so
several daemons on one PostgreSQL never deadlock on each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection

from agent.domain.outcomes import Reason, Status
from agent.ledger.plans import (
    Final,
    LegOutcome,
    LegStatus,
    Outcome,
    Plan,
    PlanKind,
    recorded_outcome,
)
from agent.ledger.rendering import render, settled_figures
from agent.store import intents as intent_rows
from agent.store import wallets as usage_rows
from agent.store.database import Store, StoreUnavailable
from agent.store.pools import SqlPoolBooks
from agent.venues.base import LegFailed, Venue

__all__ = ["LegPreparer", "PreparedTransaction", "Recorder"]

log = structlog.get_logger("agent.recorder")


class PreparedTransaction(Protocol):
    """A leg's signed transaction, as the reservation stores it."""

    @property
    def transaction(self) -> str: ...
    @property
    def signature(self) -> str: ...
    @property
    def last_valid_block_height(self) -> int: ...
    @property
    def fee_lamports(self) -> int: ...
    @property
    def buy_account(self) -> str: ...


class LegPreparer(Protocol):
    """Dry-run and send: signs fill ``index`` of ``plan`` once its venue's book took it at
    ``realised_out``, inside the recorder's transaction; raises LegFailed to refuse it."""

    def prepare(self, plan: Plan, index: int, realised_out: int) -> PreparedTransaction: ...


@dataclass(slots=True)
class _Waiting:
    plan: Plan
    future: asyncio.Future[Outcome | LegFailed]


class Recorder:
    def __init__(
        self,
        store: Store,
        venues: Mapping[str, Venue],
        *,
        max_batch: int = 256,
        clock: Callable[[], float] = time.time,
        preparer: LegPreparer | None = None,
    ) -> None:
        self._store = store
        # Dry-run and send: signs each leg's transaction once the books took it; in paper
        # mode there is none, and a fill is filled when it commits.
        self._preparer = preparer
        self._venues = dict(venues)
        self._max_batch = max_batch
        self._clock = clock
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    async def submit(self, plan: Plan) -> Outcome | LegFailed:
        """Commit the plan with whatever else is waiting; a refused fill comes back as LegFailed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="recorder")
        waiting = _Waiting(plan, asyncio.get_running_loop().create_future())
        await self._queue.put(waiting)
        return await waiting.future

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [w for w in batch if not w.future.cancelled()]
            if batch:
                # Shielded: a commit that started finishes even while the daemon shuts down.
                await asyncio.shield(self._commit_or_split(batch))

    async def _commit_or_split(self, batch: list[_Waiting]) -> None:
        try:
            results, afters = await self._commit([w.plan for w in batch])
        except StoreUnavailable as exc:
            for waiting in batch:
                _resolve(waiting.future, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _resolve(batch[0].future, exc)
                return
            log.warning("batch_failed_retrying_singly", size=len(batch), error=repr(exc))
            for waiting in batch:
                await self._commit_or_split([waiting])
            return
        self.batches += 1
        for venue_name, after in afters.items():
            self._venues[venue_name].committed(after)
        for waiting, result in zip(batch, results, strict=True):
            _resolve(waiting.future, result)

    async def _commit(
        self, plans: list[Plan]
    ) -> tuple[list[Outcome | LegFailed], dict[str, dict[str, Any]]]:
        return await self._store.write(self._commit_in_thread, plans, self._clock())

    def _commit_in_thread(
        self, connection: Connection, plans: list[Plan], now: float
    ) -> tuple[list[Outcome | LegFailed], dict[str, dict[str, Any]]]:
        """The whole batch, start to commit, on the store's thread: no event-loop round trips.

        A submission that already has a terminal state (another replica finished it first:
        a stream entry taken over from a consumer presumed dead) gets that outcome back and
        writes nothing, so each submission ends exactly once however many replicas ran it.
        """
        recorded = intent_rows.recorded_submissions(
            connection, ((p.submission.source, p.submission.ref) for p in plans)
        )
        if recorded:
            fresh = [p for p in plans if (p.submission.source, p.submission.ref) not in recorded]
            fresh_results, afters = (
                self._commit_in_thread(connection, fresh, now) if fresh else ([], {})
            )
            done = iter(fresh_results)
            merged: list[Outcome | LegFailed] = [
                recorded_outcome(p.submission, record)
                if (record := recorded.get((p.submission.source, p.submission.ref)))
                else next(done)
                for p in plans
            ]
            return merged, afters
        finals = self._screen(connection, plans)
        usage_before, used = self._limit_daily_usage(connection, plans, finals)
        afters = self._fill(connection, plans, finals, used)
        usage_rows.save_usage(
            connection, {k: v for k, v in used.items() if usage_before.get(k) != v}
        )
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        results: list[Outcome | LegFailed] = []
        for plan, final in zip(plans, finals, strict=True):
            if isinstance(final, LegFailed):
                results.append(final)
                continue
            # Every plan has its final word once the books moved: a refusal, or what to record.
            assert final is not None
            rendered = render(plan, final, now)
            for table, table_rows in rendered.rows.items():
                rows[table].extend(table_rows)
            results.append(rendered.outcome)
        intent_rows.insert_rows(connection, rows)
        return results, afters

    def _filled(self, plan: Plan, realised: list[int]) -> Final:
        if self._preparer is None:
            legs = tuple(LegOutcome(LegStatus.FILLED, out) for out in realised)
            return Final(Status.FILLED, None, "", writes_intent=True, legs=legs)
        executing: list[LegOutcome] = []
        for index, out in enumerate(realised):
            try:
                prepared = self._preparer.prepare(plan, index, out)
            except LegFailed as refused:
                # Name the leg, so the pipeline leaves out the right venue when it re-plans.
                quote = plan.fills[index].quote
                raise LegFailed(refused.reason, refused.detail, quote) from None
            executing.append(LegOutcome(LegStatus.EXECUTING, out, _chain_fields(prepared)))
        return Final(Status.EXECUTING, None, "", writes_intent=True, legs=tuple(executing))

    async def finish(self, plan: Plan, final: Final, planned: list[int]) -> Outcome:
        """Record what became of an EXECUTING plan's legs: the books and usage of legs that did
        not fill are given back (``planned`` is each leg's planned output)."""
        outcome, afters = await self._store.write(
            self._finish_in_thread, plan, final, planned, self._clock()
        )
        for venue_name, after in afters.items():
            self._venues[venue_name].committed(after)
        return outcome

    def _finish_in_thread(
        self, connection: Connection, plan: Plan, final: Final, planned: list[int], now: float
    ) -> tuple[Outcome, dict[str, dict[str, Any]]]:
        assert plan.intent is not None and plan.fills
        undone = [
            (candidate.quote, out)
            for candidate, leg, out in zip(plan.fills, final.legs, planned, strict=True)
            if leg.status in (LegStatus.FAILED, LegStatus.CANCELLED)
        ]
        afters: dict[str, dict[str, Any]] = {}
        if undone:
            # Locks first, in a batch's order (usage, then each venue's pools): no deadlock.
            key = (plan.intent.wallet, plan.day)
            used = usage_rows.lock_usage(connection, [key])
            by_venue: dict[str, list[tuple[Any, int]]] = defaultdict(list)
            for quote, out in undone:
                by_venue[quote.venue].append((quote, out))
            pool_books = SqlPoolBooks(connection)
            for venue_name in sorted(by_venue):
                venue = self._venues[venue_name]
                legs = by_venue[venue_name]
                before = venue.lock(pool_books, sorted({q.source for q, _ in legs}))
                after = dict(before)
                for quote, out in legs:
                    after[quote.source] = venue.revert(after[quote.source], quote, out)
                reverted = Counter(q.source for q, _ in legs)
                venue.save(pool_books, before, after, {k: -n for k, n in reverted.items()}, {})
                afters[venue_name] = after
            # The day's notional of what did not trade is given back: all of it when nothing
            # reached the wallet, else the undone legs' share of the input.
            refund = plan.notional_micros
            if final.realised_out is not None and plan.terms is not None:
                undone_in = sum(quote.amount_in for quote, _ in undone)
                refund = plan.notional_micros * undone_in // plan.terms.amount
            usage_rows.save_usage(connection, {key: used[key] - refund})
        rendered = render(plan, final, now)
        fills = rendered.outcome.legs[len(plan.failures) :]
        intent_rows.finish_execution(
            connection,
            plan.intent.id,
            intent={
                "status": final.status.value,
                "reason": final.reason.value if final.reason else None,
                "detail": final.detail[:2000],
                "amount_out": rendered.rows["intents"][0]["amount_out"],
            },
            leg_rows=[leg.row(plan.intent.id) for leg in fills],
            rows={
                "events": rendered.rows["events"][-1:],
                "trades": rendered.rows.get("trades", []),
                "submissions": rendered.rows["submissions"],
            },
            route=settled_figures(rendered.rows.get("routes", [])),
        )
        return rendered.outcome, afters

    def _screen(self, connection: Connection, plans: list[Plan]) -> list[Final | LegFailed | None]:
        """Replays are refused here; everything else is settled by the later steps.

        A verified intent whose id is already consumed is a replay even when it was refused
        earlier for another reason (expired, over a limit): its result must not be written
        under the id, where the original's result is.
        """
        verified = [p.intent for p in plans if p.intent is not None]
        routed = [p.intent for p in plans if p.kind is not PlanKind.REJECT and p.intent is not None]
        taken_ids, taken_pairs = intent_rows.existing_intents(
            connection, (i.id for i in verified), ((i.wallet, i.nonce) for i in routed)
        )
        finals: list[Final | LegFailed | None] = []
        for plan in plans:
            intent = plan.intent
            if intent is not None and intent.id in taken_ids:
                finals.append(_replay(Reason.REPLAYED_ID, f"intent {intent.id} was already seen"))
            elif plan.kind is PlanKind.REJECT or intent is None:
                finals.append(Final(Status.REJECTED, plan.reason, plan.detail, writes_intent=False))
            elif (intent.wallet, intent.nonce) in taken_pairs:
                finals.append(
                    _replay(Reason.REPLAYED_NONCE, f"nonce {intent.nonce} was already used")
                )
            else:
                # Claimed now so that a second copy later in this batch is a replay too.
                taken_ids.add(intent.id)
                taken_pairs.add((intent.wallet, intent.nonce))
                finals.append(
                    None
                    if plan.kind is PlanKind.FILL
                    else Final(plan.status, plan.reason, plan.detail, writes_intent=True)
                )
        return finals

    def _limit_daily_usage(
        self, connection: Connection, plans: list[Plan], finals: list[Final | LegFailed | None]
    ) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """Reserve each fill's notional against its wallet's day, in plan order."""
        pending = [i for i, final in enumerate(finals) if final is None]
        if not pending:
            return {}, {}
        keys = [(plans[i].intent.wallet, plans[i].day) for i in pending]  # type: ignore[union-attr]
        usage_rows.ensure_usage_rows(connection, keys)
        used = usage_rows.lock_usage(connection, keys)
        before = dict(used)
        for index, key in zip(pending, keys, strict=True):
            plan = plans[index]
            if used[key] + plan.notional_micros > plan.daily_limit_micros:
                finals[index] = Final(
                    Status.REJECTED,
                    Reason.DAILY_LIMIT,
                    "the wallet's daily notional limit would be exceeded",
                    writes_intent=False,
                )
            else:
                used[key] += plan.notional_micros
        return before, used

    def _fill(
        self,
        connection: Connection,
        plans: list[Plan],
        finals: list[Final | LegFailed | None],
        used: dict[tuple[str, str], int],
    ) -> dict[str, dict[str, Any]]:
        """Move each venue's books fill by fill; a refused fill gives its usage back."""
        pending = [i for i, final in enumerate(finals) if final is None]
        by_venue: dict[str, set[str]] = defaultdict(set)
        for index in pending:
            for candidate in plans[index].fills:
                by_venue[candidate.quote.venue].add(candidate.quote.source)
        afters: dict[str, dict[str, Any]] = {}
        before_books: dict[str, dict[str, Any]] = {}
        pool_books = SqlPoolBooks(connection)
        for venue_name in sorted(by_venue):
            before_books[venue_name] = self._venues[venue_name].lock(
                pool_books, by_venue[venue_name]
            )
            afters[venue_name] = {}
        fills: dict[str, Counter[str]] = defaultdict(Counter)
        for index in pending:
            plan = plans[index]
            # A plan's legs move the books together or not at all.
            moved: dict[tuple[str, str], Any] = {}
            realised: list[int] = []
            try:
                for candidate in plan.fills:
                    quote = candidate.quote
                    place = (quote.venue, quote.source)
                    book = moved.get(place)
                    if book is None:
                        book = afters[quote.venue].get(
                            quote.source, before_books[quote.venue].get(quote.source)
                        )
                    if book is None:
                        raise LegFailed(
                            Reason.INVENTORY_EXHAUSTED, f"{quote.source} has no book", quote
                        )
                    try:
                        moved[place], out = self._venues[quote.venue].apply(book, quote)
                    except LegFailed as refused:
                        raise LegFailed(refused.reason, refused.detail, quote) from None
                    realised.append(out)
                final = self._filled(plan, realised)
            except LegFailed as refused:
                finals[index] = refused
                used[(plan.intent.wallet, plan.day)] -= plan.notional_micros  # type: ignore[union-attr]
                continue
            for (venue_name, source), book in moved.items():
                afters[venue_name][source] = book
            for candidate in plan.fills:
                fills[candidate.quote.venue][candidate.quote.source] += 1
            finals[index] = final
        declines: dict[str, Counter[str]] = defaultdict(Counter)
        for plan, word in zip(plans, finals, strict=True):
            if isinstance(word, Final) and word.writes_intent:
                for candidate, failed in plan.failures:
                    if failed.reason is Reason.LAST_LOOK_REJECTED:
                        declines[candidate.quote.venue][candidate.quote.source] += 1
        for venue_name in sorted(set(afters) | set(declines)):
            self._venues[venue_name].save(
                pool_books,
                before_books.get(venue_name, {}),
                afters.get(venue_name, {}),
                fills[venue_name],
                declines[venue_name],
            )
        return {name: moved_books for name, moved_books in afters.items() if moved_books}


def _chain_fields(prepared: PreparedTransaction) -> dict[str, Any]:
    return {
        "transaction": prepared.transaction,
        "signature": prepared.signature,
        "last_valid_block_height": prepared.last_valid_block_height,
        "fee_lamports": prepared.fee_lamports,
        "buy_account": prepared.buy_account,
    }


def _replay(reason: Reason, detail: str) -> Final:
    return Final(Status.REJECTED, reason, detail, writes_intent=False)


def _resolve(future: asyncio.Future[Outcome | LegFailed], result: Any) -> None:
    if future.done():
        return
    if isinstance(result, BaseException) and not isinstance(result, LegFailed):
        future.set_exception(result)
    else:
        future.set_result(result)
