"""Verifying submissions: the signature holds over the exact bytes received, v1 and v0."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair

from agent.cli.intent_builder import IntentDraft, sign_intent, tamper_signature
from agent.domain.outcomes import IntentRejected, Reason
from agent.pipeline.verification import verify_submission
from onchain.offchain_message import encode_v0, encode_v1, sign_v1

PROPERTY = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

WALLET = Keypair.from_seed(bytes(range(32)))
OTHER = Keypair.from_seed(bytes(range(1, 33)))
SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
INTENT_ID = "7a74dec1-bbad-4cf9-89ef-a0ed655935c3"
DOMAIN = bytes(range(100, 132))  # a v0 application domain
DRAFT = IntentDraft(
    cluster="local",
    sell_mint=SOL,
    buy_mint=USDC,
    amount=10**9,
    not_after=1_795_000_000,
    nonce=17,
    min_out=149_000_000,
    venues=("otc",),
    id=INTENT_ID,
)


def signed(draft: IntentDraft = DRAFT, keypair: Keypair = WALLET) -> bytes:
    return sign_intent(keypair, draft)[1]


def parts(raw: bytes) -> dict[str, Any]:
    return json.loads(raw)


def v1_envelope(text: str, keypair: Keypair = WALLET, **extra: Any) -> bytes:
    """An envelope whose signature is keypair's over exactly `text`."""
    _message, signature = sign_v1(keypair, text.encode("utf-8"))
    body = {"message": text, "signature": str(signature), "format": "solana-offchain-v1", **extra}
    return json.dumps(body).encode()


def v0_envelope(
    text: str,
    keypair: Keypair = WALLET,
    signers: list[Keypair] | None = None,
    content: bytes | None = None,
) -> bytes:
    """A v0 envelope: the signed off-chain message travels as base64 next to the text."""
    keys = [k.pubkey() for k in (signers or [keypair])]
    message = encode_v0(DOMAIN, keys, text.encode("utf-8") if content is None else content)
    body = {
        "message": text,
        "signature": str(keypair.sign_message(message)),
        "format": "solana-offchain-v0",
        "signed_message": base64.b64encode(message).decode(),
    }
    return json.dumps(body).encode()


def message_text(**changes: Any) -> str:
    body = json.loads(DRAFT.message(str(WALLET.pubkey())))
    body.update(changes)
    return json.dumps(body, separators=(",", ":"))


def reason_of(raw: bytes) -> Reason:
    with pytest.raises(IntentRejected) as info:
        verify_submission(raw)
    return info.value.reason


# Accepted


def test_v1_submission_verifies() -> None:
    """A v1 envelope signed by the wallet returns the intent, its exact text and signature."""
    raw = signed()
    intent, text, signature = verify_submission(raw)
    assert (text, signature) == (parts(raw)["message"], parts(raw)["signature"])
    assert (intent.id, intent.wallet, intent.amount, intent.min_out, intent.venues) == (
        INTENT_ID,
        str(WALLET.pubkey()),
        10**9,
        149_000_000,
        ("otc",),
    )


def test_v0_submission_verifies() -> None:
    """A v0 envelope whose signed_message holds the text verbatim verifies too."""
    text = message_text()
    intent, verified, _signature = verify_submission(v0_envelope(text))
    assert (intent.id, verified) == (INTENT_ID, text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(message_text(), id="compact"),
        pytest.param(json.dumps(json.loads(message_text()), indent=4), id="indented"),
        pytest.param(json.dumps(json.loads(message_text()), sort_keys=True), id="sorted keys"),
        pytest.param(message_text().replace('"local"', '"\\u006cocal"'), id="escape in message"),
    ],
)
def test_any_signed_text_verifies_as_signed(text: str) -> None:
    """Whatever JSON layout the wallet signed is verified as is, with its own bytes."""
    _intent, verified, _signature = verify_submission(v1_envelope(text))
    assert verified == text


def test_envelope_unicode_escapes_of_the_same_text_still_verify() -> None:
    """Escaping every character of the message in the envelope JSON leaves the same text."""
    raw = signed()
    document = parts(raw)
    escaped = "".join(f"\\u{ord(c):04x}" for c in document["message"])
    rebuilt = (
        f'{{"message": "{escaped}", "signature": "{document["signature"]}", '
        f'"format": "solana-offchain-v1"}}'
    ).encode()
    assert b'"version"' not in rebuilt  # the text really is spelled differently
    assert verify_submission(rebuilt)[1] == document["message"]


def test_envelope_layout_does_not_matter() -> None:
    """Envelope whitespace and key order are not signed; only the message text is."""
    document = parts(signed())
    rebuilt = json.dumps(dict(reversed(list(document.items()))), separators=(",", ":")).encode()
    assert verify_submission(rebuilt)[1] == document["message"]


# Not the signed bytes


def reserialised(transform: Any) -> bytes:
    """A copy of a valid envelope whose message was re-serialised by `transform`."""
    document = parts(signed())
    document["message"] = transform(json.loads(document["message"]))
    return json.dumps(document).encode()


def one_byte_changed(raw: bytes, old: str, new: str) -> bytes:
    document = parts(raw)
    assert document["message"].count(old) == 1
    document["message"] = document["message"].replace(old, new)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(reserialised(json.dumps), id="re-serialised with spaces"),
        pytest.param(reserialised(lambda m: json.dumps(m, indent=2)), id="re-indented"),
        pytest.param(
            reserialised(lambda m: json.dumps(m, sort_keys=True, separators=(",", ":"))),
            id="keys re-ordered",
        ),
        pytest.param(
            reserialised(lambda m: json.dumps(m, separators=(",", ":")) + "\n"),
            id="trailing newline",
        ),
        pytest.param(
            one_byte_changed(signed(), '"amount":"1000000000"', '"amount":"1000000001"'),
            id="amount changed by one byte",
        ),
        pytest.param(one_byte_changed(signed(), '"nonce":17', '"nonce":18'), id="nonce changed"),
        pytest.param(
            one_byte_changed(signed(), '"venues":["otc"]', '"venues":["jupiter"]'),
            id="venues changed",
        ),
        pytest.param(tamper_signature(signed()), id="tampered signature"),
        pytest.param(v1_envelope(message_text(), keypair=OTHER), id="signed by another key"),
        pytest.param(
            v1_envelope(message_text(memo="x"), keypair=OTHER),
            id="bad signature before schema",
        ),
        pytest.param(
            v1_envelope(message_text(version=9), keypair=OTHER),
            id="bad signature before version",
        ),
        pytest.param(
            v1_envelope(message_text(amount="9" * 30), keypair=OTHER),
            id="bad signature before amount",
        ),
        pytest.param(v0_envelope(message_text(), keypair=OTHER), id="v0 by another key"),
        pytest.param(
            v0_envelope(message_text(), keypair=OTHER, signers=[OTHER]),
            id="v0 naming another signer",
        ),
        pytest.param(
            v0_envelope(message_text(), signers=[WALLET, OTHER]), id="v0 with a second signer"
        ),
    ],
)
def test_bad_signature(raw: bytes) -> None:
    """Any change to the signed text, or a signature by another key, is bad_signature."""
    assert reason_of(raw) is Reason.BAD_SIGNATURE


def test_signature_over_a_v0_message_does_not_verify_as_v1() -> None:
    """A signature over the v0 bytes is no signature over the v1 bytes of the same text."""
    v0 = parts(v0_envelope(message_text()))
    raw = json.dumps(
        {"message": v0["message"], "signature": v0["signature"], "format": "solana-offchain-v1"}
    ).encode()
    assert reason_of(raw) is Reason.BAD_SIGNATURE


def test_signature_over_the_bare_text_does_not_verify() -> None:
    """Signing the text itself, without the off-chain message preamble, is not accepted."""
    text = message_text()
    signature = WALLET.sign_message(text.encode())
    raw = json.dumps(
        {"message": text, "signature": str(signature), "format": "solana-offchain-v1"}
    ).encode()
    assert reason_of(raw) is Reason.BAD_SIGNATURE


# Refused before or after the signature


def with_envelope(**changes: Any) -> bytes:
    document = parts(signed())
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def v0_with(signed_message: str) -> bytes:
    document = parts(v0_envelope(message_text()))
    document["signed_message"] = signed_message
    return json.dumps(document).encode()


V1_BYTES = base64.b64encode(encode_v1([WALLET.pubkey()], message_text().encode())).decode()
V0_OTHER_TEXT = base64.b64encode(
    encode_v0(DOMAIN, [WALLET.pubkey()], message_text(nonce=18).encode())
).decode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"\x80" + signed(), Reason.MALFORMED_JSON, id="envelope not UTF-8"),
        pytest.param(b"[" + signed() + b"]", Reason.MALFORMED_JSON, id="envelope not an object"),
        pytest.param(
            signed()[:-2] + b', "format": "solana-offchain-v1"}',
            Reason.MALFORMED_JSON,
            id="envelope duplicate key",
        ),
        pytest.param(with_envelope(message="not json"), Reason.MALFORMED_JSON, id="message text"),
        pytest.param(with_envelope(message="[1, 2]"), Reason.MALFORMED_JSON, id="message array"),
        pytest.param(
            with_envelope(message=message_text()[:-1] + ',"nonce":17}'),
            Reason.MALFORMED_JSON,
            id="message duplicate key",
        ),
        pytest.param(
            with_envelope(message=message_text()[:-1] + ',"x":NaN}'),
            Reason.MALFORMED_JSON,
            id="message NaN",
        ),
        pytest.param(with_envelope(format="solana-offchain-v9"), Reason.BAD_FORMAT, id="format"),
        pytest.param(with_envelope(extra=1), Reason.BAD_FORMAT, id="unknown envelope field"),
        pytest.param(with_envelope(signature=123), Reason.BAD_FORMAT, id="signature number"),
        pytest.param(with_envelope(signature="0OIl" * 22), Reason.BAD_FORMAT, id="not base58"),
        pytest.param(with_envelope(signature="2" * 40), Reason.BAD_FORMAT, id="too short"),
        pytest.param(
            with_envelope(signature=str(WALLET.pubkey())), Reason.BAD_FORMAT, id="a pubkey"
        ),
        pytest.param(
            with_envelope(format="solana-offchain-v0"), Reason.BAD_FORMAT, id="v0 no signed_message"
        ),
        pytest.param(v0_with("not base64!"), Reason.BAD_FORMAT, id="v0 not base64"),
        pytest.param(v0_with(""), Reason.BAD_FORMAT, id="v0 empty signed_message"),
        pytest.param(
            v0_with(base64.b64encode(b"hello").decode()), Reason.BAD_FORMAT, id="v0 garbage"
        ),
        pytest.param(v0_with(V1_BYTES), Reason.BAD_FORMAT, id="v0 carrying a v1 message"),
        pytest.param(v0_with(V0_OTHER_TEXT), Reason.BAD_FORMAT, id="v0 holding other text"),
        pytest.param(
            v0_envelope(message_text(), content=message_text().encode() + b" "),
            Reason.BAD_FORMAT,
            id="v0 text differs by one byte",
        ),
        pytest.param(
            with_envelope(message=message_text(wallet="0" * 44)),
            Reason.BAD_SCHEMA,
            id="wallet not base58",
        ),
        pytest.param(
            with_envelope(message=message_text(wallet="z" * 44)),
            Reason.BAD_SCHEMA,
            id="wallet not a 32-byte key",
        ),
        pytest.param(
            with_envelope(message=message_text(wallet=None)), Reason.BAD_SCHEMA, id="no wallet"
        ),
        pytest.param(v1_envelope(message_text(memo="x")), Reason.BAD_SCHEMA, id="signed, unknown"),
        pytest.param(
            v1_envelope(message_text(id="not-a-uuid")), Reason.BAD_SCHEMA, id="signed, bad id"
        ),
        pytest.param(
            v1_envelope(message_text(amount="-5")), Reason.BAD_SCHEMA, id="signed, negative"
        ),
        pytest.param(
            v1_envelope(message_text(version=2)), Reason.UNSUPPORTED_VERSION, id="signed, v2"
        ),
        pytest.param(
            v1_envelope(message_text(amount=str(2**63))),
            Reason.AMOUNT_OVERFLOW,
            id="signed, amount 2**63",
        ),
        pytest.param(
            v1_envelope(message_text(min_out=str(2**64))),
            Reason.AMOUNT_OVERFLOW,
            id="signed, min_out 2**64",
        ),
    ],
)
def test_rejections(raw: bytes, reason: Reason) -> None:
    """Envelope, format and schema problems get their own reason codes."""
    assert reason_of(raw) is reason


def test_message_with_lone_surrogate_is_rejected() -> None:
    """A message whose text has no UTF-8 form is refused with a reason, not an exception."""
    document = parts(signed())
    document["message"] = document["message"][:-1] + ',"x":"\ud800"}'
    assert reason_of(json.dumps(document).encode()) is Reason.MALFORMED_JSON


# Properties


@PROPERTY
@given(raw=st.binary(max_size=2_048))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    """Arbitrary bytes are either verified or rejected with IntentRejected."""
    try:
        verify_submission(raw)
    except IntentRejected as rejection:
        assert isinstance(rejection.reason, Reason)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
envelope_keys = st.sampled_from(["message", "signature", "format", "signed_message", "x"])


@PROPERTY
@given(
    document=st.dictionaries(
        envelope_keys,
        json_values
        | st.sampled_from(
            ["solana-offchain-v1", "solana-offchain-v0", "AAAA", message_text(), "5" * 88]
        ),
        max_size=5,
    )
)
def test_arbitrary_envelopes_never_raise_anything_else(document: dict[str, Any]) -> None:
    """JSON envelopes with arbitrary field values are verified or rejected with IntentRejected."""
    raw = json.dumps(document, allow_nan=True).encode()
    try:
        verify_submission(raw)
    except IntentRejected as rejection:
        assert isinstance(rejection.reason, Reason)


VALID = signed()


@PROPERTY
@given(
    position=st.integers(min_value=0, max_value=len(VALID) - 1),
    value=st.integers(min_value=0, max_value=255),
)
def test_one_changed_byte_never_verifies_a_different_message(position: int, value: int) -> None:
    """Changing any byte of a valid file either is rejected or verifies the original message."""
    raw = bytearray(VALID)
    raw[position] = value
    try:
        _intent, text, signature = verify_submission(bytes(raw))
    except IntentRejected as rejection:
        assert isinstance(rejection.reason, Reason)
    else:
        assert (text, signature) == (parts(VALID)["message"], parts(VALID)["signature"])


@PROPERTY
@given(text=st.text(min_size=1, max_size=200))
def test_arbitrary_signed_text_never_raises_anything_else(text: str) -> None:
    """Correctly signed but arbitrary message text is verified or rejected with a reason."""
    try:
        raw = v1_envelope(text)
    except UnicodeEncodeError:
        raw = json.dumps(
            {"message": text, "signature": "1" * 64, "format": "solana-offchain-v1"}
        ).encode()
    try:
        verify_submission(raw)
    except IntentRejected as rejection:
        assert isinstance(rejection.reason, Reason)
