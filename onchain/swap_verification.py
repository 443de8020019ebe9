"""Checking the instructions an aggregator hands us before anything signs them. Pure.

:func:`verify_swap_instructions` accepts a list of instructions only when it is one Jupiter
ExactIn route for exactly the expected amount, mints, wallet accounts, slippage and fee,
plus the plumbing that such a route needs (compute budget, the wallet's own token accounts
created, SOL wrapped and unwrapped, memos) and nothing that could move the wallet's funds or
rights elsewhere. Each refusal raises :class:`SwapRefused` with a stable :class:`Check`.
:func:`verify_message` checks the compiled message: the wallet pays and signs alone.

Checks run from the broadest to the most specific (programs, signers, the swap, its
arguments, its accounts, then every other instruction), so that a tampered list is refused
for what was tampered with rather than for a side effect of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from solders.instruction import Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from onchain.jupiter_program import (
    JUPITER_V6_PROGRAM_ID,
    ROUTE_INSTRUCTIONS,
    DecodedSwap,
    UndecodableSwap,
    decode_swap,
    instruction_name,
)
from onchain.spl_decode import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    COMPUTE_BUDGET_PROGRAM_ID,
    MEMO_PROGRAM_IDS,
    NATIVE_MINT,
    SYSTEM_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    TOKEN_PROGRAM_IDS,
    MalformedInstruction,
    decode_associated_token,
    decode_compute_budget,
    decode_system,
    decode_token,
)

__all__ = [
    "DEFAULT_ALLOWED_PROGRAMS",
    "DEFAULT_MAX_COMPUTE_UNIT_PRICE_MICRO_LAMPORTS",
    "Check",
    "SwapExpectation",
    "SwapRefused",
    "VerifiedSwap",
    "verify_message",
    "verify_swap_instructions",
]

DEFAULT_ALLOWED_PROGRAMS = frozenset(
    {
        COMPUTE_BUDGET_PROGRAM_ID, SYSTEM_PROGRAM_ID, *TOKEN_PROGRAM_IDS,
        ASSOCIATED_TOKEN_PROGRAM_ID, *MEMO_PROGRAM_IDS, JUPITER_V6_PROGRAM_ID,
    }
)  # fmt: skip
# 1 lamport per compute unit: at the 1.4M-unit ceiling a priority fee of at most 0.0014 SOL,
# about 40x what Jupiter's own example asks (25,715) and far below a fee that would hurt.
DEFAULT_MAX_COMPUTE_UNIT_PRICE_MICRO_LAMPORTS = 1_000_000
_BPS = 10_000


class Check(StrEnum):
    """Why a swap was refused: a stable code for metrics labels and records."""

    UNDECODABLE = "undecodable"
    NOT_ONE_SWAP = "not_one_swap"
    EXACT_OUT = "exact_out"
    FOREIGN_SIGNER = "foreign_signer"
    FOREIGN_FEE_PAYER = "foreign_fee_payer"
    PROGRAM_NOT_ALLOWED = "program_not_allowed"
    IN_AMOUNT = "in_amount"
    QUOTED_OUT = "quoted_out"
    SLIPPAGE = "slippage"
    PLATFORM_FEE = "platform_fee"
    MINT_MISMATCH = "mint_mismatch"
    SOURCE_ACCOUNT = "source_account"
    DESTINATION_ACCOUNT = "destination_account"
    FOREIGN_APPROVE = "foreign_approve"
    FOREIGN_AUTHORITY = "foreign_authority"
    FOREIGN_CLOSE = "foreign_close"
    FOREIGN_TRANSFER = "foreign_transfer"
    UNEXPECTED_INSTRUCTION = "unexpected_instruction"
    COMPUTE_PRICE = "compute_price"


class SwapRefused(Exception):
    """The instructions (or the message) must not be signed; ``check`` says why."""

    def __init__(self, check: Check, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail


@dataclass(frozen=True)
class SwapExpectation:
    """What the wallet asked for: sell ``in_amount`` of ``input_mint`` for at least
    ``min_out`` of ``output_mint``. Amounts in base units."""

    wallet: Pubkey
    input_mint: Pubkey
    output_mint: Pubkey
    in_amount: int
    min_out: int
    max_slippage_bps: int
    platform_fee_bps: int = 0
    max_compute_unit_price_micro_lamports: int = DEFAULT_MAX_COMPUTE_UNIT_PRICE_MICRO_LAMPORTS
    allowed_programs: frozenset[Pubkey] = field(default=DEFAULT_ALLOWED_PROGRAMS)

    def __post_init__(self) -> None:
        if self.in_amount <= 0 or self.min_out < 0:
            raise ValueError("in_amount must be positive and min_out not negative")
        if not 0 <= self.max_slippage_bps <= _BPS or not 0 <= self.platform_fee_bps <= _BPS:
            raise ValueError("basis points must be within 0..10000")
        if self.max_compute_unit_price_micro_lamports < 0:
            raise ValueError("max_compute_unit_price_micro_lamports must not be negative")


@dataclass(frozen=True)
class VerifiedSwap:
    """What was checked, for the caller to record: the swap, its budget and its accounts."""

    swap: DecodedSwap
    compute_unit_limit: int | None
    compute_unit_price_micro_lamports: int | None
    source_account: Pubkey
    destination_account: Pubkey


@dataclass(frozen=True)
class _Wallet:
    """The wallet's own accounts for the two mints, under either token program."""

    key: Pubkey
    input_mint: Pubkey
    output_mint: Pubkey
    input_accounts: frozenset[Pubkey]
    output_accounts: frozenset[Pubkey]
    wsol_account: Pubkey

    @classmethod
    def of(cls, expect: SwapExpectation) -> _Wallet:
        def atas(mint: Pubkey) -> frozenset[Pubkey]:
            return frozenset(
                get_associated_token_address(expect.wallet, mint, program)
                for program in TOKEN_PROGRAM_IDS
            )

        return cls(
            key=expect.wallet,
            input_mint=expect.input_mint,
            output_mint=expect.output_mint,
            input_accounts=atas(expect.input_mint),
            output_accounts=atas(expect.output_mint),
            wsol_account=get_associated_token_address(expect.wallet, NATIVE_MINT, TOKEN_PROGRAM_ID),
        )

    @property
    def own_accounts(self) -> frozenset[Pubkey]:
        return self.input_accounts | self.output_accounts


def verify_swap_instructions(
    instructions: Sequence[Instruction], expect: SwapExpectation
) -> VerifiedSwap:
    """Return what was verified, or raise :class:`SwapRefused` at the first violation."""
    wallet = _Wallet.of(expect)
    for i, ix in enumerate(instructions):
        if ix.program_id not in expect.allowed_programs:
            raise SwapRefused(Check.PROGRAM_NOT_ALLOWED, f"instruction {i}: {ix.program_id}")
    for i, ix in enumerate(instructions):
        for meta in ix.accounts:
            if meta.is_signer and meta.pubkey != wallet.key:
                raise SwapRefused(Check.FOREIGN_SIGNER, f"instruction {i} wants {meta.pubkey}")
    swap = _the_swap(instructions)
    _check_arguments(swap, expect)
    source, destination = _check_swap_accounts(swap, wallet)
    limit, price = _check_other_instructions(instructions, expect, wallet)
    return VerifiedSwap(swap, limit, price, source, destination)


def verify_message(message: MessageV0, wallet: Pubkey) -> None:
    """The compiled message is paid for and signed by ``wallet`` alone."""
    keys = message.account_keys
    if not keys or keys[0] != wallet:
        payer = keys[0] if keys else None
        raise SwapRefused(Check.FOREIGN_FEE_PAYER, f"fee payer is {payer}, not {wallet}")
    signers = message.header.num_required_signatures
    if signers != 1:
        raise SwapRefused(Check.FOREIGN_SIGNER, f"{signers} required signatures, expected 1")


def _the_swap(instructions: Sequence[Instruction]) -> DecodedSwap:
    swaps = []
    for i, ix in enumerate(instructions):
        if ix.program_id != JUPITER_V6_PROGRAM_ID:
            continue
        name = instruction_name(bytes(ix.data))
        if name is None:
            raise SwapRefused(Check.UNDECODABLE, f"instruction {i}: unknown Jupiter instruction")
        if name == "set_token_ledger":
            continue  # records a balance in Jupiter's ledger account; moves nothing
        if name not in ROUTE_INSTRUCTIONS:
            raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"instruction {i}: Jupiter {name}")
        try:
            swaps.append(decode_swap(ix))
        except UndecodableSwap as exc:
            raise SwapRefused(Check.UNDECODABLE, f"instruction {i}: {exc.detail}") from None
    if len(swaps) != 1:
        raise SwapRefused(Check.NOT_ONE_SWAP, f"{len(swaps)} Jupiter route instructions")
    swap = swaps[0]
    if swap.exact_out:
        raise SwapRefused(Check.EXACT_OUT, f"{swap.name}: only ExactIn routes are asked for")
    return swap


def _check_arguments(swap: DecodedSwap, expect: SwapExpectation) -> None:
    if swap.in_amount is None:
        raise SwapRefused(
            Check.IN_AMOUNT, f"{swap.name} takes its amount from a token ledger, unverifiable"
        )
    if swap.in_amount != expect.in_amount:
        raise SwapRefused(Check.IN_AMOUNT, f"in_amount {swap.in_amount} != {expect.in_amount}")
    if swap.slippage_bps > expect.max_slippage_bps:
        raise SwapRefused(
            Check.SLIPPAGE, f"slippage_bps {swap.slippage_bps} > {expect.max_slippage_bps}"
        )
    quoted = swap.quoted_out_amount or 0
    guaranteed = quoted * (_BPS - swap.slippage_bps) // _BPS
    if guaranteed < expect.min_out:
        raise SwapRefused(
            Check.QUOTED_OUT,
            f"quoted_out_amount {quoted} at {swap.slippage_bps} bps guarantees {guaranteed} "
            f"< min_out {expect.min_out}",
        )
    if swap.platform_fee_bps != expect.platform_fee_bps:
        raise SwapRefused(
            Check.PLATFORM_FEE,
            f"platform_fee_bps {swap.platform_fee_bps} != {expect.platform_fee_bps}",
        )


def _check_swap_accounts(swap: DecodedSwap, wallet: _Wallet) -> tuple[Pubkey, Pubkey]:
    accounts = swap.accounts
    authority = accounts.get("user_transfer_authority")
    if authority != wallet.key:
        raise SwapRefused(Check.FOREIGN_SIGNER, f"swap authority is {authority}, not the wallet")
    for role, mint in (
        ("source_mint", wallet.input_mint),
        ("destination_mint", wallet.output_mint),
    ):
        if role in accounts and accounts[role] != mint:
            raise SwapRefused(Check.MINT_MISMATCH, f"{role} is {accounts[role]}, expected {mint}")
    source = accounts.get("user_source_token_account", accounts.get("source_token_account"))
    if source not in wallet.input_accounts:
        raise SwapRefused(Check.SOURCE_ACCOUNT, f"{source} is not the wallet's input account")
    # route/route_v2 name the user's account and an optional other destination; the shared
    # variants name only destination_token_account. Whichever are present must be the wallet's.
    roles = ("user_destination_token_account", "destination_token_account")
    destinations = [accounts[role] for role in roles if role in accounts]
    for destination in destinations:
        if destination not in wallet.output_accounts:
            raise SwapRefused(
                Check.DESTINATION_ACCOUNT, f"{destination} is not the wallet's output account"
            )
    if not destinations:
        raise SwapRefused(Check.DESTINATION_ACCOUNT, f"{swap.name} names no destination")
    assert source is not None  # in wallet.input_accounts
    return source, destinations[0]


def _check_other_instructions(
    instructions: Sequence[Instruction], expect: SwapExpectation, wallet: _Wallet
) -> tuple[int | None, int | None]:
    budget: dict[str, int] = {}
    for i, ix in enumerate(instructions):
        program = ix.program_id
        try:
            if program == COMPUTE_BUDGET_PROGRAM_ID:
                _check_compute_budget(ix, expect, budget)
            elif program == SYSTEM_PROGRAM_ID:
                _check_system(ix, wallet)
            elif program in TOKEN_PROGRAM_IDS:
                _check_token(ix, wallet)
            elif program == ASSOCIATED_TOKEN_PROGRAM_ID:
                _check_associated_token(ix, wallet)
            # Jupiter was checked above; memos move nothing; any other program is one the
            # caller added to allowed_programs, which is the caller's decision to trust.
        except MalformedInstruction as exc:
            raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"instruction {i}: {exc}") from None
        except SwapRefused as exc:
            raise SwapRefused(exc.check, f"instruction {i}: {exc.detail}") from None
    return budget.get("set_compute_unit_limit"), budget.get("set_compute_unit_price")


def _check_compute_budget(ix: Instruction, expect: SwapExpectation, budget: dict[str, int]) -> None:
    decoded = decode_compute_budget(ix)
    allowed = (
        "set_compute_unit_limit", "set_compute_unit_price", "request_heap_frame",
        "set_loaded_accounts_data_size_limit",
    )  # fmt: skip
    if decoded.name not in allowed:
        raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"compute budget {decoded.name}")
    if decoded.name in budget:
        raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"a second {decoded.name}")
    assert decoded.amount is not None  # every allowed compute budget instruction sets a value
    budget[decoded.name] = decoded.amount
    cap = expect.max_compute_unit_price_micro_lamports
    if decoded.name == "set_compute_unit_price" and decoded.amount > cap:
        raise SwapRefused(
            Check.COMPUTE_PRICE, f"{decoded.amount} micro-lamports per unit > cap {cap}"
        )


def _check_system(ix: Instruction, wallet: _Wallet) -> None:
    decoded = decode_system(ix)
    if decoded.name == "transfer":
        source, destination = decoded.accounts["source"], decoded.accounts["destination"]
        if source == wallet.key and destination == wallet.wsol_account:
            return  # wrapping SOL: the lamports stay in the wallet's own account
        if source == wallet.key:
            raise SwapRefused(
                Check.FOREIGN_TRANSFER, f"system transfer of {decoded.amount} to {destination}"
            )
    if any(meta.is_signer and meta.pubkey == wallet.key for meta in ix.accounts):
        raise SwapRefused(Check.FOREIGN_TRANSFER, f"system {decoded.name} signed by the wallet")
    raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"system {decoded.name}")


def _check_token(ix: Instruction, wallet: _Wallet) -> None:
    decoded = decode_token(ix)
    name, accounts = decoded.name, decoded.accounts
    if name in ("transfer", "transfer_checked"):
        # A swap moves tokens through Jupiter's program, never by a transfer the wallet
        # signs itself: any such transfer, even between its own accounts, is refused.
        raise SwapRefused(
            Check.FOREIGN_TRANSFER,
            f"token {name} of {decoded.amount} to {accounts['destination']}",
        )
    if name in ("approve", "approve_checked"):
        if accounts["delegate"] != wallet.key:
            raise SwapRefused(Check.FOREIGN_APPROVE, f"token {name} to {accounts['delegate']}")
    elif name == "set_authority":
        if decoded.authority != wallet.key:
            raise SwapRefused(
                Check.FOREIGN_AUTHORITY,
                f"set_authority of {accounts['account']} to {decoded.authority}",
            )
    elif name == "close_account":
        if accounts["destination"] != wallet.key or accounts["account"] not in wallet.own_accounts:
            raise SwapRefused(
                Check.FOREIGN_CLOSE,
                f"close_account of {accounts['account']} to {accounts['destination']}",
            )
    elif name == "sync_native":
        if accounts["account"] != wallet.wsol_account:
            raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"sync_native of {accounts['account']}")
    elif name == "initialize_account3":
        own = accounts["account"] == wallet.wsol_account and accounts["mint"] == NATIVE_MINT
        if not own or decoded.authority != wallet.key:
            raise SwapRefused(
                Check.UNEXPECTED_INSTRUCTION, f"initialize_account3 of {accounts['account']}"
            )
    else:
        raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"token {name}")


def _check_associated_token(ix: Instruction, wallet: _Wallet) -> None:
    decoded = decode_associated_token(ix)
    if decoded.name not in ("create", "create_idempotent"):
        raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"associated token {decoded.name}")
    accounts = decoded.accounts
    if accounts["payer"] != wallet.key:
        raise SwapRefused(Check.FOREIGN_SIGNER, f"account creation paid by {accounts['payer']}")
    if accounts["owner"] != wallet.key:
        # the wallet would pay the rent of someone else's account
        raise SwapRefused(Check.FOREIGN_TRANSFER, f"creates an account for {accounts['owner']}")
    mint, program = accounts["mint"], accounts["token_program"]
    if mint not in (wallet.input_mint, wallet.output_mint) or program not in TOKEN_PROGRAM_IDS:
        raise SwapRefused(Check.UNEXPECTED_INSTRUCTION, f"creates an account for mint {mint}")
    if accounts["account"] != get_associated_token_address(wallet.key, mint, program):
        raise SwapRefused(
            Check.UNEXPECTED_INSTRUCTION, f"{accounts['account']} is not the associated address"
        )
