"""Build, sign and drop intent files: what a wallet's automation does, for the CLI and the demo."""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from solders.keypair import Keypair
from solders.signature import Signature

from agent.domain.intent import FORMAT_V1
from onchain.offchain_message import sign_v1

__all__ = ["IntentDraft", "new_nonce", "sign_intent", "tamper_signature", "write_intent"]


def new_nonce() -> int:
    """Microseconds since the epoch: increasing for one wallet without any bookkeeping."""
    return time.time_ns() // 1_000


@dataclass(frozen=True, slots=True)
class IntentDraft:
    cluster: str
    sell_mint: str
    buy_mint: str
    amount: int
    not_after: int
    nonce: int
    min_out: int | None = None
    max_slippage_bps: int | None = None
    venues: tuple[str, ...] | None = None
    id: str = ""

    def message(self, wallet: str) -> str:
        body: dict[str, object] = {
            "version": 1,
            "id": self.id or str(uuid.uuid4()),
            "cluster": self.cluster,
            "wallet": wallet,
            "sell_mint": self.sell_mint,
            "buy_mint": self.buy_mint,
            "amount": str(self.amount),
        }
        if self.min_out is not None:
            body["min_out"] = str(self.min_out)
        if self.max_slippage_bps is not None:
            body["max_slippage_bps"] = self.max_slippage_bps
        body["nonce"] = self.nonce
        body["not_after"] = self.not_after
        if self.venues:
            body["venues"] = list(self.venues)
        return json.dumps(body, separators=(",", ":"))


def sign_intent(keypair: Keypair, draft: IntentDraft) -> tuple[str, bytes]:
    """Return the intent id and the envelope bytes, signed as a v1 off-chain message."""
    message = draft.message(str(keypair.pubkey()))
    _signed, signature = sign_v1(keypair, message.encode("utf-8"))
    envelope = {"message": message, "signature": str(signature), "format": FORMAT_V1}
    intent_id = json.loads(message)["id"]
    return intent_id, (json.dumps(envelope, indent=2) + "\n").encode("utf-8")


def write_intent(directory: Path, intent_id: str, envelope: bytes) -> Path:
    """Drop the file atomically: write a hidden temp file, then rename it into place."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{intent_id}.json"
    temp = directory / f".{intent_id}.{secrets.token_hex(4)}.tmp"
    try:
        with temp.open("xb") as handle:
            handle.write(envelope)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, final)  # refuses to replace an existing intent file
    finally:
        temp.unlink(missing_ok=True)  # also when the link fails: no hidden leftovers
    return final


def tamper_signature(envelope: bytes) -> bytes:
    """A copy whose signature no longer matches (used by the demo's invalid mix)."""
    document = json.loads(envelope)
    raw = bytearray(bytes(Signature.from_string(document["signature"])))
    raw[0] ^= 0x01
    document["signature"] = str(Signature.from_bytes(bytes(raw)))
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")
