"""Deterministic malformed intent files, each with the one reason the agent must give it.

:class:`Forge` writes what broken or hostile automation sends: garbage bytes, truncated and
empty files, invalid UTF-8, lone surrogates, nesting deeper than any decoder goes, huge
numbers, wrong types, bad base58, forged and tampered signatures, oversized files, unknown
wallets and mints, the wrong cluster, expired and far-future deadlines, replayed ids and
nonces, policy breaches. Every kind is a function of the forge's seeded RNG, so a run is
reproducible, while each file differs from the others of its kind.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from agent.cli.intent_builder import IntentDraft, tamper_signature
from agent.domain.intent import FORMAT_V0, FORMAT_V1
from agent.domain.outcomes import Reason
from agent.domain.tokens import TokenRegistry
from onchain.offchain_message import encode_v0, sign_v1

__all__ = ["KINDS", "Forge", "Forged"]

# Bytes that are invalid UTF-8 wherever they stand in ASCII text.
_BAD_UTF8 = [*range(0x80, 0xC2), *range(0xF5, 0x100)]
_DOMAIN = bytes(range(32))  # a v0 application domain


@dataclass(frozen=True, slots=True)
class Forged:
    kind: str
    data: bytes
    reason: Reason


@dataclass
class Forge:
    """Valid and malformed intent files for one agent home (its tokens, wallets, clock)."""

    tokens: TokenRegistry
    cluster: str
    desk: Keypair  # registered, every pair allowed
    treasury: Keypair  # registered, SOL/USDC only, $50,000 a trade
    now: int
    rng: random.Random
    stranger: Keypair = field(default_factory=lambda: Keypair.from_seed(bytes([99]) * 32))
    accepted: list[tuple[IntentDraft, bytes]] = field(default_factory=list)
    _nonce: int = 1_000

    def mint(self, symbol: str) -> str:
        return self.tokens.require(symbol).mint

    def draft(self, **changes: Any) -> IntentDraft:
        """A valid draft for the desk wallet: a fresh id and nonce, 0.1-2 SOL for USDC."""
        self._nonce += 1
        base = IntentDraft(
            cluster=self.cluster,
            sell_mint=self.mint("SOL"),
            buy_mint=self.mint("USDC"),
            amount=self.rng.randint(1, 20) * 10**8,
            not_after=self.now + 400,
            nonce=self._nonce,
            max_slippage_bps=100,
            id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
        )
        return replace(base, **changes)

    def sign_text(self, text: str, signer: Keypair | None = None, **envelope: Any) -> bytes:
        """A v1 envelope whose signature covers exactly `text`."""
        signature = sign_v1(signer or self.desk, text.encode("utf-8"))[1]
        body = {"message": text, "signature": str(signature), "format": FORMAT_V1, **envelope}
        return json.dumps(body).encode()

    def signed(self, draft: IntentDraft | None = None, signer: Keypair | None = None) -> bytes:
        signer = signer or self.desk
        draft = draft or self.draft()
        return self.sign_text(draft.message(str(signer.pubkey())), signer)

    def text(self, **changes: Any) -> str:
        """The message text of a fresh valid draft, with fields replaced (None drops one)."""
        body = json.loads(self.draft().message(str(self.desk.pubkey())))
        body.update(changes)
        return json.dumps({k: v for k, v in body.items() if v is not None}, separators=(",", ":"))

    def valid(self) -> bytes:
        """A file that must fill."""
        return self.signed()

    def accept(self) -> bytes:
        """A valid file whose id and nonce the replay kinds reuse once it has filled."""
        draft = self.draft()
        data = self.signed(draft)
        self.accepted.append((draft, data))
        return data

    def forge(self, index: int) -> Forged:
        """The index-th malformed file: kinds in turn, each drawn afresh from the RNG."""
        kind, make = KINDS[index % len(KINDS)]
        data, reason = make(self)
        return Forged(kind, data, reason)


Make = Callable[[Forge], tuple[bytes, Reason]]


def _envelope(f: Forge, **changes: Any) -> bytes:
    document = json.loads(f.valid())
    document.update(changes)
    return json.dumps(document).encode()


def _tampered(f: Forge) -> bytes:
    draft = f.draft()
    document = json.loads(f.signed(draft))
    text = document["message"]
    edits = [
        (f'"amount":"{draft.amount}"', f'"amount":"{draft.amount + 1}"'),
        (f'"nonce":{draft.nonce}', f'"nonce":{draft.nonce + 1}'),
        (f'"not_after":{draft.not_after}', f'"not_after":{draft.not_after - 1}'),
        (f.mint("USDC"), f.mint("USDT")),
        ('"max_slippage_bps":100', '"max_slippage_bps":2000'),
        ('"version":1,', '"version":1, '),  # whitespace only: still not the signed bytes
    ]
    old, new = f.rng.choice(edits)
    document["message"] = text.replace(old, new, 1)
    return json.dumps(document).encode()


def _pubkey(f: Forge) -> str:
    return str(Pubkey(f.rng.randbytes(32)))


def _replay(f: Forge, which: str) -> bytes:
    draft, data = f.rng.choice(f.accepted)
    if which == "copy":
        return data
    if which == "id":  # the accepted id, signed again with a new nonce
        return f.signed(replace(draft, nonce=f.draft().nonce))
    return f.signed(f.draft(nonce=draft.nonce))  # the accepted nonce under a new id


def _v0_other_text(f: Forge) -> bytes:
    text, other = f.text(), f.text()
    signed = encode_v0(_DOMAIN, [f.desk.pubkey()], other.encode())
    return json.dumps(
        {
            "message": text,
            "signature": str(f.desk.sign_message(signed)),
            "format": FORMAT_V0,
            "signed_message": base64.b64encode(signed).decode(),
        }
    ).encode()


def _truncated(f: Forge) -> bytes:
    data = f.valid()
    return data[: f.rng.randint(0, len(data) - 3)]  # never up to the closing brace


def _invalid_utf8(f: Forge) -> bytes:
    data = f.valid()
    at = f.rng.randint(0, len(data))
    return data[:at] + bytes([f.rng.choice(_BAD_UTF8)]) + data[at:]


def _oversized(f: Forge) -> bytes:
    data = f.valid()
    return data + b" " * (65_537 - len(data) + f.rng.randint(0, 9_000))


def _deep_envelope(f: Forge) -> bytes:
    depth = f.rng.randint(1_500, 30_000)
    nested = b"[" * depth + b"]" * depth
    return b'{"message": ' + nested + b', "signature": "1", "format": "solana-offchain-v1"}'


def _deep_message(f: Forge) -> bytes:
    depth = f.rng.randint(1_500, 25_000)
    return f.sign_text('{"version":1,"x":' + "[" * depth + "]" * depth + "}")


def _raw_number(f: Forge, key: str, literal: str) -> bytes:
    """A signed message whose `key` holds a bare JSON number json.dumps would never write."""
    return f.sign_text(f.text(**{key: "X"}).replace('"X"', literal))


def _lone_surrogate(f: Forge) -> bytes:
    """The message text holds a lone surrogate, which the envelope's JSON writes as an escape."""
    return _envelope(f, message=f.text().replace('"version"', '"\ud800version"', 1))


def _signed_with(f: Forge, **changes: Any) -> bytes:
    return f.sign_text(f.text(**changes))


def _draft(f: Forge, signer: Keypair | None = None, **changes: Any) -> bytes:
    return f.signed(f.draft(**changes), signer)


R = Reason
KINDS: list[tuple[str, Make]] = [
    # The file itself
    ("garbage bytes", lambda f: (f.rng.randbytes(f.rng.randint(1, 3_000)), R.MALFORMED_JSON)),
    ("empty", lambda f: (f.rng.choice([b"", b" ", b"\n", b"\t\r\n "]), R.MALFORMED_JSON)),
    ("truncated", lambda f: (_truncated(f), R.MALFORMED_JSON)),
    ("invalid utf-8", lambda f: (_invalid_utf8(f), R.MALFORMED_JSON)),
    ("oversized", lambda f: (_oversized(f), R.TOO_LARGE)),
    # The envelope
    ("envelope not an object", lambda f: (b"[" + f.valid() + b"]", R.MALFORMED_JSON)),
    ("envelope duplicate key", lambda f: (f.valid()[:-1] + b', "format": "x"}', R.MALFORMED_JSON)),
    ("envelope nested too deep", lambda f: (_deep_envelope(f), R.MALFORMED_JSON)),
    ("message nested", lambda f: (_envelope(f, message=[[["x"]]]), R.BAD_FORMAT)),
    ("message a number", lambda f: (_envelope(f, message=f.rng.getrandbits(70)), R.BAD_FORMAT)),
    ("message null", lambda f: (_envelope(f, message=None), R.BAD_FORMAT)),
    ("signature a list", lambda f: (_envelope(f, signature=[1, 2]), R.BAD_FORMAT)),
    ("signature not base58", lambda f: (_envelope(f, signature="0OIl" * 22), R.BAD_FORMAT)),
    ("signature too short", lambda f: (_envelope(f, signature="2" * 40), R.BAD_FORMAT)),
    ("signature surrogate", lambda f: (_envelope(f, signature="5" * 40 + "\udc00"), R.BAD_FORMAT)),
    ("unknown format", lambda f: (_envelope(f, format="solana-offchain-v2"), R.BAD_FORMAT)),
    ("format a number", lambda f: (_envelope(f, format=1), R.BAD_FORMAT)),
    ("unknown envelope field", lambda f: (_envelope(f, memo="hi"), R.BAD_FORMAT)),
    ("huge number in envelope", lambda f: (f.valid()[:-1] + b', "x": 1e999999}', R.BAD_FORMAT)),
    ("v0 without signed bytes", lambda f: (_envelope(f, format=FORMAT_V0), R.BAD_FORMAT)),
    ("v0 signing other text", lambda f: (_v0_other_text(f), R.BAD_FORMAT)),
    # The message, before its signature is trusted
    ("message lone surrogate", lambda f: (_lone_surrogate(f), R.MALFORMED_JSON)),
    ("wallet not base58", lambda f: (_signed_with(f, wallet="0" * 44), R.BAD_SCHEMA)),
    ("wallet too long", lambda f: (_signed_with(f, wallet="z" * 44), R.BAD_SCHEMA)),
    ("forged signature", lambda f: (tamper_signature(f.valid()), R.BAD_SIGNATURE)),
    ("signed by another key", lambda f: (f.sign_text(f.text(), f.stranger), R.BAD_SIGNATURE)),
    ("zero signature", lambda f: (_envelope(f, signature="1" * 64), R.BAD_SIGNATURE)),
    ("tampered after signing", lambda f: (_tampered(f), R.BAD_SIGNATURE)),
    # The message, signed: its schema
    (
        "message duplicate key",
        lambda f: (f.sign_text(f.text()[:-1] + ',"id":1}'), R.MALFORMED_JSON),
    ),
    ("message NaN", lambda f: (_raw_number(f, "amount", "NaN"), R.MALFORMED_JSON)),
    ("message nested too deep", lambda f: (_deep_message(f), R.MALFORMED_JSON)),
    ("amount of 5,000 digits", lambda f: (_raw_number(f, "amount", "9" * 5_000), R.MALFORMED_JSON)),
    ("amount above i64", lambda f: (_signed_with(f, amount="9" * 30), R.AMOUNT_OVERFLOW)),
    ("min_out 2**64", lambda f: (_signed_with(f, min_out=str(2**64)), R.AMOUNT_OVERFLOW)),
    ("amount a float", lambda f: (_signed_with(f, amount=f.rng.random() * 10**9), R.BAD_SCHEMA)),
    (
        "amount negative",
        lambda f: (_signed_with(f, amount=f"-{f.rng.randint(1, 9)}"), R.BAD_SCHEMA),
    ),
    ("nonce a string", lambda f: (_signed_with(f, nonce="17"), R.BAD_SCHEMA)),
    ("nonce 2**63", lambda f: (_signed_with(f, nonce=2**63), R.BAD_SCHEMA)),
    ("not_after 1e400", lambda f: (_raw_number(f, "not_after", "1e400"), R.BAD_SCHEMA)),
    ("venues a string", lambda f: (_signed_with(f, venues="otc"), R.BAD_SCHEMA)),
    ("venues unknown", lambda f: (_signed_with(f, venues=["uniswap"]), R.BAD_SCHEMA)),
    ("id not a uuid", lambda f: (_signed_with(f, id=f.rng.choice(["x", "", "12"])), R.BAD_SCHEMA)),
    ("missing field", lambda f: (_signed_with(f, sell_mint=None), R.BAD_SCHEMA)),
    ("unknown field", lambda f: (_signed_with(f, memo="x" * f.rng.randint(1, 9000)), R.BAD_SCHEMA)),
    ("version 2", lambda f: (_signed_with(f, version=2), R.UNSUPPORTED_VERSION)),
    ("version a string", lambda f: (_signed_with(f, version="1"), R.UNSUPPORTED_VERSION)),
    # Signed and well-formed: who, where, when, what
    ("unknown wallet", lambda f: (f.signed(signer=f.stranger), R.UNKNOWN_WALLET)),
    ("wrong cluster", lambda f: (_draft(f, cluster="devnet"), R.WRONG_CLUSTER)),
    ("expired", lambda f: (_draft(f, not_after=f.now - f.rng.randint(1, 10**6)), R.EXPIRED)),
    (
        "far future",
        lambda f: (_draft(f, not_after=f.now + 2 ** f.rng.randint(12, 39)), R.TTL_TOO_LONG),
    ),
    ("unknown mint", lambda f: (_draft(f, buy_mint=_pubkey(f)), R.UNKNOWN_MINT)),
    ("same mint", lambda f: (_draft(f, buy_mint=f.mint("SOL")), R.SAME_MINT)),
    ("zero amount", lambda f: (_draft(f, amount=0), R.ZERO_AMOUNT)),
    ("slippage too high", lambda f: (_draft(f, max_slippage_bps=2_001), R.SLIPPAGE_TOO_HIGH)),
    (
        "pair not allowed",
        lambda f: (_draft(f, f.treasury, sell_mint=f.mint("RAY")), R.PAIR_NOT_ALLOWED),
    ),
    ("over the limit", lambda f: (_draft(f, f.treasury, amount=1_000 * 10**9), R.NOTIONAL_LIMIT)),
    ("replayed file", lambda f: (_replay(f, "copy"), R.REPLAYED_ID)),
    ("replayed id", lambda f: (_replay(f, "id"), R.REPLAYED_ID)),
    ("replayed nonce", lambda f: (_replay(f, "nonce"), R.REPLAYED_NONCE)),
]
