"""Repositories over a real database: wallets and usage, intents and their records, pool books."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from agent.domain.otc_pricing import OtcInventory, Side
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import WalletPolicy
from agent.domain.quotes import Quote, QuoteMiss
from agent.domain.routing import Candidate, Verdict
from agent.store import intents as records
from agent.store import pools as books
from agent.store import wallets as wallet_rows
from agent.store.database import Store
from agent.store.models import (
    IntentEventRow,
    OtcPoolRow,
    QuoteRow,
    SubmissionRow,
    WalletUsageRow,
)

events = IntentEventRow.__table__
quotes = QuoteRow.__table__
submissions = SubmissionRow.__table__
usage = WalletUsageRow.__table__

DAY = "2025-06-01"
WALLET = "Wa11et1111111111111111111111111111111111111"
OTHER_WALLET = "Wa11et2222222222222222222222222222222222222"
INTENT_ID = "00000000-0000-4000-8000-000000000001"
OTHER_ID = "00000000-0000-4000-8000-000000000002"
POOL = "otc-test"
START = OtcInventory(base=1_000, quote=5_000)


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
        "sell_mint": "So11111111111111111111111111111111111111112", "buy_mint": "USDCmint",
        "pair": "SOL/USDC", "amount": 10**9, "min_out": 149_000_000, "slippage_bps": 50,
        "not_after": 1_795_000_000, "venues": "otc,localdex", "notional_usd_micros": 150_000_000,
        "usage_day": DAY, "submission_source": "directory", "submission_ref": ref or intent_id,
        "message": "{}", "signature": "sig",
    }  # fmt: skip


async def _insert_intent(store: Store, **kwargs: Any) -> None:
    async with store.transaction() as connection:
        await records.insert_intent(connection, intent_values(**kwargs))


async def _count(store: Store, table: Any) -> int:
    async with store.reading() as connection:
        return (await connection.execute(select(func.count()).select_from(table))).scalar_one()


async def _used(store: Store, wallet: str = WALLET, day: str = DAY) -> int | None:
    async with store.reading() as connection:
        return (
            await connection.execute(
                select(usage.c.used_usd_micros).where(usage.c.wallet == wallet, usage.c.day == day)
            )
        ).scalar_one_or_none()


async def _reserve(store: Store, amount_micros: int, limit_usd: Decimal, day: str = DAY) -> bool:
    async with store.transaction() as connection:
        return await wallet_rows.reserve_usage(connection, WALLET, day, amount_micros, limit_usd)


async def _otc_book(store: Store) -> books.OtcBook:
    async with store.reading() as connection:
        return (await books.load_otc_pools(connection))[POOL]


async def _seed_otc(store: Store, start: OtcInventory = START) -> None:
    async with store.transaction() as connection:
        await books.seed_otc_pool(connection, POOL, "BASE", "QUOTE", start)


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
    async with store.transaction() as connection:
        await wallet_rows.upsert_wallet(connection, first, source="config")
        await wallet_rows.upsert_wallet(connection, second, source="cli")
    async with store.reading() as connection:
        assert await wallet_rows.list_wallets(connection) == [(second, "cli"), (first, "config")]

    updated = WalletPolicy(OTHER_WALLET, Decimal(5), Decimal(50), frozenset({"USDC/USDT"}))
    async with store.transaction() as connection:
        await wallet_rows.upsert_wallet(connection, updated, source="cli")
    async with store.reading() as connection:
        assert await wallet_rows.list_wallets(connection) == [(second, "cli"), (updated, "cli")]


# (amount in USD micros, expected answer) in order, against a $100 daily limit.
RESERVATIONS = [
    (60_000_000, True),
    (40_000_000, True),  # exactly at the limit
    (1, False),
    (0, True),
]


async def test_reserve_usage_holds_the_daily_limit(store: Store) -> None:
    """Reservations succeed while the running total stays within the limit, then refuse."""
    for amount, expected in RESERVATIONS:
        assert await _reserve(store, amount, Decimal(100)) is expected, amount
    assert await _used(store) == 100_000_000


async def test_reserve_usage_refuses_a_single_amount_over_the_limit(store: Store) -> None:
    """An amount above the limit on its own is refused and leaves the day untouched."""
    assert await _reserve(store, 100_000_001, Decimal(100)) is False
    assert await _used(store) is None
    assert await _reserve(store, 100_000_000, Decimal(100)) is True


async def test_reserve_usage_counts_each_day_separately(store: Store) -> None:
    """Usage is per wallet and UTC day: a full day leaves the next one free."""
    assert await _reserve(store, 100_000_000, Decimal(100), day=DAY)
    assert await _reserve(store, 100_000_000, Decimal(100), day="2025-06-02")
    assert not await _reserve(store, 1, Decimal(100), day=DAY)


async def test_reserve_usage_is_atomic_under_concurrency(store: Store) -> None:
    """50 concurrent $3 reservations against $100 let exactly 33 through and never exceed it."""
    results = await asyncio.gather(*(_reserve(store, 3_000_000, Decimal(100)) for _ in range(50)))
    assert results.count(True) == 33
    assert await _used(store) == 99_000_000


async def test_release_usage_gives_back_what_was_reserved(store: Store) -> None:
    """A released reservation frees room for another one up to the limit."""
    assert await _reserve(store, 60_000_000, Decimal(100))
    assert not await _reserve(store, 60_000_000, Decimal(100))
    async with store.transaction() as connection:
        await wallet_rows.release_usage(connection, WALLET, DAY, 60_000_000)
    assert await _used(store) == 0
    assert await _reserve(store, 100_000_000, Decimal(100))


# intents


async def test_insert_intent_records_it_accepted_with_one_event(store: Store) -> None:
    """A new intent reads back as accepted with its amounts, and one accepted event exists."""
    await _insert_intent(store)
    async with store.reading() as connection:
        record = await records.get_intent(connection, INTENT_ID)
        rows = (await connection.execute(select(events))).all()
    assert record == records.IntentRecord(
        id=INTENT_ID, wallet=WALLET, nonce=1, status="accepted", reason=None, detail="",
        amount=10**9, min_out=149_000_000, amount_out=None, notional_usd_micros=150_000_000,
        usage_day=DAY, submission_source="directory", submission_ref=INTENT_ID,
    )  # fmt: skip
    assert [(row.intent_id, row.status) for row in rows] == [(INTENT_ID, "accepted")]


# Second intents that collide with the stored one: the same id, (wallet, nonce), submission.
COLLISIONS = [
    {"intent_id": INTENT_ID, "nonce": 2, "ref": "other-ref"},
    {"intent_id": OTHER_ID, "nonce": 1, "ref": "other-ref"},
    {"intent_id": OTHER_ID, "nonce": 2, "ref": INTENT_ID},
]


async def test_insert_intent_enforces_uniqueness(store: Store) -> None:
    """A second intent with a taken id, (wallet, nonce) or submission raises IntegrityError."""
    await _insert_intent(store)
    for second in COLLISIONS:
        with pytest.raises(IntegrityError):
            await _insert_intent(store, **second)
    assert await _count(store, records.intents) == 1
    assert await _count(store, events) == 1


async def test_the_same_nonce_is_free_for_another_wallet(store: Store) -> None:
    """Nonces are per wallet: another wallet may use the same nonce."""
    await _insert_intent(store)
    await _insert_intent(store, intent_id=OTHER_ID, wallet=OTHER_WALLET, nonce=1)
    assert await _count(store, records.intents) == 2


# (id, wallet, nonce) asked about, and the conflict expected with the stored intent.
CONFLICTS = [
    (INTENT_ID, WALLET, 2, Reason.REPLAYED_ID),
    (INTENT_ID, WALLET, 1, Reason.REPLAYED_ID),  # the id is checked first
    (OTHER_ID, WALLET, 1, Reason.REPLAYED_NONCE),
    (OTHER_ID, WALLET, 2, None),
    (OTHER_ID, OTHER_WALLET, 1, None),
]


async def test_find_conflict_names_the_replay(store: Store) -> None:
    """find_conflict reports a replayed id before a replayed (wallet, nonce), else nothing."""
    await _insert_intent(store)
    async with store.reading() as connection:
        for intent_id, wallet, nonce, expected in CONFLICTS:
            found = await records.find_conflict(connection, intent_id, wallet, nonce)
            if expected is None:
                assert found is None, (intent_id, wallet, nonce)
            else:
                assert found is not None, (intent_id, wallet, nonce)
                assert found[0] is expected
                assert found[1].id == INTENT_ID


async def test_find_submission_intent(store: Store) -> None:
    """The intent a submission accepted is found by (source, ref); other refs find nothing."""
    await _insert_intent(store, ref="claim-7")
    async with store.reading() as connection:
        found = await records.find_submission_intent(connection, "directory", "claim-7")
        assert found is not None
        assert found.id == INTENT_ID
        assert await records.find_submission_intent(connection, "directory", "claim-8") is None
        assert await records.find_submission_intent(connection, "redis", "claim-7") is None


async def test_record_submission_and_get_submission_round_trip(store: Store) -> None:
    """A recorded submission reads back field for field; its detail is cut at 2000 characters."""
    async with store.transaction() as connection:
        await records.record_submission(
            connection, source="directory", ref="claim-1", name="a.json", digest="ab" * 32,
            status=Status.REJECTED, reason=Reason.BAD_SIGNATURE, detail="x" * 2500,
            intent_id=None, received_at=1_750_000_000.5, result='{"status": "rejected"}',
        )  # fmt: skip
        await records.record_submission(
            connection, source="redis", ref="1-0", name="", digest="", status=Status.FILLED,
            reason=None, detail="", intent_id=INTENT_ID, received_at=1_750_000_001.0,
            result="{}",
        )  # fmt: skip
    async with store.reading() as connection:
        rejected = await records.get_submission(connection, "directory", "claim-1")
        filled = await records.get_submission(connection, "redis", "1-0")
        missing = await records.get_submission(connection, "directory", "1-0")
        received = (
            await connection.execute(
                select(submissions.c.received_at).where(submissions.c.ref == "claim-1")
            )
        ).scalar_one()
    assert rejected == records.SubmissionRecord(
        "directory", "claim-1", "rejected", "bad_signature", "x" * 2000, None, "a.json",
        '{"status": "rejected"}',
    )  # fmt: skip
    assert filled == records.SubmissionRecord(
        "redis", "1-0", "filled", None, "", INTENT_ID, "", "{}"
    )
    assert missing is None
    assert received == datetime.fromtimestamp(1_750_000_000.5, UTC)


async def test_record_submission_is_unique_per_source_and_ref(store: Store) -> None:
    """Recording the same (source, ref) twice raises IntegrityError."""
    arguments: dict[str, Any] = {
        "source": "directory", "ref": "claim-1", "name": "a.json", "digest": "",
        "status": Status.REJECTED, "reason": Reason.EXPIRED, "detail": "", "intent_id": None,
        "received_at": 1_750_000_000.0, "result": "",
    }  # fmt: skip
    async with store.transaction() as connection:
        await records.record_submission(connection, **arguments)
    with pytest.raises(IntegrityError):
        async with store.transaction() as connection:
            await records.record_submission(connection, **arguments)
    assert await _count(store, submissions) == 1


async def test_set_intent_status_writes_an_event_each_time(store: Store) -> None:
    """Every status change updates the intent and appends an intent_events row, in order."""
    await _insert_intent(store)
    changes: list[tuple[Status, Reason | None, str, int | None]] = [
        (Status.FAILED, Reason.LAST_LOOK_REJECTED, "declined", None),
        (Status.FAILED, Reason.SLIPPAGE_EXCEEDED, "y" * 2100, None),
        (Status.FILLED, None, "", 149_500_000),
    ]
    for status, reason, detail, amount_out in changes:
        async with store.transaction() as connection:
            await records.set_intent_status(connection, INTENT_ID, status, reason=reason,
                                            detail=detail, amount_out=amount_out)  # fmt: skip
    async with store.reading() as connection:
        record = await records.get_intent(connection, INTENT_ID)
        rows = (await connection.execute(select(events).order_by(events.c.id))).all()
    assert record is not None
    assert (record.status, record.reason, record.amount_out) == ("filled", None, 149_500_000)
    assert [(row.status, row.reason, len(row.detail)) for row in rows] == [
        ("accepted", None, 0),
        ("failed", "last_look_rejected", 8),
        ("failed", "slippage_exceeded", 2000),
        ("filled", None, 0),
    ]
    assert all(row.at.utcoffset() == timedelta(0) for row in rows)
    assert [row.at for row in rows] == sorted(row.at for row in rows)


def _quote(venue: str, source: str, expected: int, guaranteed: int, fee: str) -> Quote:
    return Quote(
        venue=venue, source=source, amount_in=10**9, expected_out=expected,
        guaranteed_out=guaranteed, fee_bps=Decimal(fee), price_impact_bps=Decimal("1.2345"),
        quoted_at=1_750_000_000.25, expires_at=1_750_000_010.25, signatures=2, firm=venue == "otc",
        price_source="static",
    )  # fmt: skip


async def test_insert_quotes_records_candidates_and_misses(store: Store) -> None:
    """Candidates keep their amounts, verdicts and times; misses keep their reason, amounts null."""
    await _insert_intent(store)
    candidates = [
        Candidate(
            _quote("otc", "otc-sol-usdc", 149_800_000, 149_800_000, "8.123456789012345678"),
            5_000,
            149_795_000,
            Verdict.CHOSEN,
        ),
        Candidate(
            _quote("localdex", "amm-sol-usdc", 149_900_000, 149_150_500, "5"),
            10_000,
            149_890_000,
            Verdict.LOWER_NET_OUTPUT,
        ),
    ]
    misses = [QuoteMiss("otc", "otc-sol-usdt", "below_min_size", "z" * 2500)]
    async with store.transaction() as connection:
        await records.insert_quotes(connection, INTENT_ID, candidates, misses)
        await records.insert_quotes(connection, INTENT_ID, [], [])  # nothing to write
    async with store.reading() as connection:
        rows = (await connection.execute(select(quotes).order_by(quotes.c.id))).all()
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


# OTC books


async def test_seed_otc_pool_is_idempotent(store: Store) -> None:
    """Seeding again after a fill (a restart) keeps the inventory, target and fill count."""
    await _seed_otc(store)
    async with store.transaction() as connection:
        assert await books.take_otc_fill(connection, POOL, Side.SELL_BASE, 10, 50)
    await _seed_otc(store, OtcInventory(base=7, quote=7))
    book = await _otc_book(store)
    assert book.inventory == OtcInventory(base=1_010, quote=4_950)
    assert book.target == START
    assert (book.fills, book.last_look_rejects) == (1, 0)


# (side, amount_in, amount_out, inventory after) from START = 1000 base / 5000 quote.
FILLS = [
    (Side.SELL_BASE, 10, 50, OtcInventory(base=1_010, quote=4_950)),
    (Side.BUY_BASE, 50, 10, OtcInventory(base=990, quote=5_050)),
    (Side.SELL_BASE, 1, 5_000, OtcInventory(base=1_001, quote=0)),  # the whole paying side
    (Side.BUY_BASE, 5_000, 1_000, OtcInventory(base=0, quote=10_000)),
]

# (side, amount_out) that the paying side of START cannot cover.
SHORT = [(Side.SELL_BASE, 5_001), (Side.BUY_BASE, 1_001)]


async def test_take_otc_fill_moves_the_right_sides(store: Store) -> None:
    """A fill adds amount_in to the side the pool receives and pays amount_out from the other."""
    for side, amount_in, amount_out, after in FILLS:
        await _seed_otc(store)
        async with store.transaction() as connection:
            returned = await books.take_otc_fill(connection, POOL, side, amount_in, amount_out)
        book = await _otc_book(store)
        assert returned == after, side
        assert book.inventory == after
        assert book.fills == 1
        async with store.transaction() as connection:  # back to START for the next row
            await connection.execute(delete(OtcPoolRow.__table__))


async def test_take_otc_fill_refuses_when_the_paying_side_is_short(store: Store) -> None:
    """A fill the paying side cannot cover (or on an unknown pool) returns None, changes nothing."""
    await _seed_otc(store)
    async with store.transaction() as connection:
        for side, amount_out in SHORT:
            assert await books.take_otc_fill(connection, POOL, side, 1, amount_out) is None
        assert await books.take_otc_fill(connection, "no-such-pool", Side.SELL_BASE, 1, 1) is None
    book = await _otc_book(store)
    assert book.inventory == START
    assert book.fills == 0


async def test_concurrent_otc_fills_never_overdraw(store: Store) -> None:
    """Many concurrent fills each paying 300 quote from 5000: 16 succeed, the sums are exact."""
    await _seed_otc(store)

    async def fill() -> OtcInventory | None:
        async with store.transaction() as connection:
            return await books.take_otc_fill(connection, POOL, Side.SELL_BASE, 7, 300)

    results = await asyncio.gather(*(fill() for _ in range(40)))
    taken = [r for r in results if r is not None]
    book = await _otc_book(store)
    assert len(taken) == 16
    assert book.inventory == OtcInventory(base=1_000 + 16 * 7, quote=5_000 - 16 * 300)
    assert book.fills == 16
    assert all(r.quote >= 0 for r in taken)
    assert sorted(r.quote for r in taken) == [5_000 - n * 300 for n in range(16, 0, -1)]


async def test_set_otc_inventory_is_compare_and_set(store: Store) -> None:
    """The inventory is replaced only when it still equals what the caller read."""
    await _seed_otc(store)
    new = OtcInventory(base=1_100, quote=4_500)
    async with store.transaction() as connection:
        assert (
            await books.set_otc_inventory(connection, POOL, OtcInventory(1_000, 4_999), new)
            is False
        )
    assert (await _otc_book(store)).inventory == START
    async with store.transaction() as connection:
        assert await books.set_otc_inventory(connection, POOL, START, new) is True
        assert await books.set_otc_inventory(connection, POOL, START, START) is False
    assert (await _otc_book(store)).inventory == new


async def test_count_last_look_reject(store: Store) -> None:
    """Each last-look reject is counted on the pool without touching its inventory."""
    await _seed_otc(store)
    for _ in range(3):
        async with store.transaction() as connection:
            await books.count_last_look_reject(connection, POOL)
    book = await _otc_book(store)
    assert (book.last_look_rejects, book.fills, book.inventory) == (3, 0, START)


# local DEX reserves


async def test_localdex_lock_and_versioned_update(store: Store) -> None:
    """update_localdex applies only at the version lock_localdex read, and bumps it."""
    async with store.transaction() as connection:
        await books.seed_localdex_pool(connection, "amm", "BASE", "QUOTE", 1_000, 150_000, 5)
        await books.seed_localdex_pool(connection, "amm", "BASE", "QUOTE", 1, 1, 5)  # kept
    async with store.transaction() as connection:
        read = await books.lock_localdex(connection, "amm")
        assert read == books.AmmReserves("amm", 1_000, 150_000, 0)
        assert await books.update_localdex(connection, "amm", 1_010, 148_515, read.version)
    async with store.transaction() as connection:
        assert not await books.update_localdex(connection, "amm", 5, 5, read.version)  # stale
        assert await books.lock_localdex(connection, "amm") == books.AmmReserves(
            "amm", 1_010, 148_515, 1
        )
    async with store.reading() as connection:
        assert await books.load_localdex_pools(connection) == {
            "amm": books.AmmReserves("amm", 1_010, 148_515, 1)
        }
