"""The real daemon, in-process, over a temporary home: every file ends somewhere, once."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from solders.keypair import Keypair

from agent.config import AgentConfig
from agent.domain.otc_pricing import Side
from agent.intake.folder.claims import claim
from agent.intake.folder.layout import IntakeLayout
from agent.intake.folder.names import parse_claim_name
from agent.pipeline.pipeline import Submission
from agent.store.models import IntentRow, OtcPoolRow, SubmissionRow, TradeRow
from tests.support.agent_home import AgentHome

# The reason each deliberately invalid kind must end with (replays are checked by count,
# because which of two racing copies comes first is up to the workers).
EXPECTED_REASON = {
    "bad_signature": "bad_signature",
    "expired": "expired",
    "ttl_too_long": "ttl_too_long",
    "malformed_json": "malformed_json",
    "unknown_mint": "unknown_mint",
    "zero_amount": "zero_amount",
    "unknown_wallet": "unknown_wallet",
    "pair_not_allowed": "pair_not_allowed",
    "notional_limit": "notional_limit",
    "wrong_cluster": "wrong_cluster",
    "min_out_unreachable": "min_out_unreachable",
}


@pytest.fixture(name="home")
async def _home(make_config: Callable[..., AgentConfig], database_url: str) -> AgentHome:
    config = make_config(database_url, execution__honour_execution_delay="false")
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    IntakeLayout(home.root).ensure()
    return home


def _add_hostile_files(root: Path) -> dict[str, str]:
    """Files no wallet should send: each must be rejected with its own reason, unread."""
    inbox = root / "inbox"
    secret = root.parent / "secret.txt"
    secret.write_text("not for the agent")
    (inbox / "link.json").symlink_to(secret)
    os.mkfifo(inbox / "pipe.json")
    (inbox / "big.json").write_bytes(b" " * 70_000)
    (root.parent / "original.json").write_text("{}")
    os.link(root.parent / "original.json", inbox / "hardlink.json")
    (inbox / "latin1.json").write_bytes(b"\xff\xfe{}")
    (inbox / ".hidden.json").write_text("{}")
    (inbox / "partial.json.part").write_text("{")
    return {
        "link.json": "symlink",
        "pipe.json": "not_regular_file",
        "big.json": "too_large",
        "hardlink.json": "hard_link",
        "latin1.json": "malformed_json",
    }


async def _rows(home: AgentHome, table) -> list:  # type: ignore[no-untyped-def]
    return await home.rows(table)


async def test_five_hundred_intents_all_reach_a_terminal_folder_with_matching_rows(
    home: AgentHome,
) -> None:
    """500 intents and hostile files each end in done/ or rejected/ once, with a result and a row."""
    kinds = home.feed(500, invalid_share=0.3)
    hostile = _add_hostile_files(home.root)
    stats = await home.daemon().run(once=True)

    assert home.files("inbox") == [".hidden.json", "partial.json.part"]
    assert home.files("work") == []
    done = home.files("done")
    rejected = [n for n in home.files("rejected") if not n.endswith(".reason.json")]
    assert len(done) + len(rejected) == 500 + len(hostile) == stats.processed

    submissions = {row.ref: row for row in await _rows(home, SubmissionRow.__table__)}
    assert len(submissions) == stats.processed
    originals = Counter(parse_claim_name(n)[1] for n in done + rejected)  # type: ignore[index]
    assert set(originals.values()) == {1}
    for name in done:
        claim_id, original = parse_claim_name(name)  # type: ignore[misc]
        assert submissions[claim_id].status == "filled"
    for name in rejected:
        claim_id, original = parse_claim_name(name)  # type: ignore[misc]
        row = submissions[claim_id]
        assert row.status in ("rejected", "failed")
        reason_doc = json.loads((home.root / "rejected" / f"{name}.reason.json").read_text())
        assert reason_doc["reason"] == row.reason
        expected = EXPECTED_REASON.get(kinds.get(original, ""), hostile.get(original))
        if expected is not None:
            assert row.reason == expected, original
        result = json.loads((home.root / reason_doc["result"]).read_text())
        assert result["status"] == row.status
    replays = Counter(
        row.reason
        for row in submissions.values()
        if row.reason in ("replayed_id", "replayed_nonce")
    )
    assert replays["replayed_id"] == Counter(kinds.values())["replayed_id"]
    assert replays["replayed_nonce"] == Counter(kinds.values())["replayed_nonce"]

    intents = await _rows(home, IntentRow.__table__)
    trades = await _rows(home, TradeRow.__table__)
    assert not [i for i in intents if i.status == "accepted"]
    # One trade per filled leg: a split intent has several, and each leg trades once.
    assert {t.intent_id for t in trades} == {i.id for i in intents if i.status == "filled"}
    assert len({(t.intent_id, t.leg_index) for t in trades}) == len(trades)
    by_intent: Counter[str] = Counter()
    for trade in trades:
        by_intent[trade.intent_id] += trade.amount_out
    for intent in (i for i in intents if i.status == "filled"):
        result = json.loads((home.root / "out" / f"{intent.id}.result.json").read_text())
        assert result["buy"]["amount_out"] == str(intent.amount_out)
        assert intent.amount_out >= intent.min_out and intent.amount_out == by_intent[intent.id]


async def test_otc_inventory_moves_exactly_by_the_recorded_fills(home: AgentHome) -> None:
    """Each OTC pool's inventory change equals the sum of its recorded fills, side by side."""
    home.feed(300, invalid_share=0.0, seed=5)
    runtime = home.runtime()
    await runtime.start()
    start = {pool_id: book.inventory for pool_id, book in runtime.otc.books.items()}  # type: ignore[union-attr]
    await runtime.aclose()
    await home.daemon().run(once=True)
    pools = {row.id: row for row in await _rows(home, OtcPoolRow.__table__)}
    for pool_id, before in start.items():
        pool = runtime.otc.pools[pool_id]  # type: ignore[union-attr]
        base_delta = quote_delta = 0
        for trade in await _rows(home, TradeRow.__table__):
            if trade.source != pool_id:
                continue
            side = Side.SELL_BASE if trade.sell_mint == pool.base.mint else Side.BUY_BASE
            if side is Side.SELL_BASE:
                base_delta, quote_delta = (
                    base_delta + trade.amount_in,
                    quote_delta - trade.amount_out,
                )
            else:
                base_delta, quote_delta = (
                    base_delta - trade.amount_out,
                    quote_delta + trade.amount_in,
                )
        assert pools[pool_id].base_inventory == before.base + base_delta
        assert pools[pool_id].quote_inventory == before.quote + quote_delta
        assert pools[pool_id].base_inventory >= 0 and pools[pool_id].quote_inventory >= 0


async def test_restart_finishes_files_left_in_work_without_doing_anything_twice(
    home: AgentHome,
) -> None:
    """Claimed-but-unrecorded and recorded-but-unmoved files each finish exactly once on restart."""
    from agent.cli.intent_builder import tamper_signature

    kinds = home.feed(3, invalid_share=0.0, seed=11)
    names = sorted(kinds)
    tampered = home.root / "inbox" / names[2]
    tampered.write_bytes(tamper_signature(tampered.read_bytes()))
    layout = IntakeLayout(home.root)
    claims = [claim(layout, name) for name in names]
    assert all(claims)
    runtime = home.runtime()
    await runtime.start()
    # Crashes after the terminal commit, before the files moved: one filled, one rejected.
    for claimed in claims[1:]:
        assert claimed is not None
        await runtime.pipeline.process(
            Submission(
                "directory", claimed.claim_id, claimed.original_name, claimed.path.read_bytes(), 0.0
            )
        )
    await runtime.aclose()
    assert len(home.files("work")) == 3
    recorded_before = {row.ref: row.result for row in await _rows(home, SubmissionRow.__table__)}

    stats = await home.daemon().run(once=True)
    assert stats.processed == 3
    assert home.files("work") == []
    assert len(home.files("done")) == 2
    assert [n for n in home.files("rejected") if not n.endswith(".reason.json")] == [
        f"{claims[2].claim_id}--{names[2]}"  # type: ignore[union-attr]
    ]
    submissions = await _rows(home, SubmissionRow.__table__)
    assert sorted(s.ref for s in submissions) == sorted(c.claim_id for c in claims)  # type: ignore[union-attr]
    for row in submissions:
        if row.ref in recorded_before:
            assert row.result == recorded_before[row.ref]
    trades = await _rows(home, TradeRow.__table__)
    assert len({t.intent_id for t in trades}) == 2
    assert len(trades) == len({(t.intent_id, t.leg_index) for t in trades})
    intents = await _rows(home, IntentRow.__table__)
    assert sorted(i.status for i in intents) == ["filled", "filled"]

    again = await home.daemon().run(once=True)
    assert again.processed == 0
    assert len(await _rows(home, SubmissionRow.__table__)) == 3


async def test_wallet_added_while_running_is_honoured_without_restart(home: AgentHome) -> None:
    """An intent from a wallet registered after start is accepted once the registry refreshes."""
    from decimal import Decimal

    from agent.cli.intent_builder import IntentDraft, new_nonce, sign_intent, write_intent
    from agent.domain.policy import WalletPolicy
    from agent.store import wallets as wallet_rows

    newcomer = Keypair.from_seed(bytes([3]) * 32)
    runtime = home.runtime()
    await runtime.start()
    sol, usdc = runtime.tokens.require("SOL"), runtime.tokens.require("USDC")
    await runtime.store.write(
        wallet_rows.upsert_wallet,
        WalletPolicy(
            pubkey=str(newcomer.pubkey()),
            max_notional_usd=Decimal(1000),
            daily_notional_usd=Decimal(5000),
        ),
        "cli",
    )
    import time

    draft = IntentDraft(
        cluster="local",
        sell_mint=sol.mint,
        buy_mint=usdc.mint,
        amount=2 * 10**9,
        not_after=int(time.time()) + 60,
        nonce=new_nonce(),
        max_slippage_bps=100,
    )
    intent_id, envelope = sign_intent(newcomer, draft)
    write_intent(home.root / "inbox", intent_id, envelope)
    await runtime.aclose()
    await home.daemon().run(once=True)
    result = json.loads((home.root / "out" / f"{intent_id}.result.json").read_text())
    assert result["status"] == "filled"


async def test_daily_limit_rejects_once_the_wallet_has_traded_its_allowance(
    make_config, sqlite_url
) -> None:  # type: ignore[no-untyped-def]
    """A wallet's intents are refused with daily_limit once the day's notional would pass its limit."""
    import time
    from decimal import Decimal

    from agent.cli.intent_builder import IntentDraft, sign_intent, write_intent
    from agent.domain.policy import WalletPolicy
    from agent.store import wallets as wallet_rows

    config = make_config(sqlite_url, execution__honour_execution_delay="false")
    wallet = Keypair.from_seed(bytes([4]) * 32)
    home = AgentHome(config, wallet, wallet)
    runtime = home.runtime()
    await runtime.start()
    await runtime.store.write(
        wallet_rows.upsert_wallet,
        WalletPolicy(
            pubkey=str(wallet.pubkey()),
            max_notional_usd=Decimal(1000),
            daily_notional_usd=Decimal(1000),
        ),
        "test",
    )
    sol, usdc = runtime.tokens.require("SOL"), runtime.tokens.require("USDC")
    await runtime.aclose()
    ids = []
    for nonce in range(1, 4):  # 3 x $450 against a $1000 day
        draft = IntentDraft(
            cluster="local",
            sell_mint=sol.mint,
            buy_mint=usdc.mint,
            amount=3 * 10**9,
            not_after=int(time.time()) + 60,
            nonce=nonce,
            max_slippage_bps=100,
        )
        intent_id, envelope = sign_intent(wallet, draft)
        write_intent(config.intake_root / "inbox", intent_id, envelope)
        ids.append(intent_id)
    await home.daemon().run(once=True)
    statuses = sorted(
        json.loads((config.intake_root / "out" / f"{i}.result.json").read_text())["reason"]
        or "filled"
        for i in ids
    )
    assert statuses == ["daily_limit", "filled", "filled"]


async def test_a_run_leaves_price_and_counter_snapshots_in_sql(home: AgentHome) -> None:
    """Every run records the prices it used and its counters, so history outlives Prometheus."""
    from agent.store.models import PriceSnapshotRow, SystemMetricRow

    home.feed(5, invalid_share=0.0, seed=2)
    await home.daemon().run(once=True)
    prices = {row.symbol: row for row in await _rows(home, PriceSnapshotRow.__table__)}
    counters = {row.name: row.value for row in await _rows(home, SystemMetricRow.__table__)}
    assert prices["SOL"].source == "static" and prices["SOL"].usd == 150
    assert counters["intents_processed"] == 5


async def test_a_worker_decides_the_next_file_while_the_last_outcome_is_filed(
    home: AgentHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filing (result file, move) does not hold the worker: with one worker and filing held up,
    every intent is still decided; `run --once` returns only once all are filed."""
    import asyncio

    from agent.intake.folder.intake import DirectoryIntake

    home.feed(4, invalid_share=0.0, seed=21)
    daemon = home.daemon()
    daemon.max_workers = 1
    release = asyncio.Event()
    complete = DirectoryIntake.complete

    async def held_complete(self: DirectoryIntake, *args: object, **kwargs: object) -> Path:
        await release.wait()
        return await complete(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DirectoryIntake, "complete", held_complete)
    run = asyncio.ensure_future(daemon.run(once=True))
    for _ in range(500):
        if len(await _rows(home, SubmissionRow.__table__)) == 4:
            break
        await asyncio.sleep(0.02)
    assert len(await _rows(home, SubmissionRow.__table__)) == 4  # all decided, none filed yet
    claimed = [name for name in home.files("work") if not name.startswith(".")]
    assert not run.done() and len(claimed) == 4 and not daemon.idle
    release.set()
    stats = await run
    assert stats.processed == 4 and home.files("work") == []
    assert len(home.files("out")) == 4


async def test_a_failed_filing_is_logged_and_leaves_the_original_for_the_next_start(
    home: AgentHome, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When a result cannot be filed the daemon logs filing_failed and goes on; the original
    stays in work/, and the next start files it from SQL without deciding it again."""
    from agent.intake.folder.intake import DirectoryIntake

    home.feed(2, invalid_share=0.0, seed=23)
    complete = DirectoryIntake.complete
    failures = iter([OSError(28, "No space left on device")])

    async def full_disk_once(self: DirectoryIntake, *args: object, **kwargs: object) -> Path:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return await complete(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DirectoryIntake, "complete", full_disk_once)
    stats = await home.daemon().run(once=True)
    assert stats.processed == 1
    assert "filing_failed" in capsys.readouterr().out
    assert len([name for name in home.files("work") if not name.startswith(".")]) == 1
    again = await home.daemon().run(once=True)
    assert again.processed == 1 and home.files("work") == []
    assert len(await _rows(home, SubmissionRow.__table__)) == 2
    assert len(home.files("out")) == 2
