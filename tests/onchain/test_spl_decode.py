"""The System, SPL Token, Associated Token and Compute Budget decoders against their builders."""

from __future__ import annotations

from typing import Any

import pytest
from solders.compute_budget import (
    request_heap_frame,
    set_compute_unit_limit,
    set_compute_unit_price,
)
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import AssignParams, assign
from solders.system_program import TransferParams as SystemTransferParams
from solders.system_program import transfer as system_transfer
from spl.token.instructions import (
    ApproveCheckedParams,
    ApproveParams,
    AuthorityType,
    BurnParams,
    CloseAccountParams,
    SetAuthorityParams,
    SyncNativeParams,
    TransferCheckedParams,
    TransferParams,
    approve,
    approve_checked,
    burn,
    close_account,
    create_associated_token_account,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    set_authority,
    sync_native,
    transfer,
    transfer_checked,
)

from onchain.spl_decode import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    COMPUTE_BUDGET_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    MalformedInstruction,
    SplInstruction,
    decode_associated_token,
    decode_compute_budget,
    decode_system,
    decode_token,
)

A, B, C, D = (Keypair.from_seed(bytes([i]) * 32).pubkey() for i in range(1, 5))
T = TOKEN_PROGRAM_ID


def _raw(program: Pubkey, data: bytes, n: int = 4) -> Instruction:
    return Instruction(program, data, [AccountMeta(k, False, True) for k in (A, B, C, D)[:n]])


def _set_authority(new: Pubkey | None) -> Instruction:
    params = SetAuthorityParams(
        program_id=T, account=A, authority=AuthorityType.ACCOUNT_OWNER, current_authority=B,
        new_authority=new,
    )  # fmt: skip
    return set_authority(params)


@pytest.mark.parametrize(
    ("ix", "name", "accounts", "amount", "authority"),
    [
        (transfer(TransferParams(program_id=T, source=A, dest=B, owner=C, amount=7)),
         "transfer", {"source": A, "destination": B, "authority": C}, 7, None),
        (transfer_checked(TransferCheckedParams(program_id=T, source=A, mint=B, dest=C, owner=D, amount=8, decimals=6)),
         "transfer_checked", {"source": A, "mint": B, "destination": C, "authority": D}, 8, None),
        (approve(ApproveParams(program_id=T, source=A, delegate=B, owner=C, amount=9)),
         "approve", {"source": A, "delegate": B, "owner": C}, 9, None),
        (approve_checked(ApproveCheckedParams(
            program_id=T, source=A, mint=B, delegate=C, owner=D, amount=10, decimals=6)),
         "approve_checked", {"source": A, "mint": B, "delegate": C, "owner": D}, 10, None),
        (_set_authority(D), "set_authority", {"account": A, "current_authority": B}, None, D),
        (_set_authority(None), "set_authority", {"account": A, "current_authority": B}, None, None),
        (_raw(T, bytes([6, 2, 0])), "set_authority", {"account": A, "current_authority": B}, None, None),
        (close_account(CloseAccountParams(program_id=T, account=A, dest=B, owner=C)),
         "close_account", {"account": A, "destination": B, "owner": C}, None, None),
        (sync_native(SyncNativeParams(program_id=T, account=A)), "sync_native", {"account": A}, None, None),
        (_raw(T, bytes([18]) + bytes(C)), "initialize_account3", {"account": A, "mint": B}, None, C),
        (burn(BurnParams(program_id=T, account=A, mint=B, owner=C, amount=1)), "burn", {}, None, None),
        (_raw(T, bytes([26, 1])), "unknown_26", {}, None, None),
    ],
    ids=["transfer", "transfer_checked", "approve", "approve_checked", "set_authority", "set_authority-none-padded",
         "set_authority-none-short", "close_account", "sync_native", "initialize_account3", "burn", "extension"],
)  # fmt: skip
def test_token(
    ix: Instruction,
    name: str,
    accounts: dict[str, Pubkey],
    amount: int | None,
    authority: Pubkey | None,
) -> None:
    """Token instructions decode to their name, accounts by role, amount and authority."""
    assert decode_token(ix) == SplInstruction(name, accounts, amount, authority)


@pytest.mark.parametrize(
    ("ix", "expected"),
    [
        (system_transfer(SystemTransferParams(from_pubkey=A, to_pubkey=B, lamports=5)),
         SplInstruction("transfer", {"source": A, "destination": B}, 5)),
        (assign(AssignParams(pubkey=A, owner=B)), SplInstruction("assign")),
        (_raw(SYSTEM_PROGRAM_ID, (99).to_bytes(4, "little")), SplInstruction("unknown_99")),
        (create_idempotent_associated_token_account(A, B, C),
         SplInstruction("create_idempotent", {
             "payer": A, "account": get_associated_token_address(B, C), "owner": B, "mint": C,
             "system_program": SYSTEM_PROGRAM_ID, "token_program": T})),
        (create_associated_token_account(A, B, C),
         SplInstruction("create", {
             "payer": A, "account": get_associated_token_address(B, C), "owner": B, "mint": C,
             "system_program": SYSTEM_PROGRAM_ID, "token_program": T})),
        (_raw(ASSOCIATED_TOKEN_PROGRAM_ID, b"\x02"), SplInstruction("recover_nested")),
        (set_compute_unit_limit(200_000), SplInstruction("set_compute_unit_limit", amount=200_000)),
        (set_compute_unit_price(25_715), SplInstruction("set_compute_unit_price", amount=25_715)),
        (request_heap_frame(65_536), SplInstruction("request_heap_frame", amount=65_536)),
        (_raw(COMPUTE_BUDGET_PROGRAM_ID, b"\x04" + (1024).to_bytes(4, "little")),
         SplInstruction("set_loaded_accounts_data_size_limit", amount=1024)),
        (_raw(COMPUTE_BUDGET_PROGRAM_ID, b"\x09"), SplInstruction("unknown_9")),
    ],
    ids=["system-transfer", "system-assign", "system-unknown", "ata-create-idempotent", "ata-create",
         "ata-recover-nested", "cu-limit", "cu-price", "heap-frame", "loaded-data-size", "cu-unknown"],
)  # fmt: skip
def test_other_programs(ix: Instruction, expected: SplInstruction) -> None:
    """System, ATA and Compute Budget instructions decode by their documented layouts."""
    decoders: dict[Pubkey, Any] = {
        SYSTEM_PROGRAM_ID: decode_system,
        ASSOCIATED_TOKEN_PROGRAM_ID: decode_associated_token,
        COMPUTE_BUDGET_PROGRAM_ID: decode_compute_budget,
    }
    assert decoders[ix.program_id](ix) == expected


@pytest.mark.parametrize(
    ("decode", "ix", "detail"),
    [
        (decode_token, _raw(T, b""), "no data"),
        (decode_token, _raw(T, bytes([3, 1, 2])), "transfer has 3 bytes"),
        (decode_token, _raw(T, bytes([3]) + bytes(8), n=2), "transfer needs 3 accounts, got 2"),
        (decode_token, _raw(T, bytes([6, 2, 2])), "set_authority"),
        (decode_token, _raw(T, bytes([6, 2, 1, 5])), "set_authority"),
        (decode_token, _raw(T, bytes([18, 1])), "initialize_account3 has 2 bytes"),
        (decode_system, _raw(SYSTEM_PROGRAM_ID, b"\x02\x00"), "no u32 discriminant"),
        (decode_system, _raw(SYSTEM_PROGRAM_ID, b"\x02\x00\x00\x00\x01"), "transfer has 5 bytes"),
        (decode_associated_token, _raw(ASSOCIATED_TOKEN_PROGRAM_ID, b"\x01\x00"), "fits no layout"),
        (decode_associated_token, _raw(ASSOCIATED_TOKEN_PROGRAM_ID, b"\x01", n=3), "needs 6 accounts"),
        (decode_compute_budget, _raw(COMPUTE_BUDGET_PROGRAM_ID, b""), "no data"),
        (decode_compute_budget, _raw(COMPUTE_BUDGET_PROGRAM_ID, b"\x03\x01\x02"), "set_compute_unit_price has 3 bytes"),
    ],
    ids=["token-empty", "token-short-amount", "token-few-accounts", "authority-bad-option", "authority-short-key",
         "init3-short", "system-short", "system-transfer-short", "ata-trailing", "ata-few-accounts",
         "cu-empty", "cu-short"],
)  # fmt: skip
def test_malformed(decode: Any, ix: Instruction, detail: str) -> None:
    """Data or accounts that do not fit the documented layout raise MalformedInstruction."""
    with pytest.raises(MalformedInstruction, match="malformed") as info:
        decode(ix)
    assert detail in info.value.detail
