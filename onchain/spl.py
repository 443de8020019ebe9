"""SPL token building blocks: associated token accounts, checked transfers, wrapped SOL, memos.

Pure instruction builders and account decoders; nothing here talks to a cluster.
"""

from __future__ import annotations

from solders.account import Account
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.system_program import TransferParams as SystemTransferParams
from solders.system_program import transfer as system_transfer
from solders.token.state import Mint, TokenAccount
from spl.memo.constants import MEMO_PROGRAM_ID
from spl.memo.instructions import MemoParams, create_memo
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID, WRAPPED_SOL_MINT
from spl.token.instructions import (
    CloseAccountParams,
    SyncNativeParams,
    TransferCheckedParams,
    close_account,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    sync_native,
    transfer_checked,
)

__all__ = [
    "ASSOCIATED_TOKEN_PROGRAM_ID",
    "MEMO_PROGRAM_ID",
    "MINT_SIZE",
    "NATIVE_MINT",
    "TOKEN_ACCOUNT_SIZE",
    "TOKEN_PROGRAM_ID",
    "associated_token_address",
    "create_ata_idempotent",
    "memo",
    "mint_decimals",
    "token_amount",
    "token_owner_and_mint",
    "transfer_tokens",
    "unwrap_sol",
    "wrap_sol",
]

NATIVE_MINT: Pubkey = WRAPPED_SOL_MINT
MINT_SIZE = 82
TOKEN_ACCOUNT_SIZE = 165


def associated_token_address(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint)


def create_ata_idempotent(payer: Pubkey, owner: Pubkey, mint: Pubkey) -> Instruction:
    """Create owner's account for mint if it is missing; a no-op when it exists."""
    return create_idempotent_associated_token_account(payer, owner, mint)


def transfer_tokens(
    source: Pubkey, mint: Pubkey, destination: Pubkey, owner: Pubkey, amount: int, decimals: int
) -> Instruction:
    """transfer_checked: the token program checks mint and decimals, so a wrong mint fails."""
    return transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=source,
            mint=mint,
            dest=destination,
            owner=owner,
            amount=amount,
            decimals=decimals,
        )
    )


def wrap_sol(payer: Pubkey, owner: Pubkey, lamports: int) -> list[Instruction]:
    """Move lamports into owner's wrapped-SOL account (created if missing) and sync it."""
    account = associated_token_address(owner, NATIVE_MINT)
    return [
        create_ata_idempotent(payer, owner, NATIVE_MINT),
        system_transfer(
            SystemTransferParams(from_pubkey=owner, to_pubkey=account, lamports=lamports)
        ),
        sync_native(SyncNativeParams(program_id=TOKEN_PROGRAM_ID, account=account)),
    ]


def unwrap_sol(owner: Pubkey) -> Instruction:
    """Close owner's wrapped-SOL account, returning its lamports (rent included) to owner."""
    account = associated_token_address(owner, NATIVE_MINT)
    return close_account(
        CloseAccountParams(program_id=TOKEN_PROGRAM_ID, account=account, dest=owner, owner=owner)
    )


def memo(text: str, signer: Pubkey) -> Instruction:
    return create_memo(
        MemoParams(program_id=MEMO_PROGRAM_ID, signer=signer, message=text.encode("utf-8"))
    )


def token_amount(account: Account | None) -> int | None:
    """Balance of a token account, or None when the account does not exist or is not one."""
    if (
        account is None
        or account.owner != TOKEN_PROGRAM_ID
        or len(account.data) != TOKEN_ACCOUNT_SIZE
    ):
        return None
    return TokenAccount.from_bytes(bytes(account.data)).amount


def token_owner_and_mint(account: Account) -> tuple[Pubkey, Pubkey]:
    state = TokenAccount.from_bytes(bytes(account.data))
    return state.owner, state.mint


def mint_decimals(account: Account) -> int:
    return Mint.from_bytes(bytes(account.data)).decimals
