"""Verify a submission's bytes: envelope, off-chain message signature, schema.

The signature is checked over the exact bytes received: for v1 the off-chain message is
rebuilt from the wallet and the UTF-8 of ``message`` (its encoding is canonical, so nothing
is re-serialised); for v0 the envelope carries the signed bytes, which must contain
``message`` exactly. Only after the signature holds is anything else in the message trusted.
"""

from __future__ import annotations

import base64
import binascii

from solders.pubkey import Pubkey
from solders.signature import Signature

from agent.domain.intent import (
    FORMAT_V1,
    IntentMessage,
    parse_envelope,
    parse_json_object,
    parse_message,
    signer_of,
)
from agent.domain.outcomes import IntentRejected, Reason
from onchain import offchain_message

__all__ = ["verify_submission"]


def _signature(text: str) -> Signature:
    try:
        return Signature.from_string(text)
    except ValueError:
        raise IntentRejected(
            Reason.BAD_FORMAT, "signature is not a base58 ed25519 signature"
        ) from None


def _signed_bytes(
    envelope_format: str, content: bytes, wallet: Pubkey, signed_message: str | None
) -> bytes:
    if envelope_format == FORMAT_V1:
        try:
            return offchain_message.encode_v1([wallet], content)
        except offchain_message.OffchainMessageError as exc:
            raise IntentRejected(Reason.BAD_FORMAT, str(exc)) from None
    try:
        signed = base64.b64decode(signed_message or "", validate=True)
        decoded = offchain_message.decode(signed)
    except (binascii.Error, ValueError) as exc:
        raise IntentRejected(
            Reason.BAD_FORMAT, f"signed_message is not an off-chain message: {exc}"
        ) from None
    if decoded.version != 0 or decoded.content != content:
        raise IntentRejected(Reason.BAD_FORMAT, "signed_message does not contain message exactly")
    if decoded.signers != (wallet,):
        # v1 is rebuilt with the wallet as its only signer; a v0 message must say the same.
        raise IntentRejected(Reason.BAD_SIGNATURE, "the wallet must be the message's only signer")
    return signed


def verify_submission(raw: bytes) -> tuple[IntentMessage, str, str]:
    """Return the parsed intent, its message text and signature, or raise IntentRejected."""
    envelope = parse_envelope(raw)
    document = parse_json_object(envelope.message, "message")
    wallet_text = signer_of(document)
    try:
        wallet = Pubkey.from_string(wallet_text)
    except ValueError:
        raise IntentRejected(Reason.BAD_SCHEMA, "wallet is not a valid public key") from None
    signature = _signature(envelope.signature)
    content = envelope.message.encode("utf-8")
    signed = _signed_bytes(envelope.format, content, wallet, envelope.signed_message)
    try:
        valid = offchain_message.verify(signed, signature, wallet)
    except offchain_message.OffchainMessageError as exc:
        raise IntentRejected(Reason.BAD_FORMAT, str(exc)) from None
    if not valid:
        raise IntentRejected(Reason.BAD_SIGNATURE, "the signature does not match the wallet")
    return parse_message(document), envelope.message, envelope.signature
