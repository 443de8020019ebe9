"""Solana off-chain messages (sRFC 3): the bytes a wallet signs for a trade intent.

Pure functions, no I/O. v1 is what the wallet standard's `solana:signOffchainMessage`
produces; v0 is the older layout that hardware wallets and older tools still use. The first
byte, 0xff, can never start a transaction message, so neither can be replayed as a transaction.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

SIGNING_DOMAIN = b"\xffsolana offchain"
MAX_V0_SHORT = 1232
MAX_V0_LONG = 65535

FORMAT_RESTRICTED_ASCII = 0
FORMAT_UTF8_SHORT = 1
FORMAT_UTF8_LONG = 2

_KEY_LEN = 32
_MAX_SIGNERS = 255
# The spec's v0 limits bound the preamble and body together, not the body alone, which is
# also how Solana's TypeScript and Rust implementations read it.
_V0_LIMITS = {
    FORMAT_RESTRICTED_ASCII: MAX_V0_SHORT,
    FORMAT_UTF8_SHORT: MAX_V0_SHORT,
    FORMAT_UTF8_LONG: MAX_V0_LONG,
}


class OffchainMessageError(ValueError):
    """A message that cannot be encoded or does not decode strictly; `reason` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"invalid off-chain message ({reason}): {detail}")


@dataclass(frozen=True)
class OffchainMessage:
    """A decoded message; application_domain and message_format exist only in v0."""

    version: int
    signers: tuple[Pubkey, ...]
    content: bytes
    application_domain: bytes | None = None
    message_format: int | None = None


def _check_signers(signers: Sequence[Pubkey]) -> list[bytes]:
    raw = [bytes(s) for s in signers]
    if not raw:
        raise OffchainMessageError("no_signers", "at least one signer is required")
    if len(raw) > _MAX_SIGNERS:
        raise OffchainMessageError("too_many_signers", f"{len(raw)} signers; at most 255 fit")
    if len(set(raw)) != len(raw):
        raise OffchainMessageError("duplicate_signer", "a signer appears more than once")
    return raw


def _check_utf8(content: bytes) -> None:
    if not content:
        raise OffchainMessageError("empty_content", "the content must not be empty")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"content is not UTF-8 at byte {exc.start}"
        raise OffchainMessageError("bad_utf8", detail) from None


def _is_restricted_ascii(content: bytes) -> bool:
    return all(0x20 <= b <= 0x7E for b in content)


def _check_v0_content(content: bytes, message_format: int, total_len: int) -> None:
    if message_format not in _V0_LIMITS:
        raise OffchainMessageError("bad_format", f"unknown message format {message_format}")
    _check_utf8(content)
    if message_format == FORMAT_RESTRICTED_ASCII and not _is_restricted_ascii(content):
        raise OffchainMessageError(
            "bad_format", "format 0 allows only printable ASCII (0x20..0x7e)"
        )
    limit = _V0_LIMITS[message_format]
    if total_len > limit:
        raise OffchainMessageError(
            "content_too_long",
            f"format {message_format} allows {limit} bytes with the preamble; got {total_len}",
        )


def encode_v1(signers: Sequence[Pubkey], content: bytes) -> bytes:
    """Encode a v1 message; signers are sorted here because v1 requires ascending order."""
    raw = sorted(_check_signers(signers))
    _check_utf8(content)
    return SIGNING_DOMAIN + bytes([1, len(raw)]) + b"".join(raw) + content


def _v0_preamble_len(signer_count: int) -> int:
    return len(SIGNING_DOMAIN) + 1 + _KEY_LEN + 1 + 1 + signer_count * _KEY_LEN + 2


def _auto_format(content: bytes, total_len: int) -> int:
    if total_len <= MAX_V0_SHORT:
        return FORMAT_RESTRICTED_ASCII if _is_restricted_ascii(content) else FORMAT_UTF8_SHORT
    return FORMAT_UTF8_LONG


def encode_v0(
    application_domain: bytes,
    signers: Sequence[Pubkey],
    content: bytes,
    message_format: int | None = None,
) -> bytes:
    """Encode a v0 message, keeping the caller's signer order (v0 does not sort)."""
    if len(application_domain) != _KEY_LEN:
        raise OffchainMessageError(
            "bad_application_domain",
            f"the application domain must be 32 bytes, got {len(application_domain)}",
        )
    raw = _check_signers(signers)
    total_len = _v0_preamble_len(len(raw)) + len(content)
    fmt = _auto_format(content, total_len) if message_format is None else message_format
    _check_v0_content(content, fmt, total_len)
    return (
        SIGNING_DOMAIN
        + bytes([0])
        + application_domain
        + bytes([fmt, len(raw)])
        + b"".join(raw)
        + struct.pack("<H", len(content))
        + content
    )


class _Reader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    def take(self, n: int, what: str) -> bytes:
        end = self.offset + n
        if end > len(self.data):
            raise OffchainMessageError(
                "truncated", f"message ends before its {what} (needs {end} bytes)"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def rest(self) -> bytes:
        return self.data[self.offset :]


def _read_signers(reader: _Reader) -> list[bytes]:
    count = reader.take(1, "signer count")[0]
    if count == 0:
        raise OffchainMessageError("no_signers", "the signer count is zero")
    raw = [reader.take(_KEY_LEN, "signers") for _ in range(count)]
    if len(set(raw)) != len(raw):
        raise OffchainMessageError("duplicate_signer", "a signer appears more than once")
    return raw


def _decode_v1(reader: _Reader) -> OffchainMessage:
    raw = _read_signers(reader)
    if raw != sorted(raw):
        raise OffchainMessageError("signers_not_sorted", "v1 signers must be in ascending order")
    content = reader.rest()
    _check_utf8(content)
    return OffchainMessage(1, tuple(Pubkey.from_bytes(s) for s in raw), content)


def _decode_v0(reader: _Reader) -> OffchainMessage:
    domain = reader.take(_KEY_LEN, "application domain")
    fmt = reader.take(1, "message format")[0]
    raw = _read_signers(reader)
    (length,) = struct.unpack("<H", reader.take(2, "message length"))
    content = reader.rest()
    if length != len(content):
        raise OffchainMessageError(
            "length_mismatch", f"length field says {length} bytes but {len(content)} follow"
        )
    _check_v0_content(content, fmt, len(reader.data))
    signers = tuple(Pubkey.from_bytes(s) for s in raw)
    return OffchainMessage(0, signers, content, application_domain=domain, message_format=fmt)


def decode(data: bytes) -> OffchainMessage:
    """Strictly decode either version; anything a conforming encoder would not emit is refused."""
    if data[: len(SIGNING_DOMAIN)] != SIGNING_DOMAIN[: len(data)]:
        raise OffchainMessageError("bad_domain", "does not start with the off-chain signing domain")
    reader = _Reader(data, len(SIGNING_DOMAIN))
    version = reader.take(1, "version")[0]
    if version == 1:
        return _decode_v1(reader)
    if version == 0:
        return _decode_v0(reader)
    raise OffchainMessageError("unsupported_version", f"version {version} is not 0 or 1")


def sign_v1(keypair: Keypair, content: bytes) -> tuple[bytes, Signature]:
    """Encode `content` as a v1 message with `keypair` as its only signer, and sign it."""
    message = encode_v1([keypair.pubkey()], content)
    return message, keypair.sign_message(message)


def verify(message: bytes, signature: Signature, signer: Pubkey) -> bool:
    """Whether `signer` is one of the message's signers and signed exactly these bytes.

    Malformed messages raise OffchainMessageError rather than returning False, so callers can
    tell a forged signature from a broken client.
    """
    decoded = decode(message)
    if signer not in decoded.signers:
        return False
    return signature.verify(signer, message)
