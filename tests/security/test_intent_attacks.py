"""Hostile intents through the real daemon, beside valid ones: forged, tampered, replayed (id and
nonce), cross-cluster, expired and far-future. Each is rejected with its reason, the valid
intents still fill, and nothing but the attack's own submission record changes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from solders.keypair import Keypair
from solders.signature import Signature

from agent.cli.intent_builder import IntentDraft
from agent.domain.intent import FORMAT_V0, FORMAT_V1
from onchain.offchain_message import encode_v0, sign_v1
from tests.security.conftest import DESK, STRANGER, TREASURY, Bench, Ending, Signed

VALID = 3  # valid intents dropped beside every attack
MAX_TTL_S = 600  # intake.max_ttl_s in configs/local.toml


def _envelope(message: str, signature: Signature | str, **extra: str) -> bytes:
    document = {"message": message, "signature": str(signature), "format": FORMAT_V1} | extra
    return json.dumps(document, indent=2).encode()


def _message(envelope: bytes) -> str:
    return str(json.loads(envelope)["message"])


def _signature(envelope: bytes) -> str:
    return str(json.loads(envelope)["signature"])


def _signed_as(signer: Keypair, draft: IntentDraft, wallet: Keypair = DESK) -> bytes:
    """``draft`` naming ``wallet``, signed (as a v1 off-chain message) by ``signer``."""
    message = draft.message(str(wallet.pubkey()))
    _, signature = sign_v1(signer, message.encode())
    return _envelope(message, signature)


def _edited(envelope: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """The envelope with its message re-serialised after ``edit``; the signature kept."""
    document = json.loads(_message(envelope))
    edit(document)
    return _envelope(json.dumps(document, separators=(",", ":")), _signature(envelope))


async def _run(bench: Bench, attacks: dict[str, bytes]) -> tuple[dict[str, Ending], set[str]]:
    """Drop VALID valid intents and the attacks, run the daemon once; (endings by file name,
    the valid intents' ids). Every file in the inbox is answered and every valid intent fills."""
    valid = bench.drop_valid(VALID)
    for name, data in attacks.items():
        bench.drop(name, data)
    pending = len(bench.files("inbox"))
    stats = await bench.run_once()
    assert stats.processed == pending
    endings = await bench.endings()
    assert {endings[name].status for name in valid} == {"filled"}
    assert bench.files("inbox") == [] and bench.files("work") == []
    return endings, {signed.intent_id for signed in valid.values()}


async def _only_these_traded(bench: Bench, accepted: set[str]) -> None:
    """Only ``accepted`` were recorded as intents, traded, and counted against a wallet."""
    intents = await bench.intents()
    assert set(intents) == accepted
    assert {trade.intent_id for trade in await bench.trades()} == {
        i for i, row in intents.items() if row.status == "filled"
    }
    assert await bench.used_usd_micros() == sum(
        row.notional_usd_micros for row in intents.values() if row.status == "filled"
    )


def _result(bench: Bench, name: str) -> dict[str, Any]:
    return dict(json.loads((bench.root / "out" / f"{name}.result.json").read_text()))


def _assert_rejected(bench: Bench, ending: Ending, name: str, reason: str) -> None:
    """Rejected for ``reason``, moved to rejected/ with a reason file beside it."""
    assert (ending.status, ending.reason) == ("rejected", reason), ending.detail
    [moved] = [n for n in bench.files("rejected") if n.endswith(f"--{name}")]
    reason_file = json.loads((bench.root / "rejected" / f"{moved}.reason.json").read_text())
    assert reason_file["reason"] == reason


# --- forged ------------------------------------------------------------------------------------
def _forged_by_stranger(bench: Bench, victim: Signed) -> bytes:
    return _signed_as(STRANGER, bench.draft(id=victim.intent_id))


def _signature_of_another_intent(bench: Bench, victim: Signed) -> bytes:
    message = bench.draft(id=victim.intent_id, amount=50 * 10**9).message(str(DESK.pubkey()))
    return _envelope(message, _signature(victim.data))


def _zero_signature(bench: Bench, victim: Signed) -> bytes:
    message = bench.draft(id=victim.intent_id).message(str(DESK.pubkey()))
    return _envelope(message, Signature.default())


def _v0_signed_by_stranger(bench: Bench, victim: Signed) -> bytes:
    message = bench.draft(id=victim.intent_id).message(str(DESK.pubkey()))
    signed = encode_v0(bytes(32), [STRANGER.pubkey()], message.encode())
    return json.dumps(
        {
            "message": message,
            "signature": str(STRANGER.sign_message(signed)),
            "format": FORMAT_V0,
            "signed_message": base64.b64encode(signed).decode(),
        }
    ).encode()


@pytest.mark.parametrize(
    "forge",
    [_forged_by_stranger, _signature_of_another_intent, _zero_signature, _v0_signed_by_stranger],
    ids=["stranger-signs-as-desk", "signature-of-another-intent", "zero-signature", "v0-stranger"],
)
async def test_forged_signature_is_rejected_and_cannot_claim_a_result(
    bench: Bench, forge: Callable[[Bench, Signed], bytes]
) -> None:
    """A forged intent is bad_signature and cannot take over the result file of the id it claims."""
    victim = bench.sign()
    bench.drop("victim", victim.data)
    endings, valid = await _run(bench, {"forged": forge(bench, victim)})
    _assert_rejected(bench, endings["forged.json"], "forged.json", "bad_signature")
    assert endings["forged.json"].intent_id is None
    assert _result(bench, victim.intent_id)["status"] == "filled"
    assert _result(bench, endings["forged.json"].ref)["reason"] == "bad_signature"
    await _only_these_traded(bench, valid | {victim.intent_id})


async def test_an_unregistered_signer_is_an_unknown_wallet(bench: Bench) -> None:
    """A correctly signed intent from a key the registry does not know is unknown_wallet."""
    endings, valid = await _run(bench, {"stranger": bench.sign(STRANGER).data})
    _assert_rejected(bench, endings["stranger.json"], "stranger.json", "unknown_wallet")
    await _only_these_traded(bench, valid)


# --- tampered -----------------------------------------------------------------------------------
def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.__setitem__(key, value)


def _swap_mints(document: dict[str, Any]) -> None:
    document["sell_mint"], document["buy_mint"] = document["buy_mint"], document["sell_mint"]


TAMPERS: list[Any] = [
    ("amount-times-100", _set("amount", str(100 * 10**9))),
    ("min-out-zero", _set("min_out", "0")),
    ("slippage-raised", _set("max_slippage_bps", 2000)),
    ("mints-swapped", _swap_mints),
    ("wallet-swapped", _set("wallet", str(TREASURY.pubkey()))),
    ("nonce-changed", lambda d: d.__setitem__("nonce", d["nonce"] + 1)),
    ("deadline-extended", lambda d: d.__setitem__("not_after", d["not_after"] + 60)),
    ("venues-narrowed", _set("venues", ["localdex"])),
    ("same-fields-reordered", lambda d: d.__setitem__("version", d.pop("version"))),
]


@pytest.mark.parametrize("edit", [t[1] for t in TAMPERS], ids=[t[0] for t in TAMPERS])
async def test_a_field_changed_after_signing_is_rejected(
    bench: Bench, edit: Callable[[dict[str, Any]], None]
) -> None:
    """Any change to the signed text, even a re-serialisation of the same fields, is bad_signature."""
    original = bench.sign()
    tampered = _edited(original.data, edit)
    assert _message(tampered) != _message(original.data)
    endings, valid = await _run(bench, {"tampered": tampered})
    _assert_rejected(bench, endings["tampered.json"], "tampered.json", "bad_signature")
    await _only_these_traded(bench, valid)


# --- replayed id --------------------------------------------------------------------------------
async def test_a_copy_in_the_same_run_fills_once(bench: Bench) -> None:
    """Two concurrent copies of one intent: one fills, the other is replayed_id, one trade."""
    signed = bench.sign()
    endings, valid = await _run(bench, {"copy-a": signed.data, "copy-b": signed.data})
    outcomes = sorted(
        (endings[n].status, endings[n].reason) for n in ("copy-a.json", "copy-b.json")
    )
    assert outcomes == [("filled", None), ("rejected", "replayed_id")]
    await _only_these_traded(bench, valid | {signed.intent_id})
    trades = [t for t in await bench.trades() if t.intent_id == signed.intent_id]
    assert len({t.leg_index for t in trades}) == len(trades) >= 1


def _same_bytes(bench: Bench, original: Signed) -> bytes:
    return original.data


def _same_id_new_nonce(bench: Bench, original: Signed) -> bytes:
    return bench.sign(id=original.intent_id).data


def _same_id_upper_case(bench: Bench, original: Signed) -> bytes:
    return bench.sign(id=original.intent_id.upper()).data


@pytest.mark.parametrize(
    "replay",
    [_same_bytes, _same_id_new_nonce, _same_id_upper_case],
    ids=["same-bytes", "same-id-new-nonce", "same-id-upper-case"],
)
async def test_a_replayed_id_in_a_later_run_is_rejected(
    bench: Bench, replay: Callable[[Bench, Signed], bytes]
) -> None:
    """A later submission of a filled id is replayed_id: no second trade, the first result kept."""
    original = bench.sign()
    bench.drop("original", original.data)
    assert (await bench.run_once()).filled == 1
    first = _result(bench, original.intent_id)
    trades_before = await bench.trades()

    endings, valid = await _run(bench, {"replay": replay(bench, original)})
    _assert_rejected(bench, endings["replay.json"], "replay.json", "replayed_id")
    assert _result(bench, original.intent_id) == first
    assert _result(bench, endings["replay.json"].ref)["reason"] == "replayed_id"
    trades_after = [t for t in await bench.trades() if t.intent_id not in valid]
    assert [t.id for t in trades_after] == [t.id for t in trades_before]
    await _only_these_traded(bench, valid | {original.intent_id})


# --- replayed (wallet, nonce) -------------------------------------------------------------------
@pytest.mark.parametrize("later_run", [False, True], ids=["same-run", "later-run"])
async def test_a_replayed_nonce_is_rejected(bench: Bench, later_run: bool) -> None:
    """A reused (wallet, nonce) is replayed_nonce, while another wallet's same nonce fills."""
    original = bench.sign()
    bench.drop("original", original.data)
    if later_run:
        assert (await bench.run_once()).filled == 1
    reused = bench.sign(nonce=original.nonce)
    other_wallet = bench.sign(TREASURY, nonce=original.nonce)
    attacks = {"reused": reused.data, "other-wallet": other_wallet.data}
    if later_run:
        endings, valid = await _run(bench, attacks)
    else:
        # Both compete for the nonce in one run: whichever commits first wins it.
        endings, valid = await _run(bench, attacks)
        contest = sorted(endings[n].reason or "" for n in ("original.json", "reused.json"))
        assert contest == ["", "replayed_nonce"]
        assert {endings["original.json"].status, endings["reused.json"].status} == {
            "filled",
            "rejected",
        }
        winner = original if endings["original.json"].status == "filled" else reused
        await _only_these_traded(bench, valid | {winner.intent_id, other_wallet.intent_id})
        return
    _assert_rejected(bench, endings["reused.json"], "reused.json", "replayed_nonce")
    assert endings["other-wallet.json"].status == "filled"
    await _only_these_traded(bench, valid | {original.intent_id, other_wallet.intent_id})


# --- cross-cluster ------------------------------------------------------------------------------
@pytest.mark.parametrize("cluster", ["devnet", "mainnet-beta"])
async def test_an_intent_for_another_cluster_is_rejected(bench: Bench, cluster: str) -> None:
    """An intent the wallet signed for another cluster is wrong_cluster on the local agent."""
    endings, valid = await _run(bench, {"elsewhere": bench.sign(cluster=cluster).data})
    _assert_rejected(bench, endings["elsewhere.json"], "elsewhere.json", "wrong_cluster")
    await _only_these_traded(bench, valid)


async def test_an_unknown_cluster_name_is_a_schema_error(bench: Bench) -> None:
    """A cluster name outside local/devnet/mainnet-beta is bad_schema, never matched loosely."""
    endings, valid = await _run(bench, {"testnet": bench.sign(cluster="testnet").data})
    _assert_rejected(bench, endings["testnet.json"], "testnet.json", "bad_schema")
    await _only_these_traded(bench, valid)


# --- expired and far-future ---------------------------------------------------------------------
@pytest.mark.parametrize("age_s", [1, 3_600, None], ids=["just-expired", "an-hour-ago", "epoch"])
async def test_an_expired_intent_is_rejected(bench: Bench, age_s: int | None) -> None:
    """An intent whose not_after has passed is expired and never quoted or traded."""
    not_after = 0 if age_s is None else int(time.time()) - age_s
    endings, valid = await _run(bench, {"stale": bench.sign(not_after=not_after).data})
    _assert_rejected(bench, endings["stale.json"], "stale.json", "expired")
    await _only_these_traded(bench, valid)


@pytest.mark.parametrize(
    ("ahead_s", "reason"),
    [(MAX_TTL_S + 60, "ttl_too_long"), (2**40 - 2_000_000_000, "ttl_too_long")],
    ids=["just-past-max-ttl", "year-36812"],
)
async def test_a_far_future_intent_is_rejected(bench: Bench, ahead_s: int, reason: str) -> None:
    """An intent living longer than intake.max_ttl_s is ttl_too_long, however far ahead."""
    signed = bench.sign(not_after=int(time.time()) + ahead_s)
    endings, valid = await _run(bench, {"forever": signed.data})
    _assert_rejected(bench, endings["forever.json"], "forever.json", reason)
    await _only_these_traded(bench, valid)


async def test_a_deadline_beyond_the_schema_is_rejected(bench: Bench) -> None:
    """A not_after beyond 2**40 is bad_schema: no integer is too large to be refused."""
    endings, valid = await _run(bench, {"beyond": bench.sign(not_after=2**63).data})
    _assert_rejected(bench, endings["beyond.json"], "beyond.json", "bad_schema")
    await _only_these_traded(bench, valid)


async def test_a_deadline_just_inside_the_limit_fills(bench: Bench) -> None:
    """The boundary's other side: not_after a little under max_ttl_s ahead is accepted."""
    signed = bench.sign(not_after=int(time.time()) + MAX_TTL_S - 30)
    endings, valid = await _run(bench, {"inside": signed.data})
    assert endings["inside.json"].status == "filled"
    await _only_these_traded(bench, valid | {signed.intent_id})


async def test_an_expired_replay_leaves_the_filled_result_alone(bench: Bench) -> None:
    """A filled intent replayed after its deadline leaves out/<id>.result.json saying filled."""
    original = bench.sign(not_after=int(time.time()) + 120)
    bench.drop("original", original.data)
    assert (await bench.run_once()).filled == 1
    bench.drop("replay", original.data)
    daemon = bench.daemon()
    wall_clock = daemon.runtime.clock
    daemon.runtime.clock = lambda: wall_clock() + 300  # the replay comes after not_after
    assert (await daemon.run(once=True)).rejected == 1
    assert (await bench.endings())["replay.json"].reason == "replayed_id"
    assert _result(bench, original.intent_id)["status"] == "filled"
