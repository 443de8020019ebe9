"""Intent parsing: strict JSON, the envelope, the message schema and the timing window."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.domain.intent import (
    Envelope,
    IntentMessage,
    check_timing,
    parse_envelope,
    parse_json_object,
    parse_message,
    signer_of,
)
from agent.domain.outcomes import IntentRejected, Reason

WALLET = "4kmSTKNmabNWDUFHG9qEnkFuV7dHPMc67x2fC94ZTxpE"
SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
INTENT_ID = "7a74dec1-bbad-4cf9-89ef-a0ed655935c3"
SIGNATURE = "5" * 87
MAX = 2**63 - 1
DROP = object()  # a value that removes the key


def message(**changes: Any) -> dict[str, Any]:
    """A valid intent message, with keys replaced (or removed with DROP)."""
    body: dict[str, Any] = {
        "version": 1, "id": INTENT_ID, "cluster": "local", "wallet": WALLET,
        "sell_mint": SOL, "buy_mint": USDC, "amount": "1000000000", "min_out": "149000000",
        "max_slippage_bps": 50, "nonce": 17, "not_after": 1_795_000_000,
        "venues": ["jupiter", "otc"],
    }  # fmt: skip
    body.update(changes)
    return {k: v for k, v in body.items() if v is not DROP}


def envelope(**changes: Any) -> bytes:
    """A v1 envelope as bytes, with fields replaced (or removed with DROP)."""
    body: dict[str, Any] = {
        "message": json.dumps(message()),
        "signature": SIGNATURE,
        "format": "solana-offchain-v1",
    }
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not DROP}).encode()


def rejected(call: Any, *args: Any) -> Reason:
    with pytest.raises(IntentRejected) as info:
        call(*args)
    return info.value.reason


# Strict JSON


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("{", id="truncated"),
        pytest.param("{} {}", id="two documents"),
        pytest.param("[]", id="array"),
        pytest.param('"text"', id="string"),
        pytest.param("17", id="number"),
        pytest.param("null", id="null"),
        pytest.param('{"a": 1, "a": 1}', id="duplicate key"),
        pytest.param('{"a": {"b": 1, "b": 2}}', id="nested duplicate key"),
        pytest.param('{"a": NaN}', id="NaN"),
        pytest.param('{"a": Infinity}', id="Infinity"),
        pytest.param('{"a": -Infinity}', id="-Infinity"),
        pytest.param("{'a': 1}", id="single quotes"),
        pytest.param('{"a": 1,}', id="trailing comma"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="nested too deep"),
        pytest.param("\ufeff{}", id="byte order mark"),
    ],
)
def test_parse_json_object_rejects_anything_but_one_strict_object(text: str) -> None:
    """Non-objects, duplicate keys, NaN/Infinity and syntax errors are all malformed_json."""
    assert rejected(parse_json_object, text, "the file") is Reason.MALFORMED_JSON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("{}", {}, id="empty object"),
        pytest.param(' \n{"a": [1, 2.5, null, true]}\t', {"a": [1, 2.5, None, True]}, id="space"),
        pytest.param('{"a": {"a": 1}}', {"a": {"a": 1}}, id="same key at two levels"),
        pytest.param('{"\\u0061": "\\u00e9"}', {"a": "é"}, id="unicode escapes"),
    ],
)
def test_parse_json_object_returns_the_object(text: str, expected: dict[str, Any]) -> None:
    """A single object with unique keys parses to the equal dict."""
    assert parse_json_object(text, "the file") == expected


# The envelope


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xff\xfe{}", id="not UTF-8"),
        pytest.param('{"message": "é"}'.encode("latin-1"), id="latin-1"),
        pytest.param('{"message": "x"}'.encode("utf-16"), id="UTF-16"),
        pytest.param(b"", id="empty file"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"envelope"', id="string"),
        pytest.param(
            b'{"format": "solana-offchain-v1", "format": "solana-offchain-v1"}', id="duplicate key"
        ),
        pytest.param(
            b'{"message": "m", "signature": "s", "format": "solana-offchain-v1", "x": NaN}',
            id="NaN",
        ),
    ],
)
def test_parse_envelope_malformed_json(raw: bytes) -> None:
    """Bytes that are not one strict UTF-8 JSON object are malformed_json."""
    assert rejected(parse_envelope, raw) is Reason.MALFORMED_JSON


def test_parse_envelope_rejects_a_message_with_a_lone_surrogate() -> None:
    """A message with an unpaired surrogate escape has no UTF-8 form, so it is malformed_json."""
    raw = envelope(message=json.dumps(message())[:-1] + ', "x": "\ud800"}')
    assert rejected(parse_envelope, raw) is Reason.MALFORMED_JSON


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(envelope(format=DROP), id="no format"),
        pytest.param(envelope(format="solana-offchain-v2"), id="wrong format string"),
        pytest.param(envelope(format="SOLANA-OFFCHAIN-V1"), id="format case"),
        pytest.param(envelope(format=1), id="format number"),
        pytest.param(envelope(format=["solana-offchain-v1"]), id="format list"),
        pytest.param(envelope(extra="x"), id="unknown envelope field"),
        pytest.param(envelope(signed_message="AAAA"), id="signed_message in v1"),
        pytest.param(envelope(message=DROP), id="no message"),
        pytest.param(envelope(message=""), id="empty message"),
        pytest.param(envelope(message=message()), id="message as object"),
        pytest.param(envelope(signature=DROP), id="no signature"),
        pytest.param(envelope(signature=""), id="empty signature"),
        pytest.param(envelope(signature=17), id="signature number"),
        pytest.param(envelope(signature=[1, 2]), id="signature list"),
        pytest.param(envelope(signature=None), id="signature null"),
        pytest.param(envelope(format="solana-offchain-v0"), id="v0 without signed_message"),
        pytest.param(
            envelope(format="solana-offchain-v0", signed_message=17), id="v0 signed_message number"
        ),
    ],
)
def test_parse_envelope_bad_format(raw: bytes) -> None:
    """Envelopes with a wrong format, wrong fields or wrong field types are bad_format."""
    assert rejected(parse_envelope, raw) is Reason.BAD_FORMAT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            envelope(message="m"), Envelope("m", SIGNATURE, "solana-offchain-v1"), id="v1"
        ),
        pytest.param(
            envelope(message="m", format="solana-offchain-v0", signed_message="AAAA"),
            Envelope("m", SIGNATURE, "solana-offchain-v0", "AAAA"),
            id="v0",
        ),
    ],
)
def test_parse_envelope_returns_its_fields(raw: bytes, expected: Envelope) -> None:
    """A well-formed envelope yields exactly its message, signature, format and signed bytes."""
    assert parse_envelope(raw) == expected


def test_parse_envelope_keeps_the_message_text_verbatim() -> None:
    """The message is returned as the exact text, whitespace and key order included."""
    text = '{ "version":1,\n  "id" : "x" }'
    assert parse_envelope(envelope(message=text)).message == text


# The signer


@pytest.mark.parametrize(
    "wallet",
    [
        pytest.param(DROP, id="missing"),
        pytest.param(17, id="number"),
        pytest.param(None, id="null"),
        pytest.param("1" * 31, id="too short"),
        pytest.param("1" * 45, id="too long"),
        pytest.param("0" + WALLET[1:], id="zero is not base58"),
        pytest.param("O" + WALLET[1:], id="capital O is not base58"),
        pytest.param("l" + WALLET[1:], id="lower-case l is not base58"),
        pytest.param(WALLET + "\n", id="trailing newline"),
        pytest.param(" " + WALLET, id="leading space"),
    ],
)
def test_signer_of_rejects_a_wallet_that_is_not_base58(wallet: Any) -> None:
    """The signer must be a base58 string of 32 to 44 characters, or the schema is bad."""
    assert rejected(signer_of, message(wallet=wallet)) is Reason.BAD_SCHEMA


def test_signer_of_returns_the_wallet() -> None:
    """A valid wallet is returned unchanged."""
    assert signer_of(message()) == WALLET


# The message schema


def test_parse_message_returns_exact_fields() -> None:
    """A complete message parses to integers for amounts and a tuple for venues."""
    assert parse_message(message()) == IntentMessage(
        id=INTENT_ID, cluster="local", wallet=WALLET, sell_mint=SOL, buy_mint=USDC,
        amount=1_000_000_000, min_out=149_000_000, max_slippage_bps=50, nonce=17,
        not_after=1_795_000_000, venues=("jupiter", "otc"),
    )  # fmt: skip


def test_parse_message_leaves_optional_fields_unset() -> None:
    """Without min_out, max_slippage_bps and venues those fields are None."""
    parsed = parse_message(message(min_out=DROP, max_slippage_bps=DROP, venues=DROP))
    assert (parsed.min_out, parsed.max_slippage_bps, parsed.venues) == (None, None, None)


def test_parse_message_canonicalises_an_upper_case_id() -> None:
    """An upper-case UUID is accepted and stored in its canonical lower-case form."""
    assert parse_message(message(id=INTENT_ID.upper())).id == INTENT_ID


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        pytest.param({"amount": "0"}, "amount", 0, id="amount zero"),
        pytest.param({"amount": str(MAX)}, "amount", MAX, id="amount max"),
        pytest.param({"amount": 42}, "amount", 42, id="amount as JSON integer"),
        pytest.param({"min_out": "0"}, "min_out", 0, id="min_out zero"),
        pytest.param({"min_out": str(MAX)}, "min_out", MAX, id="min_out max"),
        pytest.param({"nonce": 0}, "nonce", 0, id="nonce zero"),
        pytest.param({"nonce": MAX}, "nonce", MAX, id="nonce max"),
        pytest.param({"not_after": 0}, "not_after", 0, id="not_after zero"),
        pytest.param({"not_after": 2**40}, "not_after", 2**40, id="not_after max"),
        pytest.param({"max_slippage_bps": 0}, "max_slippage_bps", 0, id="slippage zero"),
        pytest.param({"max_slippage_bps": 10_000}, "max_slippage_bps", 10_000, id="slippage max"),
        pytest.param({"venues": ["localdex"]}, "venues", ("localdex",), id="one venue"),
        pytest.param(
            {"venues": ["otc", "localdex", "jupiter"]},
            "venues",
            ("otc", "localdex", "jupiter"),
            id="all venues in given order",
        ),
        pytest.param({"cluster": "devnet"}, "cluster", "devnet", id="devnet"),
        pytest.param({"cluster": "mainnet-beta"}, "cluster", "mainnet-beta", id="mainnet-beta"),
    ],
)
def test_parse_message_accepts_boundary_values(
    changes: dict[str, Any], field: str, value: Any
) -> None:
    """Values at the edges of each field's range are accepted as given."""
    assert getattr(parse_message(message(**changes)), field) == value


@pytest.mark.parametrize(
    "version",
    [
        pytest.param(DROP, id="missing"),
        pytest.param(0, id="zero"),
        pytest.param(2, id="two"),
        pytest.param("1", id="string"),
        pytest.param(True, id="true"),
        pytest.param(1.0, id="float one"),
        pytest.param(None, id="null"),
    ],
)
def test_parse_message_unsupported_version(version: Any) -> None:
    """Only the JSON integer 1 is a supported version."""
    assert rejected(parse_message, message(version=version)) is Reason.UNSUPPORTED_VERSION


REQUIRED = ("id", "cluster", "wallet", "sell_mint", "buy_mint", "amount", "nonce", "not_after")

BAD_SCHEMA = [
    *(pytest.param({key: DROP}, id=f"missing {key}") for key in REQUIRED),
    pytest.param({"memo": "hi"}, id="unknown field"),
    pytest.param({"signature": "x"}, id="envelope field inside message"),
    pytest.param({"id": "not-a-uuid"}, id="id not a uuid"),
    pytest.param({"id": 17}, id="id number"),
    pytest.param({"id": "{" + INTENT_ID + "}"}, id="id in braces"),
    pytest.param({"id": "urn:uuid:" + INTENT_ID}, id="id as urn"),
    pytest.param({"id": INTENT_ID.replace("-", "")}, id="id without hyphens"),
    pytest.param({"id": INTENT_ID + "\n"}, id="id with newline"),
    pytest.param({"cluster": "testnet"}, id="unknown cluster"),
    pytest.param({"cluster": ["local"]}, id="cluster list"),
    pytest.param({"sell_mint": "0" * 43}, id="sell_mint not base58"),
    pytest.param({"buy_mint": "I" + USDC[1:]}, id="buy_mint not base58"),
    pytest.param({"sell_mint": SOL + "\n"}, id="sell_mint trailing newline"),
    pytest.param({"buy_mint": USDC[:31]}, id="buy_mint too short"),
    pytest.param({"sell_mint": 1}, id="sell_mint number"),
    pytest.param({"amount": "-1"}, id="amount negative string"),
    pytest.param({"amount": -1}, id="amount negative integer"),
    pytest.param({"amount": 1.5}, id="amount float"),
    pytest.param({"amount": 1.0}, id="amount integral float"),
    pytest.param({"amount": "1.5"}, id="amount decimal string"),
    pytest.param({"amount": True}, id="amount bool"),
    pytest.param({"amount": None}, id="amount null"),
    pytest.param({"amount": "007"}, id="amount leading zeros"),
    pytest.param({"amount": "00"}, id="amount double zero"),
    pytest.param({"amount": "+5"}, id="amount plus sign"),
    pytest.param({"amount": " 5"}, id="amount leading space"),
    pytest.param({"amount": "5\n"}, id="amount trailing newline"),
    pytest.param({"amount": "1e3"}, id="amount exponent"),
    pytest.param({"amount": "0x10"}, id="amount hex"),
    pytest.param({"amount": "1_000"}, id="amount underscore"),
    pytest.param({"amount": "\u0665"}, id="amount arabic-indic digit"),
    pytest.param({"amount": ""}, id="amount empty"),
    pytest.param({"amount": ["1"]}, id="amount list"),
    pytest.param({"min_out": "-1"}, id="min_out negative"),
    pytest.param({"min_out": 0.5}, id="min_out float"),
    pytest.param({"min_out": "01"}, id="min_out leading zero"),
    pytest.param({"min_out": False}, id="min_out bool"),
    pytest.param({"max_slippage_bps": -1}, id="slippage negative"),
    pytest.param({"max_slippage_bps": 10_001}, id="slippage above 100%"),
    pytest.param({"max_slippage_bps": 50.0}, id="slippage float"),
    pytest.param({"max_slippage_bps": "50"}, id="slippage string"),
    pytest.param({"max_slippage_bps": True}, id="slippage bool"),
    pytest.param({"nonce": -1}, id="nonce negative"),
    pytest.param({"nonce": MAX + 1}, id="nonce above i64"),
    pytest.param({"nonce": 17.0}, id="nonce float"),
    pytest.param({"nonce": "17"}, id="nonce string"),
    pytest.param({"nonce": True}, id="nonce bool"),
    pytest.param({"not_after": -1}, id="not_after negative"),
    pytest.param({"not_after": 2**40 + 1}, id="not_after too far"),
    pytest.param({"not_after": "1795000000"}, id="not_after string"),
    pytest.param({"venues": []}, id="venues empty"),
    pytest.param({"venues": "otc"}, id="venues string"),
    pytest.param({"venues": ["otc", "otc"]}, id="venues repeated"),
    pytest.param({"venues": ["uniswap"]}, id="venues unknown"),
    pytest.param({"venues": ["OTC"]}, id="venues case"),
    pytest.param({"venues": [1]}, id="venues number"),
    pytest.param({"venues": [["otc"]]}, id="venues nested list"),
    pytest.param({"venues": {"otc": True}}, id="venues object"),
]


@pytest.mark.parametrize("changes", BAD_SCHEMA)
def test_parse_message_bad_schema(changes: dict[str, Any]) -> None:
    """Missing or unknown fields and values of the wrong shape are bad_schema."""
    assert rejected(parse_message, message(**changes)) is Reason.BAD_SCHEMA


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"amount": str(MAX + 1)}, id="amount 2**63"),
        pytest.param({"amount": str(2**64 - 1)}, id="amount u64 max"),
        pytest.param({"amount": MAX + 1}, id="amount JSON integer 2**63"),
        pytest.param({"amount": "9" * 40}, id="amount 40 digits"),
        pytest.param({"amount": "9" * 41}, id="amount 41 digits"),
        pytest.param({"amount": "1" + "0" * 60_000}, id="amount 60001 digits"),
        pytest.param({"amount": 10**5000}, id="amount huge JSON integer"),
        pytest.param({"min_out": str(MAX + 1)}, id="min_out 2**63"),
    ],
)
def test_parse_message_amount_overflow(changes: dict[str, Any]) -> None:
    """Amounts above 2**63 - 1 base units are amount_overflow, however many digits they have."""
    assert rejected(parse_message, message(**changes)) is Reason.AMOUNT_OVERFLOW


def test_parse_message_checks_version_before_anything_else() -> None:
    """A wrong version wins over every other problem in the message."""
    assert rejected(parse_message, {"version": 2, "memo": "x"}) is Reason.UNSUPPORTED_VERSION


# Timing


@pytest.mark.parametrize(
    ("not_after", "now", "max_ttl_s", "reason"),
    [
        pytest.param(999, 1_000, 600, Reason.EXPIRED, id="one second late"),
        pytest.param(1_000, 1_000.5, 600, Reason.EXPIRED, id="half a second late"),
        pytest.param(0, 1_000, 600, Reason.EXPIRED, id="epoch"),
        pytest.param(1_601, 1_000, 600, Reason.TTL_TOO_LONG, id="one second too far"),
        pytest.param(1_600, 999.5, 600, Reason.TTL_TOO_LONG, id="half a second too far"),
        pytest.param(2**40, 1_000, 600, Reason.TTL_TOO_LONG, id="far future"),
        pytest.param(1_000, 1_000, 0, None, id="expires now, zero ttl"),
        pytest.param(1_000, 1_000, 600, None, id="expires now"),
        pytest.param(1_600, 1_000, 600, None, id="exactly max ttl ahead"),
        pytest.param(1_300, 1_000, 600, None, id="inside the window"),
    ],
)
def test_check_timing(not_after: int, now: float, max_ttl_s: int, reason: Reason | None) -> None:
    """An intent is live from now until not_after, which may be at most max_ttl_s ahead."""
    intent = parse_message(message(not_after=not_after))
    if reason is None:
        assert check_timing(intent, now, max_ttl_s) is None
    else:
        assert rejected(check_timing, intent, now, max_ttl_s) is reason


def test_intent_rejected_carries_reason_and_detail() -> None:
    """IntentRejected exposes the reason code and a readable detail in its text."""
    error = IntentRejected(Reason.EXPIRED, "not_after 5 has passed")
    assert (error.reason, error.detail, str(error)) == (
        Reason.EXPIRED,
        "not_after 5 has passed",
        "expired: not_after 5 has passed",
    )


@settings(max_examples=500, derandomize=True, database=None, deadline=None)
@given(
    raw=st.binary(max_size=512) | st.text(max_size=256).map(lambda t: t.encode("utf-8", "replace"))
)
def test_parse_envelope_on_arbitrary_bytes_returns_or_rejects(raw: bytes) -> None:
    """parse_envelope either returns an Envelope or raises IntentRejected, never anything else."""
    try:
        result = parse_envelope(raw)
    except IntentRejected as rejection:
        assert isinstance(rejection.reason, Reason)
    else:
        assert isinstance(result, Envelope)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from([*REQUIRED, "version", "min_out", "max_slippage_bps", "venues", "x"]),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50)
        | st.lists(st.sampled_from(["otc", "jupiter", "localdex", "x"]), max_size=4),
    )
)  # fmt: skip
def test_parse_message_on_arbitrary_fields_returns_or_rejects(changes: dict[str, Any]) -> None:
    """parse_message on any field values returns an IntentMessage or raises IntentRejected."""
    try:
        result = parse_message(message(**changes))
    except IntentRejected as rejection:
        assert isinstance(rejection.reason, Reason)
    else:
        assert isinstance(result, IntentMessage)
        assert 0 <= result.amount <= MAX
