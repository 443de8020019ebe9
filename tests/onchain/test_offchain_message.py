"""Off-chain message codec, checked against the spec's vector and Solana's TypeScript library."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from pytest import param
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from onchain.offchain_message import (
    MAX_V0_LONG,
    MAX_V0_SHORT,
    SIGNING_DOMAIN,
    OffchainMessage,
    OffchainMessageError,
    decode,
    encode_v0,
    encode_v1,
    sign_v1,
    verify,
)

VECTORS_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "offchain_vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text())["vectors"]

REF_SEED = bytes([7] * 32)
REF_PUBKEY = "GmaDrppBC7P5ARKV8g3djiwP89vz1jLK23V2GBjuAEGB"
REF_CONTENT = b'{"hello":"world"}'
REF_MESSAGE = bytes.fromhex(
    "ff736f6c616e61206f6666636861696e0101ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421e"
    "ea691446d22c7b2268656c6c6f223a22776f726c64227d"
)
REF_SIGNATURE = bytes.fromhex(
    "bd75dc9d0f989ca2b93a5389ca55879a979604caf40c035d0867e6b4d2b9ddf158e279816e4709c8bad85e7d"
    "c31a52483d5aaed2db8ec5d6f68c60e4fd857c06"
)

DOMAIN = bytes(range(32))
PK_LOW = Pubkey(bytes([1] * 32))
PK_MID = Pubkey(bytes([2] * 32))
PK_HIGH = Pubkey(bytes([3] * 32))


def _keypair(seed_hex: str) -> Keypair:
    return Keypair.from_seed(bytes.fromhex(seed_hex))


def _v1(signers: list[bytes], content: bytes) -> bytes:
    return SIGNING_DOMAIN + bytes([1, len(signers)]) + b"".join(signers) + content


def _v0(fmt: int, signers: list[bytes], content: bytes, length: int | None = None) -> bytes:
    size = len(content) if length is None else length
    header = SIGNING_DOMAIN + bytes([0]) + DOMAIN + bytes([fmt, len(signers)])
    return header + b"".join(signers) + struct.pack("<H", size) + content


# --- the vector in offchain-message.md ---------------------------------------------------


def test_reference_vector_encoding() -> None:
    """encode_v1 reproduces the documented message bytes for the 7s seed."""
    keypair = Keypair.from_seed(REF_SEED)
    assert str(keypair.pubkey()) == REF_PUBKEY
    assert encode_v1([keypair.pubkey()], REF_CONTENT) == REF_MESSAGE


def test_reference_vector_signature() -> None:
    """sign_v1 yields the documented message and deterministic ed25519 signature."""
    message, signature = sign_v1(Keypair.from_seed(REF_SEED), REF_CONTENT)
    assert message == REF_MESSAGE
    assert bytes(signature) == REF_SIGNATURE


def test_reference_vector_verifies() -> None:
    """verify accepts the documented signature from the documented signer."""
    signature = Signature.from_bytes(REF_SIGNATURE)
    assert verify(REF_MESSAGE, signature, Pubkey.from_string(REF_PUBKEY)) is True


@pytest.mark.parametrize("index", [len(REF_MESSAGE) - 1, len(REF_MESSAGE) - 17])
def test_reference_vector_flipped_content_byte_fails(index: int) -> None:
    """Changing one content byte keeps the message well formed but breaks the signature."""
    tampered = bytearray(REF_MESSAGE)
    tampered[index] ^= 0x01
    signature = Signature.from_bytes(REF_SIGNATURE)
    assert verify(bytes(tampered), signature, Pubkey.from_string(REF_PUBKEY)) is False


@pytest.mark.parametrize("index", [0, 31, 63])
def test_reference_vector_flipped_signature_byte_fails(index: int) -> None:
    """Changing one signature byte makes verification fail."""
    tampered = bytearray(REF_SIGNATURE)
    tampered[index] ^= 0x80
    signature = Signature.from_bytes(bytes(tampered))
    assert verify(REF_MESSAGE, signature, Pubkey.from_string(REF_PUBKEY)) is False


def test_verify_rejects_signer_not_in_message() -> None:
    """A valid signature by a key that is not a listed signer does not verify."""
    outsider = Keypair.from_seed(bytes([8] * 32))
    signature = outsider.sign_message(REF_MESSAGE)
    assert signature.verify(outsider.pubkey(), REF_MESSAGE)
    assert verify(REF_MESSAGE, signature, outsider.pubkey()) is False


def test_verify_raises_on_malformed_message() -> None:
    """verify reports a malformed message as an error, not as a bad signature."""
    keypair = Keypair.from_seed(REF_SEED)
    garbage = b"\x00" + REF_MESSAGE[1:]
    with pytest.raises(OffchainMessageError) as info:
        verify(garbage, keypair.sign_message(garbage), keypair.pubkey())
    assert info.value.reason == "bad_domain"


# --- vectors produced by @solana/offchain-messages (see the fixtures generator) ---------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_encodes_identically(vector: dict[str, Any]) -> None:
    """Our encoder produces byte-identical messages to Solana's TypeScript encoder."""
    signers = [Pubkey.from_string(s["pubkey"]) for s in vector["signers"]]
    content = vector["content_utf8"].encode()
    if vector["version"] == 1:
        encoded = encode_v1(signers, content)
    else:
        domain = bytes.fromhex(vector["application_domain_hex"])
        assert str(Pubkey(domain)) == vector["application_domain"]
        encoded = encode_v0(domain, signers, content, vector["message_format"])
    assert encoded.hex() == vector["message_hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_decodes(vector: dict[str, Any]) -> None:
    """Decoding a library-made message recovers its version, signers, content and format."""
    decoded = decode(bytes.fromhex(vector["message_hex"]))
    pubkeys = [Pubkey.from_string(s["pubkey"]) for s in vector["signers"]]
    assert decoded.version == vector["version"]
    assert decoded.content == vector["content_utf8"].encode()
    if vector["version"] == 1:
        assert decoded.signers == tuple(sorted(pubkeys, key=bytes))
        assert (decoded.application_domain, decoded.message_format) == (None, None)
    else:
        assert decoded.signers == tuple(pubkeys)
        assert decoded.application_domain == bytes.fromhex(vector["application_domain_hex"])
        assert decoded.message_format == vector["message_format"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_signature(vector: dict[str, Any]) -> None:
    """The seeds derive the listed keys, sign to the library's signature, and verify."""
    for signer in vector["signers"]:
        assert str(_keypair(signer["seed_hex"]).pubkey()) == signer["pubkey"]
    message = bytes.fromhex(vector["message_hex"])
    first = _keypair(vector["signers"][0]["seed_hex"])
    assert str(first.pubkey()) == vector["signature"]["signer"]
    assert bytes(first.sign_message(message)).hex() == vector["signature"]["signature_hex"]
    signature = Signature.from_bytes(bytes.fromhex(vector["signature"]["signature_hex"]))
    assert verify(message, signature, first.pubkey()) is True


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if v["version"] == 1 and len(v["signers"]) == 1],
    ids=lambda v: v["name"],
)
def test_vector_sign_v1(vector: dict[str, Any]) -> None:
    """sign_v1 reproduces single-signer library vectors exactly."""
    message, signature = sign_v1(
        _keypair(vector["signers"][0]["seed_hex"]), vector["content_utf8"].encode()
    )
    assert message.hex() == vector["message_hex"]
    assert bytes(signature).hex() == vector["signature"]["signature_hex"]


def test_vectors_cover_every_shape() -> None:
    """The fixture holds multi-signer v1 vectors and v0 vectors of every format."""
    assert any(v["version"] == 1 and len(v["signers"]) == 3 for v in VECTORS)
    formats = {v["message_format"] for v in VECTORS if v["version"] == 0}
    assert formats == {0, 1, 2}


# --- encoding rules ----------------------------------------------------------------------


def test_encode_v1_sorts_signers() -> None:
    """encode_v1 writes signers in ascending byte order whatever order it is given."""
    encoded = encode_v1([PK_HIGH, PK_LOW, PK_MID], b"hi")
    assert encoded == _v1([bytes(PK_LOW), bytes(PK_MID), bytes(PK_HIGH)], b"hi")
    assert decode(encoded) == OffchainMessage(1, (PK_LOW, PK_MID, PK_HIGH), b"hi")


def test_encode_v0_keeps_signer_order() -> None:
    """encode_v0 keeps the caller's signer order, as v0 defines no ordering."""
    encoded = encode_v0(DOMAIN, [PK_HIGH, PK_LOW], b"hi")
    assert encoded == _v0(0, [bytes(PK_HIGH), bytes(PK_LOW)], b"hi")
    assert decode(encoded).signers == (PK_HIGH, PK_LOW)


_PREAMBLE_ONE_SIGNER = 85


@pytest.mark.parametrize(
    ("content", "expected_format"),
    [
        (b"plain printable ascii ~", 0),
        (b"a" * (MAX_V0_SHORT - _PREAMBLE_ONE_SIGNER), 0),
        (b"tab\tis not restricted ascii", 1),
        ("caf\u00e9".encode(), 1),
        (b"a" * (MAX_V0_SHORT - _PREAMBLE_ONE_SIGNER + 1), 2),
        ("\u00e9".encode() * 1000, 2),
        (b"a" * (MAX_V0_LONG - _PREAMBLE_ONE_SIGNER), 2),
    ],
    ids=["ascii", "ascii-at-limit", "control-char", "utf8", "ascii-over-short", "utf8-long", "max"],
)
def test_encode_v0_chooses_format(content: bytes, expected_format: int) -> None:
    """encode_v0 picks the most restrictive format that fits the content and total size."""
    decoded = decode(encode_v0(DOMAIN, [PK_LOW], content))
    assert decoded.message_format == expected_format
    assert decoded.content == content


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        param(lambda: encode_v1([], b"x"), "no_signers", id="v1-no-signers"),
        param(lambda: encode_v1([PK_LOW, PK_LOW], b"x"), "duplicate_signer", id="v1-duplicate"),
        param(
            lambda: encode_v1([Pubkey(bytes([i, *bytes(31)])) for i in range(256)], b"x"),
            "too_many_signers",
            id="v1-256-signers",
        ),
        param(lambda: encode_v1([PK_LOW], b""), "empty_content", id="v1-empty"),
        param(lambda: encode_v1([PK_LOW], b"\xff\xfe"), "bad_utf8", id="v1-bad-utf8"),
        param(
            lambda: encode_v0(DOMAIN[:31], [PK_LOW], b"x"),
            "bad_application_domain",
            id="v0-short-domain",
        ),
        param(lambda: encode_v0(DOMAIN, [], b"x"), "no_signers", id="v0-no-signers"),
        param(lambda: encode_v0(DOMAIN, [PK_LOW, PK_LOW], b"x"), "duplicate_signer", id="v0-dup"),
        param(lambda: encode_v0(DOMAIN, [PK_LOW], b""), "empty_content", id="v0-empty"),
        param(lambda: encode_v0(DOMAIN, [PK_LOW], b"\xc3("), "bad_utf8", id="v0-bad-utf8"),
        param(lambda: encode_v0(DOMAIN, [PK_LOW], b"\xe9t\xe9", 1), "bad_utf8", id="v0-latin1"),
        param(
            lambda: encode_v0(DOMAIN, [PK_LOW], "caf\u00e9".encode(), 0),
            "bad_format",
            id="v0-format0-non-ascii",
        ),
        param(lambda: encode_v0(DOMAIN, [PK_LOW], b"ab\n", 0), "bad_format", id="v0-format0-lf"),
        param(lambda: encode_v0(DOMAIN, [PK_LOW], b"x", 3), "bad_format", id="v0-format3"),
        param(
            lambda: encode_v0(DOMAIN, [PK_LOW], b"a" * 1148, 0),
            "content_too_long",
            id="v0-format0-too-long",
        ),
        param(
            lambda: encode_v0(DOMAIN, [PK_LOW], b"a" * 1148, 1),
            "content_too_long",
            id="v0-format1-too-long",
        ),
        param(
            lambda: encode_v0(DOMAIN, [PK_LOW], b"a" * (MAX_V0_LONG - 84)),
            "content_too_long",
            id="v0-too-long",
        ),
    ],
)
def test_encode_rejects(call: Any, reason: str) -> None:
    """Encoders refuse inputs no conforming message could hold, with a stable reason code."""
    with pytest.raises(OffchainMessageError) as info:
        call()
    assert info.value.reason == reason
    assert reason in str(info.value)


# --- strict decoding ---------------------------------------------------------------------

_LOW, _MID, _HIGH = bytes(PK_LOW), bytes(PK_MID), bytes(PK_HIGH)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        param(b"\xfe" + _v1([_LOW], b"x")[1:], "bad_domain", id="wrong-domain-byte"),
        param(b"solana offchain\xff\x01", "bad_domain", id="domain-misaligned"),
        param(b"", "truncated", id="empty"),
        param(SIGNING_DOMAIN[:10], "truncated", id="partial-domain"),
        param(SIGNING_DOMAIN, "truncated", id="no-version"),
        param(SIGNING_DOMAIN + b"\x02\x01" + _LOW + b"x", "unsupported_version", id="version-2"),
        param(SIGNING_DOMAIN + b"\xff", "unsupported_version", id="version-255"),
        param(SIGNING_DOMAIN + b"\x01", "truncated", id="v1-no-count"),
        param(SIGNING_DOMAIN + b"\x01\x02" + _LOW + _MID[:31], "truncated", id="v1-short-signer"),
        param(_v1([], b"x"), "no_signers", id="v1-no-signers"),
        param(_v1([_MID, _LOW], b"x"), "signers_not_sorted", id="v1-unsorted"),
        param(_v1([_LOW, _LOW], b"x"), "duplicate_signer", id="v1-duplicate"),
        param(_v1([_LOW], b""), "empty_content", id="v1-empty"),
        param(_v1([_LOW], b"ok\xff"), "bad_utf8", id="v1-bad-utf8"),
        param(_v1([_LOW], b"\xed\xa0\x80"), "bad_utf8", id="v1-surrogate"),
        param(_v0(0, [_LOW], b"hi")[:40], "truncated", id="v0-short-domain"),
        param(_v0(0, [_LOW], b"hi")[:50], "truncated", id="v0-no-count"),
        param(_v0(0, [_LOW], b"hi")[:-3], "truncated", id="v0-short-length"),
        param(_v0(0, [], b"hi"), "no_signers", id="v0-no-signers"),
        param(_v0(0, [_LOW, _LOW], b"hi"), "duplicate_signer", id="v0-duplicate"),
        param(_v0(0, [_LOW], b"hi") + b"!", "length_mismatch", id="v0-trailing-byte"),
        param(_v0(0, [_LOW], b"hi", length=3), "length_mismatch", id="v0-length-too-big"),
        param(_v0(0, [_LOW], b"hi", length=1), "length_mismatch", id="v0-length-too-small"),
        param(_v0(0, [_LOW], b""), "empty_content", id="v0-empty"),
        param(_v0(1, [_LOW], b"\x80"), "bad_utf8", id="v0-bad-utf8"),
        param(_v0(0, [_LOW], b"tab\t"), "bad_format", id="v0-format0-control"),
        param(_v0(0, [_LOW], "\u00e9".encode()), "bad_format", id="v0-format0-non-ascii"),
        param(_v0(3, [_LOW], b"hi"), "bad_format", id="v0-format3"),
        param(_v0(0, [_LOW], b"a" * 1148), "content_too_long", id="v0-format0-too-long"),
        param(_v0(1, [_LOW], b"a" * 1148), "content_too_long", id="v0-format1-too-long"),
        param(
            _v0(2, [_LOW], b"a" * (MAX_V0_LONG - 84)),
            "content_too_long",
            id="v0-format2-too-long",
        ),
    ],
)
def test_decode_rejects(data: bytes, reason: str) -> None:
    """decode refuses every malformed message with the matching reason code."""
    with pytest.raises(OffchainMessageError) as info:
        decode(data)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "data",
    [
        _v1([_LOW, _MID, _HIGH], "\u00e9\u2713".encode()),
        _v0(0, [_HIGH, _LOW], b"a" * (MAX_V0_SHORT - 117)),
        _v0(1, [_LOW], b"a" * (MAX_V0_SHORT - 85)),
        _v0(2, [_LOW], b"a" * (MAX_V0_LONG - 85)),
    ],
    ids=["v1-three-signers", "v0-format0-at-limit", "v0-format1-at-limit", "v0-format2-at-limit"],
)
def test_decode_then_encode_round_trips(data: bytes) -> None:
    """Re-encoding a decoded well-formed message gives back the same bytes."""
    msg = decode(data)
    if msg.version == 1:
        again = encode_v1(msg.signers, msg.content)
    else:
        assert msg.application_domain is not None
        again = encode_v0(msg.application_domain, msg.signers, msg.content, msg.message_format)
    assert again == data


def test_error_is_value_error_with_readable_message() -> None:
    """OffchainMessageError is a ValueError whose text names the reason and the problem."""
    with pytest.raises(ValueError, match=r"signers_not_sorted.*ascending") as info:
        decode(_v1([_MID, _LOW], b"x"))
    assert isinstance(info.value, OffchainMessageError)
