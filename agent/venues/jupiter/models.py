"""Parsed Jupiter responses: /swap/v1/quote, /swap/v1/swap-instructions, /swap/v2/build.

The parsers are pure and strict: a missing required field or a wrong type raises
:class:`BadPayload`. Amounts are JSON strings holding integers (per the spec) and become
``int``; ``priceImpactPct`` becomes a ``Decimal``. Fields the schema marks optional, or has
removed (``feeAmount``/``feeMint``, ``percent``, ``platformFee: null``), are ``None`` when
absent. Undocumented fields are kept in ``extra``; ``raw`` keeps the whole body so a quote
can be posted back to /swap-instructions unchanged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from solders.instruction import AccountMeta as SoldersAccountMeta
from solders.instruction import Instruction as SoldersInstruction
from solders.pubkey import Pubkey

from agent.net import (
    EMPTY,
    BadPayload,
    as_amount,
    as_bool,
    as_decimal,
    as_list,
    as_object,
    as_pubkey,
    as_str,
    as_uint,
    extra_fields,
    is_finite_float,
    load_object,
    optional,
    required,
)

__all__ = [
    "AccountMeta",
    "BuildResponse",
    "Instruction",
    "PlatformFee",
    "QuoteResponse",
    "RoutePlanStep",
    "SwapInfo",
    "SwapInstructions",
    "parse_build",
    "parse_quote",
    "parse_swap_instructions",
]


@dataclass(frozen=True, slots=True)
class SwapInfo:
    amm_key: str
    label: str
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    fee_amount: int | None = None  # removed from the schema 2025-11; live bodies still had it
    fee_mint: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class RoutePlanStep:
    swap_info: SwapInfo
    percent: int | None = None  # uint8, nullable since 2025-11
    bps: int | None = None  # uint16, V2 canonical (10000 = 100%)
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class PlatformFee:
    amount: int
    fee_bps: int


@dataclass(frozen=True, slots=True)
class QuoteResponse:
    input_mint: str
    in_amount: int
    output_mint: str
    out_amount: int  # expected output
    other_amount_threshold: int  # guaranteed minimum after slippage (ExactIn)
    swap_mode: str
    slippage_bps: int
    price_impact_pct: Decimal
    route_plan: tuple[RoutePlanStep, ...]
    platform_fee: PlatformFee | None = None
    context_slot: int | None = None
    time_taken: float | None = None
    instruction_version: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


_SWAP_INFO_KEYS = frozenset(
    {"ammKey", "label", "inputMint", "outputMint", "inAmount", "outAmount", "feeAmount", "feeMint"}
)
_STEP_KEYS = frozenset({"swapInfo", "percent", "bps"})
_QUOTE_KEYS = frozenset(
    {
        "inputMint", "inAmount", "outputMint", "outAmount", "otherAmountThreshold", "swapMode",
        "slippageBps", "priceImpactPct", "routePlan", "platformFee", "contextSlot", "timeTaken",
        "instructionVersion",
    }
)  # fmt: skip


def _swap_info(v: Any, w: str) -> SwapInfo:
    d = as_object(v, w)
    fee_amount, fee_mint = optional(d, "feeAmount"), optional(d, "feeMint")
    return SwapInfo(
        amm_key=as_str(required(d, "ammKey", w), f"{w}.ammKey"),
        label=as_str(required(d, "label", w), f"{w}.label"),
        input_mint=as_pubkey(required(d, "inputMint", w), f"{w}.inputMint"),
        output_mint=as_pubkey(required(d, "outputMint", w), f"{w}.outputMint"),
        in_amount=as_amount(required(d, "inAmount", w), f"{w}.inAmount"),
        out_amount=as_amount(required(d, "outAmount", w), f"{w}.outAmount"),
        fee_amount=None if fee_amount is None else as_amount(fee_amount, f"{w}.feeAmount"),
        fee_mint=None if fee_mint is None else as_pubkey(fee_mint, f"{w}.feeMint"),
        extra=extra_fields(d, _SWAP_INFO_KEYS),
    )


def _step(v: Any, w: str) -> RoutePlanStep:
    d = as_object(v, w)
    percent, bps = optional(d, "percent"), optional(d, "bps")
    return RoutePlanStep(
        swap_info=_swap_info(required(d, "swapInfo", w), f"{w}.swapInfo"),
        percent=None if percent is None else as_uint(percent, f"{w}.percent"),
        bps=None if bps is None else as_uint(bps, f"{w}.bps"),
        extra=extra_fields(d, _STEP_KEYS),
    )


def _quote_from(d: Mapping[str, Any], extra_known: frozenset[str] = frozenset()) -> QuoteResponse:
    w = "quote"
    swap_mode = as_str(required(d, "swapMode", w), "quote.swapMode")
    if swap_mode not in ("ExactIn", "ExactOut"):
        raise BadPayload(f"quote.swapMode must be ExactIn or ExactOut, got {swap_mode[:20]!r}")
    fee = optional(d, "platformFee")
    platform_fee = None
    if fee is not None:
        fd = as_object(fee, "quote.platformFee")
        platform_fee = PlatformFee(
            amount=as_amount(
                required(fd, "amount", "quote.platformFee"), "quote.platformFee.amount"
            ),
            fee_bps=as_uint(
                required(fd, "feeBps", "quote.platformFee"), "quote.platformFee.feeBps"
            ),
        )
    slot, taken, version = (
        optional(d, "contextSlot"),
        optional(d, "timeTaken"),
        optional(d, "instructionVersion"),
    )
    if taken is not None and (
        isinstance(taken, bool) or not isinstance(taken, int | float) or not is_finite_float(taken)
    ):
        raise BadPayload("quote.timeTaken must be a finite number")
    steps = as_list(required(d, "routePlan", w), "quote.routePlan")
    return QuoteResponse(
        input_mint=as_pubkey(required(d, "inputMint", w), "quote.inputMint"),
        in_amount=as_amount(required(d, "inAmount", w), "quote.inAmount"),
        output_mint=as_pubkey(required(d, "outputMint", w), "quote.outputMint"),
        out_amount=as_amount(required(d, "outAmount", w), "quote.outAmount"),
        other_amount_threshold=as_amount(
            required(d, "otherAmountThreshold", w), "quote.otherAmountThreshold"
        ),
        swap_mode=swap_mode,
        slippage_bps=as_uint(required(d, "slippageBps", w), "quote.slippageBps"),
        price_impact_pct=as_decimal(required(d, "priceImpactPct", w), "quote.priceImpactPct"),
        route_plan=tuple(_step(s, f"quote.routePlan[{i}]") for i, s in enumerate(steps)),
        platform_fee=platform_fee,
        context_slot=None if slot is None else as_uint(slot, "quote.contextSlot"),
        time_taken=None if taken is None else float(taken),
        instruction_version=None
        if version is None
        else as_str(version, "quote.instructionVersion"),
        extra=extra_fields(d, _QUOTE_KEYS | extra_known),
        raw=dict(d),
    )


def parse_quote(body: bytes | str) -> QuoteResponse:
    """Parse a /swap/v1/quote 200 body."""
    return _quote_from(load_object(body))


# --- instructions ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccountMeta:
    pubkey: str
    is_signer: bool
    is_writable: bool


@dataclass(frozen=True, slots=True)
class Instruction:
    program_id: str
    accounts: tuple[AccountMeta, ...]
    data: bytes  # decoded from base64

    def to_solders(self) -> SoldersInstruction:
        """The same instruction as a solders ``Instruction``."""
        metas = [
            SoldersAccountMeta(Pubkey.from_string(a.pubkey), a.is_signer, a.is_writable)
            for a in self.accounts
        ]
        return SoldersInstruction(Pubkey.from_string(self.program_id), self.data, metas)


def _instruction(v: Any, w: str) -> Instruction:
    d = as_object(v, w)
    accounts = []
    for i, a in enumerate(as_list(required(d, "accounts", w), f"{w}.accounts")):
        aw = f"{w}.accounts[{i}]"
        ad = as_object(a, aw)
        accounts.append(
            AccountMeta(
                pubkey=as_pubkey(required(ad, "pubkey", aw), f"{aw}.pubkey"),
                is_signer=as_bool(required(ad, "isSigner", aw), f"{aw}.isSigner"),
                is_writable=as_bool(required(ad, "isWritable", aw), f"{aw}.isWritable"),
            )
        )
    try:
        data = base64.b64decode(as_str(required(d, "data", w), f"{w}.data"), validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise BadPayload(f"{w}.data is not base64") from None
    return Instruction(
        as_pubkey(required(d, "programId", w), f"{w}.programId"), tuple(accounts), data
    )


def _instructions(d: Mapping[str, Any], key: str) -> tuple[Instruction, ...]:
    items = as_list(required(d, key, "body"), key)
    return tuple(_instruction(x, f"{key}[{i}]") for i, x in enumerate(items))


def _opt_instruction(d: Mapping[str, Any], key: str) -> Instruction | None:
    v = optional(d, key)
    return None if v is None else _instruction(v, key)


def _opt_obj(d: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    v = optional(d, key)
    return None if v is None else MappingProxyType(dict(as_object(v, key)))


@dataclass(frozen=True, slots=True)
class SwapInstructions:
    compute_budget_instructions: tuple[Instruction, ...]
    setup_instructions: tuple[Instruction, ...]
    swap_instruction: Instruction
    cleanup_instruction: Instruction | None
    other_instructions: tuple[Instruction, ...]
    address_lookup_table_addresses: tuple[str, ...]
    token_ledger_instruction: Instruction | None = None
    prioritization_fee_lamports: int | None = None
    compute_unit_limit: int | None = None
    prioritization_type: Mapping[str, Any] | None = None
    dynamic_slippage_report: Mapping[str, Any] | None = None
    simulation_error: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    def ordered(self) -> tuple[Instruction, ...]:
        """All instructions in transaction order (compute budget, ledger, setup, swap,
        cleanup, other), as in Jupiter's own assembly example."""
        return (
            *self.compute_budget_instructions,
            *((self.token_ledger_instruction,) if self.token_ledger_instruction else ()),
            *self.setup_instructions,
            self.swap_instruction,
            *((self.cleanup_instruction,) if self.cleanup_instruction else ()),
            *self.other_instructions,
        )

    def to_solders(self) -> list[SoldersInstruction]:
        """:meth:`ordered` as solders instructions, ready for ``MessageV0.try_compile``."""
        return [ix.to_solders() for ix in self.ordered()]


_SI_KEYS = frozenset(
    {
        "computeBudgetInstructions", "setupInstructions", "swapInstruction", "cleanupInstruction",
        "otherInstructions", "tokenLedgerInstruction", "addressLookupTableAddresses",
        "prioritizationFeeLamports", "computeUnitLimit", "prioritizationType",
        "dynamicSlippageReport", "simulationError",
    }
)  # fmt: skip


def _opt_uint(d: Mapping[str, Any], key: str) -> int | None:
    v = optional(d, key)
    return None if v is None else as_uint(v, key)


def _swap_instructions_from(
    d: Mapping[str, Any], alts: tuple[str, ...], known: frozenset[str]
) -> SwapInstructions:
    return SwapInstructions(
        compute_budget_instructions=_instructions(d, "computeBudgetInstructions"),
        setup_instructions=_instructions(d, "setupInstructions"),
        swap_instruction=_instruction(required(d, "swapInstruction", "body"), "swapInstruction"),
        cleanup_instruction=_opt_instruction(d, "cleanupInstruction"),
        other_instructions=_instructions(d, "otherInstructions"),
        address_lookup_table_addresses=alts,
        token_ledger_instruction=_opt_instruction(d, "tokenLedgerInstruction"),
        prioritization_fee_lamports=_opt_uint(d, "prioritizationFeeLamports"),
        compute_unit_limit=_opt_uint(d, "computeUnitLimit"),
        prioritization_type=_opt_obj(d, "prioritizationType"),
        dynamic_slippage_report=_opt_obj(d, "dynamicSlippageReport"),
        simulation_error=_opt_obj(d, "simulationError"),
        extra=extra_fields(d, known),
    )


def parse_swap_instructions(body: bytes | str) -> SwapInstructions:
    """Parse a /swap/v1/swap-instructions 200 body."""
    d = load_object(body)
    raw_alts = as_list(
        required(d, "addressLookupTableAddresses", "body"), "addressLookupTableAddresses"
    )
    alts = tuple(as_pubkey(a, f"addressLookupTableAddresses[{i}]") for i, a in enumerate(raw_alts))
    return _swap_instructions_from(d, alts, _SI_KEYS)


# --- /swap/v2/build -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BuildResponse:
    """/swap/v2/build: the quote and the instructions of one ExactIn swap, plus the lookup
    tables' contents (no ALT fetch needed) and a blockhash."""

    quote: QuoteResponse
    instructions: SwapInstructions  # address_lookup_table_addresses = the tables' keys
    addresses_by_lookup_table_address: Mapping[str, tuple[str, ...]]
    blockhash: bytes  # 32 bytes; solders ``Hash(blockhash)``
    last_valid_block_height: int
    tip_instruction: Instruction | None = None


_BUILD_KEYS = _SI_KEYS | frozenset(
    {"tipInstruction", "addressesByLookupTableAddress", "blockhashWithMetadata"}
)


def parse_build(body: bytes | str) -> BuildResponse:
    """Parse a /swap/v2/build 200 body (quote fields + instruction fields in one object)."""
    d = load_object(body)
    table = as_object(
        required(d, "addressesByLookupTableAddress", "body"), "addressesByLookupTableAddress"
    )
    tables: dict[str, tuple[str, ...]] = {}
    for key, addresses in table.items():
        w = f"addressesByLookupTableAddress[{key[:50]!r}]"
        as_pubkey(key, w)
        tables[key] = tuple(as_pubkey(a, f"{w}[{i}]") for i, a in enumerate(as_list(addresses, w)))
    meta = as_object(required(d, "blockhashWithMetadata", "body"), "blockhashWithMetadata")
    raw_hash = as_list(
        required(meta, "blockhash", "blockhashWithMetadata"), "blockhashWithMetadata.blockhash"
    )
    if len(raw_hash) != 32 or any(
        isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < 256 for b in raw_hash
    ):
        raise BadPayload("blockhashWithMetadata.blockhash must be 32 byte values")
    height = as_uint(
        required(meta, "lastValidBlockHeight", "blockhashWithMetadata"), "lastValidBlockHeight"
    )
    return BuildResponse(
        quote=_quote_from(d, _BUILD_KEYS),
        instructions=_swap_instructions_from(d, tuple(tables), _BUILD_KEYS | _QUOTE_KEYS),
        addresses_by_lookup_table_address=MappingProxyType(tables),
        blockhash=bytes(raw_hash),
        last_valid_block_height=height,
        tip_instruction=_opt_instruction(d, "tipInstruction"),
    )
