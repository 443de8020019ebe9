"""Assembling v0 transactions: compute budget, compile, sign (fully or partly), size and fee.

Pure functions over solders types; clusters simulate and send what these build.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

__all__ = [
    "LAMPORTS_PER_SIGNATURE",
    "MAX_COMPUTE_UNITS",
    "MAX_TRANSACTION_SIZE",
    "ComputeBudget",
    "MissingSigner",
    "TransactionTooLarge",
    "compile_v0",
    "fee_lamports",
    "limit_from_simulation",
    "sign",
    "signed_by",
    "to_base64",
    "with_blockhash",
]

MAX_TRANSACTION_SIZE = 1_232
LAMPORTS_PER_SIGNATURE = 5_000
MAX_COMPUTE_UNITS = 1_400_000


class TransactionTooLarge(ValueError):
    """The serialised transaction exceeds what a Solana packet carries."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"transaction is {size} bytes; the limit is {MAX_TRANSACTION_SIZE}")


class MissingSigner(ValueError):
    """A required signer's key is not available and unsigned slots were not allowed."""

    def __init__(self, signer: Pubkey) -> None:
        self.signer = signer
        super().__init__(f"no key for required signer {signer}")


@dataclass(frozen=True, slots=True)
class ComputeBudget:
    unit_limit: int = MAX_COMPUTE_UNITS
    unit_price_micro_lamports: int = 0

    def instructions(self) -> list[Instruction]:
        instructions = [set_compute_unit_limit(self.unit_limit)]
        if self.unit_price_micro_lamports > 0:
            instructions.append(set_compute_unit_price(self.unit_price_micro_lamports))
        return instructions


def compile_v0(
    payer: Pubkey,
    instructions: Sequence[Instruction],
    blockhash: Hash,
    budget: ComputeBudget | None = None,
    lookup_tables: Sequence[AddressLookupTableAccount] = (),
) -> MessageV0:
    """A v0 message whose first instructions set the compute budget."""
    prefix = budget.instructions() if budget is not None else []
    return MessageV0.try_compile(payer, [*prefix, *instructions], list(lookup_tables), blockhash)


def sign(
    message: MessageV0, keys: Sequence[Keypair], *, allow_unsigned: bool = False
) -> VersionedTransaction:
    """Sign with the keys held; other required slots stay empty only if allowed (for simulation)."""
    by_pubkey = {key.pubkey(): key for key in keys}
    payload = to_bytes_versioned(message)
    signatures = []
    for signer in message.account_keys[: message.header.num_required_signatures]:
        key = by_pubkey.get(signer)
        if key is not None:
            signatures.append(key.sign_message(payload))
        elif allow_unsigned:
            signatures.append(Signature.default())
        else:
            raise MissingSigner(signer)
    transaction = VersionedTransaction.populate(message, signatures)
    size = len(bytes(transaction))
    if size > MAX_TRANSACTION_SIZE:
        raise TransactionTooLarge(size)
    return transaction


def signed_by(transaction: VersionedTransaction) -> list[Pubkey]:
    """Required signers whose signature slot is filled."""
    message = transaction.message
    signers = message.account_keys[: message.header.num_required_signatures]
    return [
        key
        for key, sig in zip(signers, transaction.signatures, strict=True)
        if sig != Signature.default()
    ]


def fee_lamports(message: MessageV0, budget: ComputeBudget | None) -> int:
    """Base fee per signature plus the priority fee (limit × price, in micro-lamports)."""
    base = message.header.num_required_signatures * LAMPORTS_PER_SIGNATURE
    if budget is None or budget.unit_price_micro_lamports <= 0:
        return base
    return base + math.ceil(budget.unit_limit * budget.unit_price_micro_lamports / 1_000_000)


def limit_from_simulation(units_consumed: int, margin: float = 0.1) -> int:
    """The compute-unit limit to set after a simulation: measured plus a margin, capped."""
    return min(MAX_COMPUTE_UNITS, max(1, math.ceil(units_consumed * (1 + margin))))


def to_base64(transaction: VersionedTransaction) -> str:
    return base64.b64encode(bytes(transaction)).decode("ascii")


def with_blockhash(transaction: VersionedTransaction, blockhash: Hash) -> VersionedTransaction:
    """The same transaction with another recent blockhash; its signatures no longer match."""
    message = transaction.message
    replaced: Message | MessageV0
    if isinstance(message, MessageV0):
        replaced = MessageV0(
            message.header,
            message.account_keys,
            blockhash,
            message.instructions,
            message.address_table_lookups,
        )
    else:
        replaced = Message.new_with_compiled_instructions(
            message.header.num_required_signatures,
            message.header.num_readonly_signed_accounts,
            message.header.num_readonly_unsigned_accounts,
            message.account_keys,
            blockhash,
            message.instructions,
        )
    return VersionedTransaction.populate(replaced, transaction.signatures)
