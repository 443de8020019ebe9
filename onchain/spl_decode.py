"""Reading the System, SPL Token (and Token-2022), Associated Token and Compute Budget
instructions that come with a swap, by their documented layouts. Pure, no I/O.

Only the instructions a swap verifier has rules for are read in full (their accounts by role
and their amount); every other one is named by its tag so that it can be refused by name.
Data that does not fit the documented layout raises :class:`MalformedInstruction`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM_ID
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from spl.token.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WRAPPED_SOL_MINT,
)

__all__ = [
    "ASSOCIATED_TOKEN_PROGRAM_ID",
    "COMPUTE_BUDGET_PROGRAM_ID",
    "MEMO_PROGRAM_IDS",
    "NATIVE_MINT",
    "SYSTEM_PROGRAM_ID",
    "TOKEN_2022_PROGRAM_ID",
    "TOKEN_PROGRAM_ID",
    "TOKEN_PROGRAM_IDS",
    "MalformedInstruction",
    "SplInstruction",
    "decode_associated_token",
    "decode_compute_budget",
    "decode_system",
    "decode_token",
]

NATIVE_MINT: Pubkey = WRAPPED_SOL_MINT
TOKEN_PROGRAM_IDS = frozenset({TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID})
MEMO_PROGRAM_IDS = frozenset(
    {
        Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),  # v2
        Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"),  # v1
    }
)

_SYSTEM_NAMES = (
    "create_account", "assign", "transfer", "create_account_with_seed", "advance_nonce_account",
    "withdraw_nonce_account", "initialize_nonce_account", "authorize_nonce_account", "allocate",
    "allocate_with_seed", "assign_with_seed", "transfer_with_seed", "upgrade_nonce_account",
)  # fmt: skip
_TOKEN_NAMES = (
    "initialize_mint", "initialize_account", "initialize_multisig", "transfer", "approve",
    "revoke", "set_authority", "mint_to", "burn", "close_account", "freeze_account",
    "thaw_account", "transfer_checked", "approve_checked", "mint_to_checked", "burn_checked",
    "initialize_account2", "sync_native", "initialize_account3", "initialize_multisig2",
    "initialize_mint2", "get_account_data_size", "initialize_immutable_owner",
    "amount_to_ui_amount", "ui_amount_to_amount",
)  # fmt: skip
_COMPUTE_BUDGET = {
    0: ("request_units_deprecated", "<II"),
    1: ("request_heap_frame", "<I"),
    2: ("set_compute_unit_limit", "<I"),
    3: ("set_compute_unit_price", "<Q"),
    4: ("set_loaded_accounts_data_size_limit", "<I"),
}
# tag -> (name, account roles in order, struct format of the amount fields after the tag)
_TOKEN_LAYOUTS = {
    3: ("transfer", ("source", "destination", "authority"), "<Q"),
    4: ("approve", ("source", "delegate", "owner"), "<Q"),
    9: ("close_account", ("account", "destination", "owner"), ""),
    12: ("transfer_checked", ("source", "mint", "destination", "authority"), "<QB"),
    13: ("approve_checked", ("source", "mint", "delegate", "owner"), "<QB"),
    17: ("sync_native", ("account",), ""),
}
_ATA_ROLES = ("payer", "account", "owner", "mint", "system_program", "token_program")
_EMPTY: Mapping[str, Pubkey] = MappingProxyType({})


class MalformedInstruction(ValueError):
    """The instruction's data or account list does not fit its documented layout."""

    def __init__(self, program: str, detail: str) -> None:
        super().__init__(f"malformed {program} instruction: {detail}")
        self.program = program
        self.detail = detail


@dataclass(frozen=True)
class SplInstruction:
    """One instruction, named (snake_case, ``unknown_<tag>`` past the documented ones).

    ``amount`` is lamports (System), base units (Token), or the value a Compute Budget
    instruction sets. ``authority`` is SetAuthority's new authority (None: removed) and
    InitializeAccount3's owner.
    """

    name: str
    accounts: Mapping[str, Pubkey] = field(default_factory=lambda: _EMPTY)
    amount: int | None = None
    authority: Pubkey | None = None


def _roles(program: str, name: str, ix: Instruction, roles: Sequence[str]) -> Mapping[str, Pubkey]:
    metas = ix.accounts
    if len(metas) < len(roles):
        raise MalformedInstruction(program, f"{name} needs {len(roles)} accounts, got {len(metas)}")
    return MappingProxyType({role: meta.pubkey for role, meta in zip(roles, metas, strict=False)})


def _name(names: Sequence[str], tag: int) -> str:
    return names[tag] if tag < len(names) else f"unknown_{tag}"


def decode_system(ix: Instruction) -> SplInstruction:
    """A System program instruction; Transfer is read in full (source, destination, lamports)."""
    data = bytes(ix.data)
    if len(data) < 4:
        raise MalformedInstruction("system", f"{len(data)} bytes, no u32 discriminant")
    (tag,) = struct.unpack_from("<I", data)
    name = _name(_SYSTEM_NAMES, tag)
    if name != "transfer":
        return SplInstruction(name)
    if len(data) != 12:
        raise MalformedInstruction("system", f"transfer has {len(data)} bytes, not 12")
    (lamports,) = struct.unpack_from("<Q", data, 4)
    return SplInstruction(name, _roles("system", name, ix, ("source", "destination")), lamports)


def _set_authority(ix: Instruction, data: bytes) -> SplInstruction:
    # authority_type u8, then COption<Pubkey>: tag 0 (none) or 1 and the key. The token
    # program ignores what follows, and solana-py pads "none" with 32 zero bytes, so do the same.
    if len(data) >= 3 and data[2] == 0:
        new_authority = None
    elif len(data) >= 35 and data[2] == 1:
        new_authority = Pubkey(data[3:35])
    else:
        raise MalformedInstruction("token", f"set_authority data {data[:4].hex()}… fits no layout")
    accounts = _roles("token", "set_authority", ix, ("account", "current_authority"))
    return SplInstruction("set_authority", accounts, authority=new_authority)


def decode_token(ix: Instruction) -> SplInstruction:
    """An SPL Token or Token-2022 instruction (the two share tags 0-24)."""
    data = bytes(ix.data)
    if not data:
        raise MalformedInstruction("token", "no data")
    tag = data[0]
    if tag == 6:
        return _set_authority(ix, data)
    if tag == 18:
        if len(data) != 33:
            raise MalformedInstruction("token", f"initialize_account3 has {len(data)} bytes")
        accounts = _roles("token", "initialize_account3", ix, ("account", "mint"))
        return SplInstruction("initialize_account3", accounts, authority=Pubkey(data[1:]))
    if tag not in _TOKEN_LAYOUTS:
        return SplInstruction(_name(_TOKEN_NAMES, tag))
    name, roles, fmt = _TOKEN_LAYOUTS[tag]
    if len(data) != 1 + struct.calcsize(fmt):
        raise MalformedInstruction("token", f"{name} has {len(data)} bytes")
    amount = struct.unpack_from(fmt, data, 1)[0] if fmt else None
    return SplInstruction(name, _roles("token", name, ix, roles), amount)


def decode_associated_token(ix: Instruction) -> SplInstruction:
    """An Associated Token Account program instruction (empty data is the original Create)."""
    data = bytes(ix.data)
    if data in (b"", b"\x00"):
        name = "create"
    elif data == b"\x01":
        name = "create_idempotent"
    elif data == b"\x02":
        return SplInstruction("recover_nested")
    else:
        raise MalformedInstruction("associated token", f"data {data[:8].hex()} fits no layout")
    return SplInstruction(name, _roles("associated token", name, ix, _ATA_ROLES))


def decode_compute_budget(ix: Instruction) -> SplInstruction:
    """A Compute Budget instruction with the value it sets (units, bytes or micro-lamports)."""
    data = bytes(ix.data)
    if not data:
        raise MalformedInstruction("compute budget", "no data")
    if data[0] not in _COMPUTE_BUDGET:
        return SplInstruction(f"unknown_{data[0]}")
    name, fmt = _COMPUTE_BUDGET[data[0]]
    if len(data) != 1 + struct.calcsize(fmt):
        raise MalformedInstruction("compute budget", f"{name} has {len(data)} bytes")
    return SplInstruction(name, amount=struct.unpack_from(fmt, data, 1)[0])
