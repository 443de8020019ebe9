"""Fuzzing the intent envelope, the signed message and the off-chain message codec.

tests/test_verification.py already feeds arbitrary bytes, arbitrary flat envelopes, one
changed byte and arbitrary signed text to the verifier. These properties go further: real
intents mutated structurally (dropped keys, changed types, extreme numbers, deep nesting,
duplicate keys) and then signed, so the schema behind the signature is reached; every kind of
single mutation of a signed file (bytes, envelope fields, message characters, the v0 signed
bytes, fields swapped in from other valid files); and the off-chain message decoder.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from agent.cli.intent_builder import IntentDraft
from agent.domain.intent import CLUSTER_NAMES, FORMAT_V0, FORMAT_V1, VENUE_NAMES, IntentMessage
from agent.domain.outcomes import IntentRejected, Reason
from agent.domain.tokens import MAX_AMOUNT
from agent.pipeline.verification import verify_submission
from onchain.offchain_message import (
    SIGNING_DOMAIN,
    OffchainMessage,
    OffchainMessageError,
    decode,
    encode_v0,
    encode_v1,
    sign_v1,
    verify,
)
from tests.support.mutations import byte_mutations, fuzzing, mutated

WALLET = Keypair.from_seed(bytes([7]) * 32)
OTHER = Keypair.from_seed(bytes([8]) * 32)
DOMAIN = bytes(range(200, 232))  # a v0 application domain
SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
DRAFT = IntentDraft(
    cluster="local",
    sell_mint=SOL,
    buy_mint=USDC,
    amount=10**9,
    not_after=1_795_000_000,
    nonce=17,
    min_out=149_000_000,
    max_slippage_bps=50,
    venues=("otc", "localdex"),
    id="7a74dec1-bbad-4cf9-89ef-a0ed655935c3",
)
MESSAGE_TEXT = DRAFT.message(str(WALLET.pubkey()))
MESSAGE = json.loads(MESSAGE_TEXT)
# The only reasons verification itself may give; the rest need a wallet, a clock or prices.
VERIFIER_REASONS = frozenset(
    {
        Reason.MALFORMED_JSON,
        Reason.BAD_FORMAT,
        Reason.BAD_SCHEMA,
        Reason.UNSUPPORTED_VERSION,
        Reason.BAD_SIGNATURE,
        Reason.AMOUNT_OVERFLOW,
    }
)
# Details land in result files, SQL rows and logs: a hostile file must not make them huge.
MAX_DETAIL = 300


def v1_envelope(text: str, keypair: Keypair = WALLET) -> bytes:
    """A v1 envelope of `text` signed by `keypair` (a dummy signature when `text` has no UTF-8)."""
    try:
        signature = str(sign_v1(keypair, text.encode("utf-8"))[1])
    except UnicodeEncodeError:
        signature = str(Signature.default())
    return json.dumps({"message": text, "signature": signature, "format": FORMAT_V1}).encode()


def v0_envelope(text: str, keypair: Keypair = WALLET) -> bytes:
    """A v0 envelope of `text` whose signed bytes name `keypair` (empty when they cannot)."""
    try:
        signed = encode_v0(DOMAIN, [keypair.pubkey()], text.encode("utf-8"))
    except (UnicodeEncodeError, OffchainMessageError):
        signed, signature = b"", Signature.default()
    else:
        signature = keypair.sign_message(signed)
    document = {
        "message": text,
        "signature": str(signature),
        "format": FORMAT_V0,
        "signed_message": base64.b64encode(signed).decode(),
    }
    return json.dumps(document).encode()


def verified_or_reason(raw: bytes) -> tuple[IntentMessage, str, str] | Reason:
    """What verification makes of `raw`; a rejection must carry a verifier reason and a short,
    non-empty detail. Any other exception propagates and fails the test."""
    try:
        result = verify_submission(raw)
    except IntentRejected as rejection:
        event(rejection.reason.value)
        assert rejection.reason in VERIFIER_REASONS, rejection
        assert 0 < len(rejection.detail) <= MAX_DETAIL, rejection.detail[:500]
        return rejection.reason
    event("verified")
    return result


def _amount(value: Any) -> int:
    assert isinstance(value, int | str) and not isinstance(value, bool)
    return int(value)


def assert_is_the_signed_intent(intent: IntentMessage, text: str) -> None:
    """The parsed intent says exactly what the signed text says, in exact, bounded types."""
    document = json.loads(text)
    assert document["version"] == 1
    assert intent.id == str(uuid.UUID(document["id"])) == document["id"].lower()
    assert intent.cluster == document["cluster"] and intent.cluster in CLUSTER_NAMES
    assert intent.wallet == document["wallet"] == str(Pubkey.from_string(intent.wallet))
    assert (intent.sell_mint, intent.buy_mint) == (document["sell_mint"], document["buy_mint"])
    assert type(intent.amount) is int and 0 <= intent.amount <= MAX_AMOUNT
    assert intent.amount == _amount(document["amount"])
    if document.get("min_out") is None:
        assert intent.min_out is None
    else:
        assert type(intent.min_out) is int and intent.min_out == _amount(document["min_out"])
        assert 0 <= intent.min_out <= MAX_AMOUNT
    for field in ("nonce", "not_after"):
        assert type(getattr(intent, field)) is int and getattr(intent, field) == document[field]
    slippage = intent.max_slippage_bps
    assert slippage is None or (type(slippage) is int and 0 <= slippage <= 10_000)
    assert intent.venues is None or (
        intent.venues == tuple(document["venues"]) and set(intent.venues) <= set(VENUE_NAMES)
    )


# Mutated messages, correctly signed: the schema behind the signature


@fuzzing(400)
@given(text=mutated(MESSAGE), envelope=st.sampled_from([v1_envelope, v0_envelope]))
@example(text=MESSAGE_TEXT.replace('"nonce":17', '"nonce":17.0'), envelope=v1_envelope)
@example(text=MESSAGE_TEXT.replace('"1000000000"', "1" + "0" * 5000), envelope=v1_envelope)
@example(text=MESSAGE_TEXT.replace('"local"', '"local","cluster":"local"'), envelope=v1_envelope)
@example(text=MESSAGE_TEXT.replace(':1,"id"', ':"' + "A" * 70_000 + '","id"'), envelope=v1_envelope)
def test_mutated_signed_messages_verify_as_signed_or_are_rejected(text: str, envelope: Any) -> None:
    """A signed, mutated message is rejected with a verifier reason or parses to just its text."""
    result = verified_or_reason(envelope(text))
    if not isinstance(result, Reason):
        intent, verified, _signature = result
        assert verified == text
        assert_is_the_signed_intent(intent, text)


ENVELOPE_V1 = json.loads(v1_envelope(MESSAGE_TEXT))
ENVELOPE_V0 = json.loads(v0_envelope(MESSAGE_TEXT))


@fuzzing(300)
@given(text=mutated(ENVELOPE_V1) | mutated(ENVELOPE_V0))
@example(text=json.dumps({**ENVELOPE_V1, "x" * 70_000: 1}))
def test_mutated_envelopes_are_rejected_with_a_reason(text: str) -> None:
    """Mutated envelopes raise nothing but IntentRejected, with a short detail."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # to_text escapes non-ASCII, so this is only a safeguard
        raw = text.encode("utf-8", "surrogatepass")
    result = verified_or_reason(raw)
    if not isinstance(result, Reason):
        assert_is_the_signed_intent(result[0], result[1])


# One mutation of a valid file never verifies a different message


V1_RAW = v1_envelope(MESSAGE_TEXT)
V0_RAW = v0_envelope(MESSAGE_TEXT)
ORIGINALS = {raw: verify_submission(raw) for raw in (V1_RAW, V0_RAW)}
OTHER_DRAFT = replace(DRAFT, nonce=18, amount=2 * 10**9)
DONORS = [
    json.loads(raw)
    for raw in (
        v1_envelope(OTHER_DRAFT.message(str(WALLET.pubkey()))),  # another intent, same wallet
        v0_envelope(OTHER_DRAFT.message(str(WALLET.pubkey()))),
        v1_envelope(MESSAGE_TEXT, OTHER),  # the same text signed by another key
        v0_envelope(MESSAGE_TEXT, OTHER),
        v1_envelope(DRAFT.message(str(OTHER.pubkey())), OTHER),  # valid for another wallet
    )
]


@st.composite
def field_swaps(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with one envelope field taken from another valid file."""
    document = json.loads(original)
    donor = draw(st.sampled_from(DONORS))
    field = draw(st.sampled_from(sorted(set(donor) | set(document))))
    if field in donor:
        document[field] = donor[field]
    else:
        del document[field]
    return json.dumps(document).encode()


@st.composite
def message_edits(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with one character of its message inserted, deleted or replaced, unsigned."""
    document = json.loads(original)
    text = document["message"]
    position = draw(st.integers(0, len(text)))
    character = draw(st.characters() | st.sampled_from(" \t\n\\\"'0123456789\ud800"))
    operation = draw(st.sampled_from(["insert", "delete", "replace"]))
    tail = text[position + 1 :] if operation != "insert" else text[position:]
    middle = "" if operation == "delete" else character
    document["message"] = text[:position] + middle + tail
    return json.dumps(document).encode()


@st.composite
def signed_bytes_edits(draw: st.DrawFn) -> bytes:
    """The v0 file with one byte of its signed off-chain message mutated."""
    document = json.loads(V0_RAW)
    _name, signed = draw(byte_mutations(base64.b64decode(document["signed_message"])))
    document["signed_message"] = base64.b64encode(signed).decode()
    return json.dumps(document).encode()


def single_mutations(original: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        byte_mutations(original).map(lambda named: named[1]),
        mutated(json.loads(original), max_mutations=1).map(str.encode),
        field_swaps(original),
        message_edits(original),
    )


@fuzzing(600)
@given(
    pair=st.one_of(
        st.tuples(st.just(V1_RAW), single_mutations(V1_RAW)),
        st.tuples(st.just(V0_RAW), single_mutations(V0_RAW) | signed_bytes_edits()),
    )
)
@example(pair=(V1_RAW, V1_RAW.replace(b'"message"', b'"message" ')))  # layout: same message
def test_one_mutation_never_verifies_a_different_message(pair: tuple[bytes, bytes]) -> None:
    """One mutation of a signed file is rejected or verifies the original message, unchanged."""
    original, raw = pair
    result = verified_or_reason(raw)
    if not isinstance(result, Reason):
        assert result == ORIGINALS[original]


# The off-chain message codec


def _valid_messages() -> list[bytes]:
    keys = [Keypair.from_seed(bytes([n]) * 32).pubkey() for n in (3, 1, 2)]
    return [
        encode_v1(keys, MESSAGE_TEXT.encode()),
        encode_v1(keys[:1], "é✓".encode()),
        encode_v0(DOMAIN, keys, b"printable ascii"),
        encode_v0(DOMAIN, keys[:1], "non-ascii é".encode()),
        encode_v0(DOMAIN, keys[:1], b"x" * 2_000),
    ]


VALID_MESSAGES = _valid_messages()


def _reencoded(message: OffchainMessage) -> bytes:
    if message.version == 1:
        return encode_v1(message.signers, message.content)
    assert message.application_domain is not None
    return encode_v0(
        message.application_domain, message.signers, message.content, message.message_format
    )


@fuzzing(600)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda version, rest: SIGNING_DOMAIN + version + rest,
            st.sampled_from([b"\x00", b"\x01", b"\x02", b"\xff"]),
            st.binary(max_size=400),
        ),
        st.sampled_from(VALID_MESSAGES).flatmap(byte_mutations).map(lambda named: named[1]),
    )
)
def test_decode_accepts_only_what_an_encoder_would_emit(data: bytes) -> None:
    """decode refuses with OffchainMessageError or returns what re-encodes to the same bytes."""
    try:
        message = decode(data)
    except OffchainMessageError as error:
        assert error.reason and error.detail
        message = None
    else:
        assert _reencoded(message) == data
    try:
        valid = verify(data, Signature.default(), WALLET.pubkey())
    except OffchainMessageError:
        assert message is None
    else:
        assert message is not None and valid is False
