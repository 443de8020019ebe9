"""Building, signing, tampering and dropping intent files as a wallet's automation would."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair

from agent.cli.intent_builder import (
    IntentDraft,
    new_nonce,
    sign_intent,
    tamper_signature,
    write_intent,
)
from agent.domain.outcomes import IntentRejected, Reason
from agent.pipeline.verification import verify_submission

WALLET = Keypair.from_seed(bytes(range(32)))
SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
INTENT_ID = "7a74dec1-bbad-4cf9-89ef-a0ed655935c3"
BASE = IntentDraft(
    cluster="local",
    sell_mint=SOL,
    buy_mint=USDC,
    amount=10**9,
    not_after=1_795_000_000,
    nonce=17,
    id=INTENT_ID,
)


def draft(**changes: Any) -> IntentDraft:
    fields = {name: getattr(BASE, name) for name in BASE.__slots__}  # type: ignore[attr-defined]
    return IntentDraft(**{**fields, **changes})


HEAD = (
    f'{{"version":1,"id":"{INTENT_ID}","cluster":"local","wallet":"W","sell_mint":"{SOL}",'
    f'"buy_mint":"{USDC}","amount":"1000000000",'
)
TAIL = '"nonce":17,"not_after":1795000000'


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, HEAD + TAIL + "}", id="required fields only"),
        pytest.param(
            {"min_out": 5, "max_slippage_bps": 30, "venues": ("otc", "jupiter")},
            HEAD + '"min_out":"5","max_slippage_bps":30,' + TAIL + ',"venues":["otc","jupiter"]}',
            id="every field",
        ),
        pytest.param({"venues": ()}, HEAD + TAIL + "}", id="empty venues left out"),
        pytest.param({"min_out": 0}, HEAD + '"min_out":"0",' + TAIL + "}", id="zero min_out kept"),
        pytest.param(
            {"max_slippage_bps": 0}, HEAD + '"max_slippage_bps":0,' + TAIL + "}", id="zero slippage"
        ),
    ],
)
def test_draft_message_text(changes: dict[str, Any], expected: str) -> None:
    """The message is compact JSON in a fixed key order with amounts as decimal strings."""
    assert draft(**changes).message("W") == expected


def test_draft_without_id_gets_a_fresh_uuid4() -> None:
    """A draft without an id gets a new random UUID each time it is rendered."""
    first, second = (json.loads(draft(id="").message("W"))["id"] for _ in range(2))
    assert first != second
    assert uuid.UUID(first).version == 4


def test_sign_intent_produces_a_verifiable_v1_envelope() -> None:
    """sign_intent returns the message's id and an envelope that verifies as the wallet's."""
    intent_id, raw = sign_intent(WALLET, draft(min_out=7, venues=("localdex",)))
    document = json.loads(raw)
    intent, text, signature = verify_submission(raw)
    assert (intent_id, sorted(document), document["format"]) == (
        INTENT_ID,
        ["format", "message", "signature"],
        "solana-offchain-v1",
    )
    assert (text, signature) == (document["message"], document["signature"])
    assert (intent.wallet, intent.min_out, intent.venues) == (
        str(WALLET.pubkey()),
        7,
        ("localdex",),
    )


def test_sign_intent_returns_the_generated_id() -> None:
    """Without a draft id, the returned id is the one written into the signed message."""
    intent_id, raw = sign_intent(WALLET, draft(id=""))
    assert json.loads(json.loads(raw)["message"])["id"] == intent_id


def test_tamper_signature_breaks_only_the_signature() -> None:
    """The tampered copy keeps message and format, and is rejected as bad_signature."""
    _intent_id, raw = sign_intent(WALLET, BASE)
    tampered = tamper_signature(raw)
    before, after = json.loads(raw), json.loads(tampered)
    assert (after["message"], after["format"]) == (before["message"], before["format"])
    assert after["signature"] != before["signature"]
    with pytest.raises(IntentRejected) as info:
        verify_submission(tampered)
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_tamper_signature_twice_restores_the_original() -> None:
    """Tampering flips one bit, so doing it twice gives back a valid envelope."""
    _intent_id, raw = sign_intent(WALLET, BASE)
    assert (
        verify_submission(tamper_signature(tamper_signature(raw)))[2]
        == json.loads(raw)["signature"]
    )


def test_write_intent_drops_the_file_atomically(tmp_path: Path) -> None:
    """The file lands as <id>.json with the exact bytes, in a new folder, with no temp left."""
    inbox = tmp_path / "home" / "inbox"
    intent_id, raw = sign_intent(WALLET, BASE)
    path = write_intent(inbox, intent_id, raw)
    assert (path, path.read_bytes()) == (inbox / f"{INTENT_ID}.json", raw)
    assert [p.name for p in inbox.iterdir()] == [f"{INTENT_ID}.json"]


def test_write_intent_refuses_to_replace_an_existing_file(tmp_path: Path) -> None:
    """Writing the same id twice fails and keeps the first file and no temp file."""
    write_intent(tmp_path, INTENT_ID, b"first")
    with pytest.raises(FileExistsError):
        write_intent(tmp_path, INTENT_ID, b"second")
    assert (tmp_path / f"{INTENT_ID}.json").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == [f"{INTENT_ID}.json"]


def test_new_nonce_is_microseconds_since_the_epoch() -> None:
    """new_nonce lies between the wall clock in microseconds read before and after it."""
    before = time.time_ns() // 1_000
    nonce = new_nonce()
    after = time.time_ns() // 1_000
    assert before <= nonce <= after
