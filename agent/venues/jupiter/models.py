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
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from solders.instruction import AccountMeta as SoldersAccountMeta
from solders.instruction import Instruction as SoldersInstruction
from solders.pubkey import Pubkey

from agent.venues.jupiter.errors import BadPayload

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

_EMPTY: Mapping[str, Any] = MappingProxyType({})


# --- strict field readers -------------------------------------------------------------------
def _req(d: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise BadPayload(f"{where}.{key} is missing")
    return d[key]


def _obj(v: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise BadPayload(f"{where} must be an object, got {type(v).__name__}")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise BadPayload(f"{where} must be an array, got {type(v).__name__}")
    return v


def _str(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise BadPayload(f"{where} must be a string, got {type(v).__name__}")
    return v


_U64_MAX = 2**64 - 1
_U64_DIGITS = len(str(_U64_MAX))


def _amount(v: Any, where: str) -> int:
    """A uint64 carried as a decimal string."""
    s = _str(v, where)
    if not s.isascii() or not s.isdigit():
        raise BadPayload(f"{where} must be a decimal integer string, got {s[:40]!r}")
    # Checked on the text first: int() refuses strings of thousands of digits with ValueError.
    if len(s) > _U64_DIGITS or int(s) > _U64_MAX:
        raise BadPayload(f"{where} is beyond u64: {s[:40]}")
    return int(s)


def _uint(v: Any, where: str) -> int:
    """A JSON integer (not a bool, not a float, not a string)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise BadPayload(f"{where} must be a non-negative integer, got {v!r:.40}")
    return v


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise BadPayload(f"{where} must be a boolean, got {type(v).__name__}")
    return v


def _decimal(v: Any, where: str) -> Decimal:
    s = _str(v, where)
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise BadPayload(f"{where} must be a decimal string, got {s[:40]!r}") from None
    if not d.is_finite():
        raise BadPayload(f"{where} must be finite")
    return d


def _pubkey(v: Any, where: str) -> str:
    s = _str(v, where)
    try:
        Pubkey.from_string(s)
    except ValueError:
        raise BadPayload(f"{where} is not a base58 public key: {s[:60]!r}") from None
    return s


def _opt(d: Mapping[str, Any], key: str) -> Any:
    """The value of an optional key; absent and null are the same."""
    return d.get(key)


def _extra(d: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    rest = {k: v for k, v in d.items() if k not in known}
    return MappingProxyType(rest) if rest else _EMPTY


def _finite_float(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond float range
        return False


def _load(body: bytes | str) -> Mapping[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadPayload(f"not JSON: {type(exc).__name__}") from None
    return _obj(doc, "body")


# --- quote ----------------------------------------------------------------------------------
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
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class RoutePlanStep:
    swap_info: SwapInfo
    percent: int | None = None  # uint8, nullable since 2025-11
    bps: int | None = None  # uint16, V2 canonical (10000 = 100%)
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


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
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
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
    d = _obj(v, w)
    fee_amount, fee_mint = _opt(d, "feeAmount"), _opt(d, "feeMint")
    return SwapInfo(
        amm_key=_str(_req(d, "ammKey", w), f"{w}.ammKey"),
        label=_str(_req(d, "label", w), f"{w}.label"),
        input_mint=_pubkey(_req(d, "inputMint", w), f"{w}.inputMint"),
        output_mint=_pubkey(_req(d, "outputMint", w), f"{w}.outputMint"),
        in_amount=_amount(_req(d, "inAmount", w), f"{w}.inAmount"),
        out_amount=_amount(_req(d, "outAmount", w), f"{w}.outAmount"),
        fee_amount=None if fee_amount is None else _amount(fee_amount, f"{w}.feeAmount"),
        fee_mint=None if fee_mint is None else _pubkey(fee_mint, f"{w}.feeMint"),
        extra=_extra(d, _SWAP_INFO_KEYS),
    )


def _step(v: Any, w: str) -> RoutePlanStep:
    d = _obj(v, w)
    percent, bps = _opt(d, "percent"), _opt(d, "bps")
    return RoutePlanStep(
        swap_info=_swap_info(_req(d, "swapInfo", w), f"{w}.swapInfo"),
        percent=None if percent is None else _uint(percent, f"{w}.percent"),
        bps=None if bps is None else _uint(bps, f"{w}.bps"),
        extra=_extra(d, _STEP_KEYS),
    )


def _quote_from(d: Mapping[str, Any], extra_known: frozenset[str] = frozenset()) -> QuoteResponse:
    w = "quote"
    swap_mode = _str(_req(d, "swapMode", w), "quote.swapMode")
    if swap_mode not in ("ExactIn", "ExactOut"):
        raise BadPayload(f"quote.swapMode must be ExactIn or ExactOut, got {swap_mode[:20]!r}")
    fee = _opt(d, "platformFee")
    platform_fee = None
    if fee is not None:
        fd = _obj(fee, "quote.platformFee")
        platform_fee = PlatformFee(
            amount=_amount(_req(fd, "amount", "quote.platformFee"), "quote.platformFee.amount"),
            fee_bps=_uint(_req(fd, "feeBps", "quote.platformFee"), "quote.platformFee.feeBps"),
        )
    slot, taken, version = (
        _opt(d, "contextSlot"),
        _opt(d, "timeTaken"),
        _opt(d, "instructionVersion"),
    )
    if taken is not None and (
        isinstance(taken, bool) or not isinstance(taken, int | float) or not _finite_float(taken)
    ):
        raise BadPayload("quote.timeTaken must be a finite number")
    steps = _list(_req(d, "routePlan", w), "quote.routePlan")
    return QuoteResponse(
        input_mint=_pubkey(_req(d, "inputMint", w), "quote.inputMint"),
        in_amount=_amount(_req(d, "inAmount", w), "quote.inAmount"),
        output_mint=_pubkey(_req(d, "outputMint", w), "quote.outputMint"),
        out_amount=_amount(_req(d, "outAmount", w), "quote.outAmount"),
        other_amount_threshold=_amount(
            _req(d, "otherAmountThreshold", w), "quote.otherAmountThreshold"
        ),
        swap_mode=swap_mode,
        slippage_bps=_uint(_req(d, "slippageBps", w), "quote.slippageBps"),
        price_impact_pct=_decimal(_req(d, "priceImpactPct", w), "quote.priceImpactPct"),
        route_plan=tuple(_step(s, f"quote.routePlan[{i}]") for i, s in enumerate(steps)),
        platform_fee=platform_fee,
        context_slot=None if slot is None else _uint(slot, "quote.contextSlot"),
        time_taken=None if taken is None else float(taken),
        instruction_version=None if version is None else _str(version, "quote.instructionVersion"),
        extra=_extra(d, _QUOTE_KEYS | extra_known),
        raw=dict(d),
    )


def parse_quote(body: bytes | str) -> QuoteResponse:
    """Parse a /swap/v1/quote 200 body."""
    return _quote_from(_load(body))


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
    d = _obj(v, w)
    accounts = []
    for i, a in enumerate(_list(_req(d, "accounts", w), f"{w}.accounts")):
        aw = f"{w}.accounts[{i}]"
        ad = _obj(a, aw)
        accounts.append(
            AccountMeta(
                pubkey=_pubkey(_req(ad, "pubkey", aw), f"{aw}.pubkey"),
                is_signer=_bool(_req(ad, "isSigner", aw), f"{aw}.isSigner"),
                is_writable=_bool(_req(ad, "isWritable", aw), f"{aw}.isWritable"),
            )
        )
    try:
        data = base64.b64decode(_str(_req(d, "data", w), f"{w}.data"), validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise BadPayload(f"{w}.data is not base64") from None
    return Instruction(_pubkey(_req(d, "programId", w), f"{w}.programId"), tuple(accounts), data)


def _instructions(d: Mapping[str, Any], key: str) -> tuple[Instruction, ...]:
    items = _list(_req(d, key, "body"), key)
    return tuple(_instruction(x, f"{key}[{i}]") for i, x in enumerate(items))


def _opt_instruction(d: Mapping[str, Any], key: str) -> Instruction | None:
    v = _opt(d, key)
    return None if v is None else _instruction(v, key)


def _opt_obj(d: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    v = _opt(d, key)
    return None if v is None else MappingProxyType(dict(_obj(v, key)))


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
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

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
    v = _opt(d, key)
    return None if v is None else _uint(v, key)


def _swap_instructions_from(
    d: Mapping[str, Any], alts: tuple[str, ...], known: frozenset[str]
) -> SwapInstructions:
    return SwapInstructions(
        compute_budget_instructions=_instructions(d, "computeBudgetInstructions"),
        setup_instructions=_instructions(d, "setupInstructions"),
        swap_instruction=_instruction(_req(d, "swapInstruction", "body"), "swapInstruction"),
        cleanup_instruction=_opt_instruction(d, "cleanupInstruction"),
        other_instructions=_instructions(d, "otherInstructions"),
        address_lookup_table_addresses=alts,
        token_ledger_instruction=_opt_instruction(d, "tokenLedgerInstruction"),
        prioritization_fee_lamports=_opt_uint(d, "prioritizationFeeLamports"),
        compute_unit_limit=_opt_uint(d, "computeUnitLimit"),
        prioritization_type=_opt_obj(d, "prioritizationType"),
        dynamic_slippage_report=_opt_obj(d, "dynamicSlippageReport"),
        simulation_error=_opt_obj(d, "simulationError"),
        extra=_extra(d, known),
    )


def parse_swap_instructions(body: bytes | str) -> SwapInstructions:
    """Parse a /swap/v1/swap-instructions 200 body."""
    d = _load(body)
    raw_alts = _list(_req(d, "addressLookupTableAddresses", "body"), "addressLookupTableAddresses")
    alts = tuple(_pubkey(a, f"addressLookupTableAddresses[{i}]") for i, a in enumerate(raw_alts))
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
    d = _load(body)
    table = _obj(_req(d, "addressesByLookupTableAddress", "body"), "addressesByLookupTableAddress")
    tables: dict[str, tuple[str, ...]] = {}
    for key, addresses in table.items():
        w = f"addressesByLookupTableAddress[{key[:50]!r}]"
        _pubkey(key, w)
        tables[key] = tuple(_pubkey(a, f"{w}[{i}]") for i, a in enumerate(_list(addresses, w)))
    meta = _obj(_req(d, "blockhashWithMetadata", "body"), "blockhashWithMetadata")
    raw_hash = _list(
        _req(meta, "blockhash", "blockhashWithMetadata"), "blockhashWithMetadata.blockhash"
    )
    if len(raw_hash) != 32 or any(
        isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < 256 for b in raw_hash
    ):
        raise BadPayload("blockhashWithMetadata.blockhash must be 32 byte values")
    height = _uint(
        _req(meta, "lastValidBlockHeight", "blockhashWithMetadata"), "lastValidBlockHeight"
    )
    return BuildResponse(
        quote=_quote_from(d, _BUILD_KEYS),
        instructions=_swap_instructions_from(d, tuple(tables), _BUILD_KEYS | _QUOTE_KEYS),
        addresses_by_lookup_table_address=MappingProxyType(tables),
        blockhash=bytes(raw_hash),
        last_valid_block_height=height,
        tip_instruction=_opt_instruction(d, "tipInstruction"),
    )
