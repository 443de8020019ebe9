"""Jupiter swap-instructions documents for tests: the honest one, and forged rewrites of it.

:func:`swap_instructions_doc` builds what Jupiter would answer for a user and a quote:
compute budget, the user's associated token accounts, the SOL wrap and unwrap, and a
``shared_accounts_route`` (v1) or ``shared_accounts_route_v2`` with one MeteoraDlmm step,
encoded with the shipped IDL. The pool accounts are placeholders: right in shape, not for
simulation. For the reference example's inputs the document is the example's.

Each rewrite below takes an honest document (``/swap-instructions`` body or the instruction
part of ``/build``) and returns a changed copy with one thing an attacker (or a buggy API)
could slip in. Set one as ``FakeJupiter.tamper`` to have the fake serve it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Mapping
from typing import Any

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams as SystemTransferParams
from solders.system_program import transfer as system_transfer
from spl.token.instructions import (
    ApproveParams,
    CloseAccountParams,
    TransferParams,
    approve,
    close_account,
    transfer,
)

from onchain.jupiter_program import (
    DecodedSwap,
    account_names,
    argument_names,
    decode_swap,
    encode_swap,
    program_authority,
)
from onchain.spl import (
    NATIVE_MINT,
    TOKEN_PROGRAM_ID,
    associated_token_address,
    create_ata_idempotent,
    wrap_sol,
)

__all__ = [
    "ALT",
    "DEFAULT_COMPUTE_UNIT_LIMIT",
    "DEFAULT_COMPUTE_UNIT_PRICE",
    "STRANGER",
    "approve_to_stranger",
    "changed_in_amount",
    "destination_owned_by_stranger",
    "extra_token_transfer",
    "extra_transfer_to_stranger",
    "foreign_signer",
    "instruction_from_json",
    "instruction_to_json",
    "instructions_of",
    "lowered_quoted_out",
    "oversized_compute_price",
    "raised_slippage",
    "rewrite_swap",
    "swap_instructions_doc",
    "swap_of",
    "unknown_program",
]

Doc = dict[str, Any]
ALT = "GxS6FiQ9RbErBB48mE34U4Jv13MdEJov4R1e5KgFzRFY"  # the reference example's lookup table
METEORA_DLMM_PROGRAM = Pubkey.from_string("LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo")
DEFAULT_COMPUTE_UNIT_LIMIT = 1_400_000
DEFAULT_COMPUTE_UNIT_PRICE = 10_000
STRANGER = Keypair.from_seed(bytes([7]) * 32).pubkey()
UNKNOWN_PROGRAM = Keypair.from_seed(bytes([8]) * 32).pubkey()


# --- the JSON shape ---------------------------------------------------------------------------
def instruction_to_json(ix: Instruction) -> dict[str, Any]:
    """An instruction in Jupiter's JSON shape ``{programId, accounts, data: base64}``."""
    return {
        "programId": str(ix.program_id),
        "accounts": [
            {"pubkey": str(m.pubkey), "isSigner": m.is_signer, "isWritable": m.is_writable}
            for m in ix.accounts
        ],
        "data": base64.b64encode(bytes(ix.data)).decode(),
    }


def instruction_from_json(doc: Mapping[str, Any]) -> Instruction:
    metas = [
        AccountMeta(Pubkey.from_string(a["pubkey"]), a["isSigner"], a["isWritable"])
        for a in doc["accounts"]
    ]
    return Instruction(Pubkey.from_string(doc["programId"]), base64.b64decode(doc["data"]), metas)


def instructions_of(doc: Mapping[str, Any]) -> list[Instruction]:
    """A document's instructions in transaction order (Jupiter's own assembly order)."""
    ordered = [
        *doc["computeBudgetInstructions"],
        *([doc["tokenLedgerInstruction"]] if doc.get("tokenLedgerInstruction") else []),
        *doc["setupInstructions"],
        doc["swapInstruction"],
        *([doc["cleanupInstruction"]] if doc.get("cleanupInstruction") else []),
        *doc["otherInstructions"],
    ]
    return [instruction_from_json(ix) for ix in ordered]


def swap_of(doc: Mapping[str, Any]) -> DecodedSwap:
    return decode_swap(instruction_from_json(doc["swapInstruction"]))


def rewrite_swap(
    doc: Mapping[str, Any],
    args: Mapping[str, Any] | None = None,
    accounts: Mapping[str, Pubkey] | None = None,
    name: str | None = None,
) -> Doc:
    """A copy whose swap instruction has some arguments or accounts replaced; with ``name``,
    re-encoded as that instruction (keeping what the two share)."""
    swap = swap_of(doc)
    name = name or swap.name
    new_args = dict(swap.args) | dict(args or {})
    new_accounts = dict(swap.accounts) | dict(accounts or {})
    new_args = {k: v for k, v in new_args.items() if k in argument_names(name)}
    new_accounts = {k: v for k, v in new_accounts.items() if k in account_names(name)}
    ix = encode_swap(name, new_args, new_accounts, swap.remaining_accounts)
    out = copy.deepcopy(dict(doc))
    out["swapInstruction"] = instruction_to_json(ix)
    return out


def _user(swap: DecodedSwap) -> Pubkey:
    return swap.accounts["user_transfer_authority"]


def _source(swap: DecodedSwap) -> Pubkey:
    return swap.accounts.get("user_source_token_account", swap.accounts.get("source_token_account"))


def _with(doc: Mapping[str, Any], key: str, ix: Instruction) -> Doc:
    out = copy.deepcopy(dict(doc))
    out[key] = [*out[key], instruction_to_json(ix)]
    return out


# --- the honest document ----------------------------------------------------------------------
def _pool_accounts(quote: Mapping[str, Any], count: int | None) -> list[AccountMeta]:
    """The DLMM program and each step's pool, padded (or cut) to ``count`` accounts."""
    keys = [METEORA_DLMM_PROGRAM] + [
        Pubkey.from_string(step["swapInfo"]["ammKey"]) for step in quote.get("routePlan", [])
    ]
    if count is not None:
        fillers = (
            Pubkey(hashlib.sha256(b"fake pool account %d" % i).digest()) for i in range(count)
        )
        keys = [*keys, *fillers][:count]
    return [AccountMeta(key, False, i > 0) for i, key in enumerate(keys)]


def _swap_instruction(
    quote: Mapping[str, Any], user: Pubkey, *, v2: bool, pool_accounts: int | None
) -> Instruction:
    source_mint = Pubkey.from_string(quote["inputMint"])
    destination_mint = Pubkey.from_string(quote["outputMint"])
    authority = program_authority(0)
    fee = quote.get("platformFee") or {}
    args: dict[str, Any] = {
        "id": 0,
        "in_amount": int(quote["inAmount"]),
        "quoted_out_amount": int(quote["outAmount"]),
        "slippage_bps": int(quote["slippageBps"]),
        "platform_fee_bps": int(fee.get("feeBps", 0)),
    }
    share = {"bps": 10_000} if v2 else {"percent": 100}
    args["route_plan"] = [{"swap": "MeteoraDlmm", **share, "input_index": 0, "output_index": 1}]
    accounts = {
        "program_authority": authority,
        "user_transfer_authority": user,
        "source_token_account": associated_token_address(user, source_mint),
        "program_source_token_account": associated_token_address(authority, source_mint),
        "program_destination_token_account": associated_token_address(authority, destination_mint),
        "destination_token_account": associated_token_address(user, destination_mint),
        "source_mint": source_mint,
        "destination_mint": destination_mint,
    }
    if v2:
        args["positive_slippage_bps"] = 0
        accounts |= {
            "source_token_program": TOKEN_PROGRAM_ID,
            "destination_token_program": TOKEN_PROGRAM_ID,
        }
    else:
        accounts["token_program"] = TOKEN_PROGRAM_ID
    name = "shared_accounts_route_v2" if v2 else "shared_accounts_route"
    return encode_swap(name, args, accounts, _pool_accounts(quote, pool_accounts))


def swap_instructions_doc(
    quote: Mapping[str, Any],
    user: str,
    *,
    v2: bool,
    compute_unit_limit: int = DEFAULT_COMPUTE_UNIT_LIMIT,
    compute_unit_price: int = DEFAULT_COMPUTE_UNIT_PRICE,
    wrap_and_unwrap_sol: bool = True,
    pool_accounts: int | None = None,
) -> dict[str, Any]:
    """The /swap-instructions document Jupiter would build for ``user`` and ``quote``
    (``pool_accounts``: how many remaining accounts the swap carries; None: DLMM + pools)."""
    owner = Pubkey.from_string(user)
    input_mint, output_mint = (
        Pubkey.from_string(quote["inputMint"]),
        Pubkey.from_string(quote["outputMint"]),
    )
    setup = []
    if wrap_and_unwrap_sol and input_mint == NATIVE_MINT:
        setup += wrap_sol(owner, owner, int(quote["inAmount"]))
    setup.append(create_ata_idempotent(owner, owner, output_mint))
    cleanup = None
    if wrap_and_unwrap_sol and NATIVE_MINT in (input_mint, output_mint):
        wsol = associated_token_address(owner, NATIVE_MINT)
        params = CloseAccountParams(
            program_id=TOKEN_PROGRAM_ID, account=wsol, dest=owner, owner=owner
        )
        cleanup = instruction_to_json(close_account(params))
    budget = [
        set_compute_unit_limit(compute_unit_limit),
        set_compute_unit_price(compute_unit_price),
    ]
    return {
        "tokenLedgerInstruction": None,
        "computeBudgetInstructions": [instruction_to_json(ix) for ix in budget],
        "setupInstructions": [instruction_to_json(ix) for ix in setup],
        "swapInstruction": instruction_to_json(
            _swap_instruction(quote, owner, v2=v2, pool_accounts=pool_accounts)
        ),
        "cleanupInstruction": cleanup,
        "otherInstructions": [],
        "addressLookupTableAddresses": [ALT],
        "prioritizationFeeLamports": compute_unit_limit * compute_unit_price // 1_000_000,
        "computeUnitLimit": compute_unit_limit,
        "prioritizationType": {
            "computeBudget": {
                "microLamports": compute_unit_price,
                "estimatedMicroLamports": compute_unit_price,
            }
        },
        "simulationError": None,
    }


# --- the rewrites ----------------------------------------------------------------------------
def extra_token_transfer(doc: Mapping[str, Any]) -> Doc:
    """An SPL transfer from the user's source account to a stranger's account."""
    swap = swap_of(doc)
    params = TransferParams(
        program_id=TOKEN_PROGRAM_ID,
        source=_source(swap),
        dest=associated_token_address(STRANGER, swap.accounts["source_mint"]),
        owner=_user(swap),
        amount=1_000_000,
    )
    return _with(doc, "otherInstructions", transfer(params))


def extra_transfer_to_stranger(doc: Mapping[str, Any]) -> Doc:
    """A system transfer of 1 SOL from the user to a stranger."""
    params = SystemTransferParams(
        from_pubkey=_user(swap_of(doc)), to_pubkey=STRANGER, lamports=10**9
    )
    return _with(doc, "otherInstructions", system_transfer(params))


def changed_in_amount(doc: Mapping[str, Any]) -> Doc:
    """The swap spends one base unit more than was asked."""
    return rewrite_swap(doc, {"in_amount": swap_of(doc).args["in_amount"] + 1})


def lowered_quoted_out(doc: Mapping[str, Any]) -> Doc:
    """The swap quotes (and so guarantees) half the output."""
    return rewrite_swap(doc, {"quoted_out_amount": swap_of(doc).args["quoted_out_amount"] // 2})


def raised_slippage(doc: Mapping[str, Any]) -> Doc:
    """The swap tolerates 50% slippage."""
    return rewrite_swap(doc, {"slippage_bps": 5_000})


def foreign_signer(doc: Mapping[str, Any]) -> Doc:
    """The first setup instruction (an account creation) is paid and signed by a stranger."""
    out = copy.deepcopy(dict(doc))
    out["setupInstructions"][0]["accounts"][0] = {
        "pubkey": str(STRANGER), "isSigner": True, "isWritable": True,
    }  # fmt: skip
    return out


def unknown_program(doc: Mapping[str, Any]) -> Doc:
    """An instruction of a program nobody allowed, signed by the user."""
    ix = Instruction(UNKNOWN_PROGRAM, b"\x01", [AccountMeta(_user(swap_of(doc)), True, True)])
    return _with(doc, "otherInstructions", ix)


def approve_to_stranger(doc: Mapping[str, Any]) -> Doc:
    """The user's source account delegates to a stranger (setup, before the swap)."""
    swap = swap_of(doc)
    params = ApproveParams(
        program_id=TOKEN_PROGRAM_ID,
        source=_source(swap),
        delegate=STRANGER,
        owner=_user(swap),
        amount=2**64 - 1,
    )
    return _with(doc, "setupInstructions", approve(params))


def oversized_compute_price(doc: Mapping[str, Any]) -> Doc:
    """A compute-unit price of 1,000 lamports per unit: a 1.4 SOL fee at the CU ceiling."""
    out = copy.deepcopy(dict(doc))
    others = [
        ix
        for ix in out["computeBudgetInstructions"]
        if base64.b64decode(ix["data"])[:1] != b"\x03"  # SetComputeUnitPrice
    ]
    out["computeBudgetInstructions"] = [*others, instruction_to_json(set_compute_unit_price(10**9))]
    return out


def destination_owned_by_stranger(doc: Mapping[str, Any]) -> Doc:
    """The swap pays out into a stranger's associated account for the output mint."""
    swap = swap_of(doc)
    role = (
        "user_destination_token_account"
        if "user_destination_token_account" in swap.accounts
        else "destination_token_account"
    )
    stolen = associated_token_address(STRANGER, swap.accounts["destination_mint"])
    return rewrite_swap(doc, accounts={role: stolen})
