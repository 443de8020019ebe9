"""Repositories over a real database: wallets and usage, intents and their records, pool books."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Table, func, select
from sqlalchemy.exc import IntegrityError

from agent.domain.intent import IntentMessage
from agent.domain.otc_pricing import OtcInventory
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import TradeTerms, WalletPolicy
from agent.domain.quotes import Quote, QuoteMiss
from agent.domain.routing import Candidate, Decision, Verdict
from agent.domain.tokens import Token
from agent.ledger.plans import Final, LegOutcome, LegStatus, Plan, PlanKind, Submission
from agent.ledger.rendering import render
from agent.store import intents as records
from agent.store import pools as books
from agent.store import wallets as wallet_rows
from agent.store.database import Store
from agent.store.models import WalletUsageRow
from agent.venues.base import LegFailed

usage = WalletUsageRow.__table__

DAY = "2025-06-01"
NEXT_DAY = "2025-06-02"
WALLET = "Wa11et1111111111111111111111111111111111111"
OTHER_WALLET = "Wa11et2222222222222222222222222222222222222"
INTENT_ID = "00000000-0000-4000-8000-000000000001"
OTHER_ID = "00000000-0000-4000-8000-000000000002"
POOL = "otc-test"
OTHER_POOL = "otc-other"
START = OtcInventory(base=1_000, quote=5_000)
WHEN = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SOL_MINT = "So11111111111111111111111111111111111111112"


@pytest.fixture(name="store")
async def _store(database_url: str) -> AsyncIterator[Store]:
    """A migrated store on a fresh database, closed after the test."""
    store = Store.from_url(database_url)
    try:
        await store.upgrade()
        yield store
    finally:
        await store.aclose()


def intent_values(
    intent_id: str = INTENT_ID, wallet: str = WALLET, nonce: int = 1, ref: str | None = None
) -> dict[str, Any]:
    return {
        "id": intent_id, "wallet": wallet, "nonce": nonce, "cluster": "local",
        "sell_mint": SOL_MINT, "buy_mint": "USDCmint", "pair": "SOL/USDC", "amount": 10**9,
        "min_out": 149_000_000, "slippage_bps": 50, "not_after": 1_795_000_000,
        "venues": "otc,localdex", "notional_usd_micros": 150_000_000, "usage_day": DAY,
        "status": "accepted", "submission_source": "directory",
        "submission_ref": ref or intent_id, "message": "{}", "signature": "sig",
        "created_at": WHEN, "updated_at": WHEN,
    }  # fmt: skip


def intent_batch(**kwargs: Any) -> dict[str, list[dict[str, Any]]]:
    """An intent row with its accepted event, as insert_rows takes them."""
    values = intent_values(**kwargs)
    return {
        "intents": [values],
        "events": [{"intent_id": values["id"], "status": "accepted", "at": WHEN}],
    }


def submission_row(source: str = "directory", ref: str = "claim-1", **kwargs: Any) -> dict:
    """A submissions row; a batch's rows must all name the same columns."""
    return {"source": source, "ref": ref, "name": "", "digest": "", "status": "rejected",
            "reason": "expired", "detail": "", "intent_id": None, "result": "",
            "received_at": WHEN, **kwargs}  # fmt: skip


async def _insert_intent(store: Store, **kwargs: Any) -> None:
    await store.write(records.insert_rows, intent_batch(**kwargs))


async def _count(store: Store, table: Table) -> int:
    return await store.read(
        lambda connection: connection.execute(select(func.count()).select_from(table)).scalar_one()
    )


async def _rows(store: Store, table: Table) -> list[Any]:
    return await store.read(
        lambda connection: connection.execute(select(table).order_by(table.c.id)).all()
    )


async def _usage_table(store: Store) -> dict[tuple[str, str], int]:
    rows = await store.read(lambda connection: connection.execute(select(usage)).all())
    return {(row.wallet, row.day): row.used_usd_micros for row in rows}


async def _otc_book(store: Store, pool_id: str = POOL) -> books.OtcBook:
    return (await store.read(books.load_otc_pools))[pool_id]


async def _seed_otc(store: Store, start: OtcInventory = START, pool_id: str = POOL) -> None:
    await store.write(books.seed_otc_pool, pool_id, "BASE", "QUOTE", start)


# wallets


async def test_wallets_round_trip_and_update(store: Store) -> None:
    """Registered wallets come back sorted with limits, pairs and source; an upsert replaces."""
    first = WalletPolicy(
        pubkey=OTHER_WALLET, max_notional_usd=Decimal("1000.5"),
        daily_notional_usd=Decimal("10000"), pairs=frozenset({"SOL/USDC", "SOL/USDT"}),
        keypair_path="keys/two.json",
    )  # fmt: skip
    second = WalletPolicy(pubkey=WALLET, max_notional_usd=Decimal("0.000001"),
                          daily_notional_usd=Decimal("123456789.123456"))  # fmt: skip

    def register(connection: Connection) -> None:
        wallet_rows.upsert_wallet(connection, first, "config")
        wallet_rows.upsert_wallet(connection, second, "cli")

    await store.write(register)
    assert await store.read(wallet_rows.list_wallets) == [(second, "cli"), (first, "config")]

    updated = WalletPolicy(OTHER_WALLET, Decimal(5), Decimal(50), frozenset({"USDC/USDT"}))
    await store.write(wallet_rows.upsert_wallet, updated, "cli")
    assert await store.read(wallet_rows.list_wallets) == [(second, "cli"), (updated, "cli")]


async def test_lock_usage_gives_zero_for_missing_keys(store: Store) -> None:
    """Keys without a usage row read as 0 used, and lock_usage itself creates no row."""
    keys = [(WALLET, DAY), (OTHER_WALLET, NEXT_DAY), (WALLET, DAY)]
    assert await store.write(wallet_rows.lock_usage, keys) == {
        (WALLET, DAY): 0,
        (OTHER_WALLET, NEXT_DAY): 0,
    }
    assert await store.write(wallet_rows.lock_usage, []) == {}
    assert await _usage_table(store) == {}


async def test_ensure_usage_rows_creates_missing_rows_and_keeps_existing(store: Store) -> None:
    """ensure_usage_rows adds a 0 row per missing key (duplicates allowed) and never resets one."""
    await store.write(wallet_rows.save_usage, {(WALLET, DAY): 42})
    await store.write(
        wallet_rows.ensure_usage_rows, [(WALLET, DAY), (WALLET, NEXT_DAY), (WALLET, NEXT_DAY)]
    )
    await store.write(wallet_rows.ensure_usage_rows, [])
    assert await _usage_table(store) == {(WALLET, DAY): 42, (WALLET, NEXT_DAY): 0}


async def test_save_usage_upserts_absolute_values(store: Store) -> None:
    """save_usage writes the given totals (not increments), inserting rows it does not find."""
    await store.write(wallet_rows.save_usage, {(WALLET, DAY): 60_000_000})
    assert await _usage_table(store) == {(WALLET, DAY): 60_000_000}
    await store.write(wallet_rows.save_usage, {(WALLET, DAY): 100_000_000, (WALLET, NEXT_DAY): 1})
    assert await _usage_table(store) == {(WALLET, DAY): 100_000_000, (WALLET, NEXT_DAY): 1}
    await store.write(wallet_rows.save_usage, {(WALLET, DAY): 0})  # a total may go down
    await store.write(wallet_rows.save_usage, {})
    assert await _usage_table(store) == {(WALLET, DAY): 0, (WALLET, NEXT_DAY): 1}
    assert await store.write(wallet_rows.lock_usage, [(WALLET, NEXT_DAY)]) == {
        (WALLET, NEXT_DAY): 1
    }


async def test_lock_usage_returns_only_the_requested_pairs(store: Store) -> None:
    """Usage is per (wallet, day): other combinations of the asked wallets and days are left out."""
    stored = {
        (WALLET, DAY): 1,
        (WALLET, NEXT_DAY): 2,
        (OTHER_WALLET, DAY): 3,
        (OTHER_WALLET, NEXT_DAY): 4,
    }
    await store.write(wallet_rows.save_usage, stored)
    assert await store.write(wallet_rows.lock_usage, [(WALLET, DAY), (OTHER_WALLET, NEXT_DAY)]) == {
        (WALLET, DAY): 1,
        (OTHER_WALLET, NEXT_DAY): 4,
    }
    assert await store.write(
        wallet_rows.lock_usage, [(OTHER_WALLET, DAY), (WALLET, "2025-06-03")]
    ) == {
        (OTHER_WALLET, DAY): 3,
        (WALLET, "2025-06-03"): 0,
    }


def _reserve(connection: Connection, amount_micros: int, limit_micros: int) -> bool:
    """The recorder's read-check-write of a day's usage, for one amount."""
    key = (WALLET, DAY)
    wallet_rows.ensure_usage_rows(connection, [key])
    used = wallet_rows.lock_usage(connection, [key])[key]
    if used + amount_micros > limit_micros:
        return False
    wallet_rows.save_usage(connection, {key: used + amount_micros})
    return True


async def test_usage_read_check_write_has_no_lost_update(store: Store, database_url: str) -> None:
    """50 concurrent ensure→lock→save $3 reservations (two stores) against $100: exactly 33 land."""
    other = Store.from_url(database_url)
    try:
        results = await asyncio.gather(
            *(
                (store if n % 2 else other).write(_reserve, 3_000_000, 100_000_000)
                for n in range(50)
            )
        )
    finally:
        await other.aclose()
    assert results.count(True) == 33
    assert await _usage_table(store) == {(WALLET, DAY): 99_000_000}


# intents


async def test_insert_rows_records_an_intent_with_its_event(store: Store) -> None:
    """insert_rows writes parents before children whatever the dict order; the rows read back."""
    batch = intent_batch()
    await store.write(records.insert_rows, {"events": batch["events"], "intents": batch["intents"]})
    [intent] = await _rows(store, records.intents)
    [event] = await _rows(store, records.events)
    assert (intent.id, intent.wallet, intent.nonce, intent.status, intent.reason) == (
        INTENT_ID, WALLET, 1, "accepted", None,
    )  # fmt: skip
    assert (intent.amount, intent.min_out, intent.amount_out) == (10**9, 149_000_000, None)
    assert (intent.notional_usd_micros, intent.usage_day, intent.detail) == (150_000_000, DAY, "")
    assert (intent.submission_source, intent.submission_ref) == ("directory", INTENT_ID)
    assert intent.created_at == WHEN
    assert (event.intent_id, event.status, event.reason, event.at) == (
        INTENT_ID, "accepted", None, WHEN,
    )  # fmt: skip
    await store.write(records.insert_rows, {})  # nothing to write
    assert await _count(store, records.intents) == 1


async def test_insert_rows_enforces_foreign_keys(store: Store) -> None:
    """An event for an intent that does not exist raises IntegrityError on both backends."""
    with pytest.raises(IntegrityError):
        await store.write(
            records.insert_rows, {"events": [{"intent_id": OTHER_ID, "status": "accepted"}]}
        )
    assert await _count(store, records.events) == 0


# Second intents that collide with the stored one: the same id, (wallet, nonce), submission.
COLLISIONS = [
    {"intent_id": INTENT_ID, "nonce": 2, "ref": "other-ref"},
    {"intent_id": OTHER_ID, "nonce": 1, "ref": "other-ref"},
    {"intent_id": OTHER_ID, "nonce": 2, "ref": INTENT_ID},
]


async def test_insert_rows_enforces_intent_uniqueness(store: Store) -> None:
    """A second intent with a taken id, (wallet, nonce) or submission raises; its batch is undone."""
    await _insert_intent(store)
    for second in COLLISIONS:
        with pytest.raises(IntegrityError):
            await _insert_intent(store, **second)
    assert await _count(store, records.intents) == 1
    assert await _count(store, records.events) == 1


async def test_the_same_nonce_is_free_for_another_wallet(store: Store) -> None:
    """Nonces are per wallet: another wallet may use the same nonce."""
    await _insert_intent(store)
    await _insert_intent(store, intent_id=OTHER_ID, wallet=OTHER_WALLET, nonce=1)
    assert await _count(store, records.intents) == 2


# (id, wallet, nonce) asked about, and whether the id / the (wallet, nonce) are taken.
CONFLICTS = [
    (INTENT_ID, WALLET, 2, True, False),
    (INTENT_ID, WALLET, 1, True, True),
    (OTHER_ID, WALLET, 1, False, True),
    (OTHER_ID, WALLET, 2, False, False),
    (OTHER_ID, OTHER_WALLET, 1, False, False),
]


async def test_existing_intents_names_taken_ids_and_nonces(store: Store) -> None:
    """existing_intents reports which asked ids and which (wallet, nonce) pairs are consumed."""
    await _insert_intent(store)
    for intent_id, wallet, nonce, id_taken, pair_taken in CONFLICTS:
        taken_ids, taken_pairs = await store.read(
            records.existing_intents, [intent_id], [(wallet, nonce)]
        )
        assert taken_ids == ({intent_id} if id_taken else set()), (intent_id, wallet, nonce)
        assert taken_pairs == ({(wallet, nonce)} if pair_taken else set()), (wallet, nonce)
    assert await store.read(records.existing_intents, [], []) == (set(), set())


async def test_existing_intents_matches_pairs_not_wallets_and_nonces_apart(store: Store) -> None:
    """A pair with a stored wallet but another of its nonces is not reported as taken."""
    await _insert_intent(store)  # (WALLET, 1)
    await _insert_intent(store, intent_id=OTHER_ID, wallet=OTHER_WALLET, nonce=2)
    asked = [(WALLET, 2), (OTHER_WALLET, 1), (WALLET, 1), (WALLET, 1)]
    taken_ids, taken_pairs = await store.read(
        records.existing_intents, [INTENT_ID, OTHER_ID, "nope"], asked
    )
    assert taken_ids == {INTENT_ID, OTHER_ID}
    assert taken_pairs == {(WALLET, 1)}
    _, crossed = await store.read(records.existing_intents, [], [(WALLET, 2), (OTHER_WALLET, 1)])
    assert crossed == set()


async def test_get_submission_round_trip(store: Store) -> None:
    """A recorded submission reads back by (source, ref); another source's ref finds nothing."""
    await _insert_intent(store)
    rows = [
        submission_row(name="a.json", digest="ab" * 32, reason="bad_signature",
                       detail="x" * 2500, result='{"status": "rejected"}',
                       received_at=datetime.fromtimestamp(1_750_000_000.5, UTC)),
        submission_row("redis", "1-0", status="filled", reason=None, intent_id=INTENT_ID,
                       result="{}"),
    ]  # fmt: skip
    await store.write(records.insert_rows, {"submissions": rows})
    rejected = await store.read(records.get_submission, "directory", "claim-1")
    assert rejected == records.SubmissionRecord(
        "directory", "claim-1", "rejected", "bad_signature", None, '{"status": "rejected"}'
    )
    assert await store.read(records.get_submission, "redis", "1-0") == records.SubmissionRecord(
        "redis", "1-0", "filled", None, INTENT_ID, "{}"
    )
    assert await store.read(records.get_submission, "directory", "1-0") is None
    stored = {row.ref: row for row in await _rows(store, records.submissions)}
    assert stored["claim-1"].received_at == datetime.fromtimestamp(1_750_000_000.5, UTC)
    assert len(stored["claim-1"].detail) == 2500  # the store keeps what it is given


async def test_submissions_are_unique_per_source_and_ref(store: Store) -> None:
    """Recording the same (source, ref) twice raises IntegrityError and undoes its whole batch."""
    await store.write(records.insert_rows, {"submissions": [submission_row()]})
    with pytest.raises(IntegrityError):
        await store.write(records.insert_rows, {"submissions": [submission_row()]})
    with pytest.raises(IntegrityError):
        await store.write(
            records.insert_rows, {**intent_batch(), "submissions": [submission_row()]}
        )
    assert await _count(store, records.submissions) == 1
    assert await _count(store, records.intents) == 0
    await store.write(records.insert_rows, {"submissions": [submission_row("redis")]})
    assert await _count(store, records.submissions) == 2


@pytest.mark.parametrize(
    ("expected", "realised", "bps"),
    [(10_000, 10_000, "0"), (10_000, 9_990, "10"), (3, 2, "3333.33"), (10_000, 10_001, "-1"),
     (0, 5, "0")],
)  # fmt: skip
def test_slippage_bps(expected: int, realised: int, bps: str) -> None:
    """Realised slippage is the shortfall against the quote in bps, to 0.01; none without a quote."""
    assert records.slippage_bps(expected, realised) == Decimal(bps)


SOL = Token("SOL", SOL_MINT, 9)
USDC = Token("USDC", "USDCmint", 6)


def _quote(venue: str, source: str, expected: int, guaranteed: int, fee: str) -> Quote:
    return Quote(
        venue=venue, source=source, amount_in=10**9, expected_out=expected,
        guaranteed_out=guaranteed, fee_bps=Decimal(fee), price_impact_bps=Decimal("1.2345"),
        quoted_at=1_750_000_000.25, expires_at=1_750_000_010.25, signatures=2, firm=venue == "otc",
        price_source="static",
    )  # fmt: skip


def _filled_plan() -> Plan:
    """An OTC quote declined on last look, then the local DEX filled; one pool gave no quote."""
    otc = Candidate(
        _quote("otc", "otc-sol-usdc", 149_800_000, 149_800_000, "8.123456789012345678"),
        5_000, 149_795_000, Verdict.CHOSEN,
    )  # fmt: skip
    amm = Candidate(_quote("localdex", "amm-sol-usdc", 149_700_000, 149_150_500, "5"), 10_000,
                    149_690_000, Verdict.LOWER_NET_OUTPUT)  # fmt: skip
    miss = QuoteMiss("otc", "otc-sol-usdt", "below_min_size", "z" * 2500)
    intent = IntentMessage(INTENT_ID, "local", WALLET, SOL_MINT, USDC.mint, 10**9, 149_000_000,
                           50, 1, 1_795_000_000, None)  # fmt: skip
    return Plan(
        kind=PlanKind.FILL,
        submission=Submission("directory", "claim-1", "a.json", b"{}", 1_750_000_000.0),
        mode="paper",
        intent=intent,
        message="{}",
        signature="sig",
        verified_at=1_750_000_000.5,
        terms=TradeTerms(SOL, USDC, 10**9, 149_000_000, 50, Decimal(150), 150_000_000),
        min_out=149_000_000,
        venues=("otc", "localdex"),
        notional_micros=150_000_000,
        day=DAY,
        daily_limit_micros=10**12,
        decision=Decision((otc, amm), (otc, amm), (miss,), None),
        failures=[(otc, LegFailed(Reason.LAST_LOOK_REJECTED, "declined"))],
        fills=[amm],
    )


async def test_rendered_outcome_rows_insert_into_every_table(store: Store) -> None:
    """A rendered fill's rows go in with insert_rows: quotes exact, legs by index, trade by leg."""
    rendered = render(
        _filled_plan(),
        Final(Status.FILLED, None, "", True, (LegOutcome(LegStatus.FILLED, 149_600_000),)),
        1_750_000_001.0,
    )
    await store.write(records.insert_rows, rendered.rows)

    rows = await _rows(store, records.quotes)
    assert [(r.venue, r.source, r.verdict) for r in rows] == [
        ("otc", "otc-sol-usdc", "chosen"),
        ("localdex", "amm-sol-usdc", "lower_net_output"),
        ("otc", "otc-sol-usdt", "below_min_size"),
    ]
    otc, amm, miss = rows
    assert (otc.expected_out, otc.guaranteed_out, otc.network_cost_out, otc.net_out, otc.firm) == (
        149_800_000, 149_800_000, 5_000, 149_795_000, True,
    )  # fmt: skip
    assert otc.fee_bps == Decimal("8.123456789012345678")
    assert (amm.guaranteed_out, amm.firm, amm.fee_bps) == (149_150_500, False, Decimal(5))
    assert amm.price_impact_bps == Decimal("1.2345")
    assert otc.quoted_at == datetime.fromtimestamp(1_750_000_000.25, UTC)
    assert otc.expires_at == datetime.fromtimestamp(1_750_000_010.25, UTC)
    assert len(miss.detail) == 2000
    assert (miss.amount_in, miss.expected_out, miss.fee_bps, miss.firm, miss.quoted_at) == (
        (None,) * 5
    )

    [route] = await _rows(store, records.routes)
    assert (route.intent_id, route.venues, route.net_out) == (INTENT_ID, "localdex", 149_690_000)
    legs = await _rows(store, records.legs)
    assert [(leg.intent_id, leg.leg_index, leg.venue, leg.status, leg.reason) for leg in legs] == [
        (INTENT_ID, 0, "otc", "failed", "last_look_rejected"),
        (INTENT_ID, 1, "localdex", "filled", None),
    ]
    assert (legs[1].realised_out, legs[1].realised_slippage_bps) == (149_600_000, Decimal("6.68"))
    [trade] = await _rows(store, records.trades)
    assert (trade.intent_id, trade.leg_index, trade.venue, trade.amount_out) == (
        INTENT_ID, 1, "localdex", 149_600_000,
    )  # fmt: skip
    assert trade.price == Decimal("149.6")
    [intent] = await _rows(store, records.intents)
    assert (intent.status, intent.amount_out) == ("filled", 149_600_000)
    assert [e.status for e in await _rows(store, records.events)] == ["accepted", "filled"]
    recorded = await store.read(records.get_submission, "directory", "claim-1")
    assert recorded is not None
    assert (recorded.status, recorded.intent_id, recorded.result) == (
        "filled", INTENT_ID, rendered.outcome.result,
    )  # fmt: skip


async def test_rendered_rejection_keeps_a_short_detail(store: Store) -> None:
    """A rejection writes only its submission row, with the detail cut at 2000 characters."""
    plan = Plan(
        kind=PlanKind.REJECT,
        submission=Submission("directory", "claim-2", "b.json", b"junk", 1_750_000_000.0),
        mode="paper",
        reason=Reason.BAD_SIGNATURE,
        detail="x" * 2500,
    )
    final = Final(Status.REJECTED, Reason.BAD_SIGNATURE, "x" * 2500, writes_intent=False)
    await store.write(records.insert_rows, render(plan, final, 1_750_000_001.0).rows)
    [row] = await _rows(store, records.submissions)
    assert (row.ref, row.status, row.reason, len(row.detail)) == (
        "claim-2", "rejected", "bad_signature", 2000,
    )  # fmt: skip
    assert await _count(store, records.intents) == 0


# OTC books


async def test_seed_otc_pool_is_idempotent(store: Store) -> None:
    """Seeding again after a fill (a restart) keeps the inventory, target and fill count."""
    await _seed_otc(store)
    moved = OtcInventory(base=1_010, quote=4_950)
    await store.write(books.save_otc_books, {POOL: moved}, {POOL: 1})
    await _seed_otc(store, OtcInventory(base=7, quote=7))
    book = await _otc_book(store)
    assert book.inventory == moved
    assert book.target == START
    assert (book.fills, book.last_look_rejects) == (1, 0)


async def test_lock_otc_books_reads_only_the_asked_pools(store: Store) -> None:
    """lock_otc_books gives each asked pool's inventory; unknown ids are simply absent."""
    await _seed_otc(store)
    await _seed_otc(store, OtcInventory(3, 4), OTHER_POOL)
    assert await store.write(books.lock_otc_books, [POOL, POOL, "no-such-pool"]) == {POOL: START}
    assert await store.write(books.lock_otc_books, [OTHER_POOL, POOL]) == {
        POOL: START,
        OTHER_POOL: OtcInventory(3, 4),
    }
    assert await store.write(books.lock_otc_books, []) == {}


async def test_save_otc_books_writes_inventories_and_adds_fills(store: Store) -> None:
    """save_otc_books sets the given inventories and adds the fill counts; other pools stay put."""
    await _seed_otc(store)
    await _seed_otc(store, OtcInventory(3, 4), OTHER_POOL)
    await store.write(books.save_otc_books, {POOL: OtcInventory(1_001, 0)}, {POOL: 2})
    await store.write(books.save_otc_books, {POOL: OtcInventory(0, 10_000)}, {POOL: 3})
    await store.write(books.save_otc_books, {POOL: OtcInventory(5, 5)}, {})  # a replenish
    await store.write(books.save_otc_books, {}, {})
    book, other = await _otc_book(store), await _otc_book(store, OTHER_POOL)
    assert (book.inventory, book.fills, book.target) == (OtcInventory(5, 5), 5, START)
    assert (other.inventory, other.fills) == (OtcInventory(3, 4), 0)


async def test_count_otc_rejects(store: Store) -> None:
    """Last-look rejects are added per pool without touching inventory or fills."""
    await _seed_otc(store)
    await _seed_otc(store, OtcInventory(3, 4), OTHER_POOL)
    for _ in range(3):
        await store.write(books.count_otc_rejects, {POOL: 1, OTHER_POOL: 0})
    await store.write(books.count_otc_rejects, {OTHER_POOL: 2})
    await store.write(books.count_otc_rejects, {})
    book, other = await _otc_book(store), await _otc_book(store, OTHER_POOL)
    assert (book.last_look_rejects, book.fills, book.inventory) == (3, 0, START)
    assert (other.last_look_rejects, other.fills, other.inventory) == (2, 0, OtcInventory(3, 4))


# local DEX reserves


async def test_localdex_lock_and_versioned_save(store: Store) -> None:
    """save_localdex_pools applies only at the version lock_localdex_pools read, and bumps it."""

    def seed(connection: Connection) -> None:
        books.seed_localdex_pool(connection, "amm", "BASE", "QUOTE", 1_000, 150_000, 5)
        books.seed_localdex_pool(connection, "amm", "BASE", "QUOTE", 1, 1, 5)  # kept
        books.seed_localdex_pool(connection, "amm-2", "BASE", "QUOTE", 10, 20, 5)

    await store.write(seed)
    read = await store.write(books.lock_localdex_pools, ["amm", "no-such-pool"])
    assert read == {"amm": books.AmmReserves("amm", 1_000, 150_000, 0)}
    moved = {"amm": books.AmmReserves("amm", 1_010, 148_515, 0)}
    await store.write(books.save_localdex_pools, read, moved)
    stale = {"amm": books.AmmReserves("amm", 5, 5, 0)}
    await store.write(books.save_localdex_pools, read, stale)  # read before the first save
    assert await store.write(books.lock_localdex_pools, ["amm"]) == {
        "amm": books.AmmReserves("amm", 1_010, 148_515, 1)
    }
    await store.write(books.save_localdex_pools, {}, {})
    assert await store.read(books.load_localdex_pools) == {
        "amm": books.AmmReserves("amm", 1_010, 148_515, 1),
        "amm-2": books.AmmReserves("amm-2", 10, 20, 0),
    }
