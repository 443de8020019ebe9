"""Jupiter v6 route instructions, decoded and encoded with anchorpy from the shipped IDL.

``onchain/idl/jupiter_v6.json`` (see its README) is the legacy-format IDL with the V2 route
instructions added. :func:`decode_swap` turns one of the ten route instructions into a
:class:`DecodedSwap` and refuses everything else with :class:`UndecodableSwap`: a verifier
that cannot read an instruction must not let it through. :func:`encode_swap` is the inverse,
for fakes and tests.

Account names are the IDL's, in snake_case. Anchor passes an absent optional account as the
program id itself; such accounts are left out of :attr:`DecodedSwap.accounts`.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

from anchorpy import InstructionCoder
from anchorpy.program.namespace.types import _build_types
from anchorpy_core.idl import Idl, IdlAccount, IdlAccountItem
from construct import ConstructError
from pyheck import snake
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

__all__ = [
    "EVENT_AUTHORITY",
    "JUPITER_V6_PROGRAM_ID",
    "ROUTE_INSTRUCTIONS",
    "DecodedSwap",
    "UndecodableSwap",
    "account_names",
    "argument_names",
    "decode_swap",
    "encode_swap",
    "instruction_name",
    "program_authority",
    "with_slippage",
]

JUPITER_V6_PROGRAM_ID = Pubkey.from_string("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")
EVENT_AUTHORITY = Pubkey.find_program_address([b"__event_authority"], JUPITER_V6_PROGRAM_ID)[0]
ROUTE_INSTRUCTIONS = frozenset(
    {
        "route", "route_with_token_ledger", "shared_accounts_route",
        "shared_accounts_route_with_token_ledger", "exact_out_route",
        "shared_accounts_exact_out_route", "route_v2", "shared_accounts_route_v2",
        "exact_out_route_v2", "shared_accounts_exact_out_route_v2",
    }
)  # fmt: skip
_DISCRIMINATOR_LEN = 8


class UndecodableSwap(Exception):
    """The instruction is not a Jupiter v6 route instruction this IDL can read in full."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"undecodable Jupiter swap: {detail}")
        self.detail = detail


@dataclass(frozen=True)
class _IdlAccount:
    name: str
    is_mut: bool
    is_signer: bool
    optional: bool


@dataclass(frozen=True)
class _Program:
    """What the IDL yields, built once: the coders and each instruction's account list."""

    coder: InstructionCoder
    prefix_coder: InstructionCoder  # args before route_plan only, to describe refusals
    names: Mapping[bytes, str]
    accounts: Mapping[str, tuple[_IdlAccount, ...]]
    arg_names: Mapping[str, tuple[str, ...]]
    types: Mapping[str, Any]


def _flat_account(item: IdlAccountItem) -> _IdlAccount:
    # The shipped IDL lists every instruction's accounts flat, with no nested account groups.
    assert isinstance(item, IdlAccount), f"nested account group {item.name} in the Jupiter IDL"
    return _IdlAccount(snake(item.name), item.is_mut, item.is_signer, bool(item.is_optional))


@lru_cache(maxsize=1)
def _program() -> _Program:
    text = (resources.files("onchain") / "idl" / "jupiter_v6.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    idl = Idl.from_json(text)
    # A second, small IDL of the route instructions cut before route_plan: its coder still
    # reads the amounts of a V2 route whose plan holds a Swap variant this IDL lacks.
    routes = [ix for ix in doc["instructions"] if snake(ix["name"]) in ROUTE_INSTRUCTIONS]
    for ix in routes:
        names = [a["name"] for a in ix["args"]]
        ix["args"] = ix["args"][: names.index("routePlan")]
    prefix = {"version": doc["version"], "name": doc["name"], "instructions": routes}
    with warnings.catch_warnings():
        # borsh_construct builds its enums with sumtypes, which passes attrs a deprecated
        # argument; the warning is theirs to fix and would fail a warnings-as-errors run.
        warnings.filterwarnings("ignore", "The `repr_ns` argument", DeprecationWarning)
        coder = InstructionCoder(idl)
        prefix_coder = InstructionCoder(Idl.from_json(json.dumps(prefix)))
        types = _build_types(idl)
    return _Program(
        coder=coder,
        prefix_coder=prefix_coder,
        names=MappingProxyType(dict(coder.sighash_to_name)),
        accounts=MappingProxyType(
            {
                snake(ix.name): tuple(_flat_account(a) for a in ix.accounts)
                for ix in idl.instructions
            }
        ),
        arg_names=MappingProxyType(
            {snake(ix.name): tuple(snake(a.name) for a in ix.args) for ix in idl.instructions}
        ),
        types=MappingProxyType(types),
    )


def program_authority(authority_id: int) -> Pubkey:
    """Jupiter's shared program authority PDA ``["authority", [id]]`` (ids 0-7 are used)."""
    return Pubkey.find_program_address(
        [b"authority", bytes([authority_id])], JUPITER_V6_PROGRAM_ID
    )[0]


def account_names(name: str) -> tuple[str, ...]:
    """The IDL's accounts of instruction ``name``, in order (remaining accounts follow)."""
    return tuple(acc.name for acc in _program().accounts[name])


def argument_names(name: str) -> tuple[str, ...]:
    """The IDL's arguments of instruction ``name``, in encoding order."""
    return _program().arg_names[name]


def instruction_name(data: bytes) -> str | None:
    """The snake_case name of the Jupiter v6 instruction with this data, or None."""
    return _program().names.get(bytes(data[:_DISCRIMINATOR_LEN]))


@dataclass(frozen=True)
class DecodedSwap:
    """One route instruction, read in full. Amounts are base units.

    ExactIn routes carry ``in_amount`` and ``quoted_out_amount``; ExactOut routes carry
    ``out_amount`` and ``quoted_in_amount``. Token-ledger routes have no ``in_amount``: the
    program takes it from the ledger at run time.
    """

    name: str
    version: Literal["v1", "v2"]
    exact_out: bool
    in_amount: int | None
    quoted_out_amount: int | None
    out_amount: int | None
    quoted_in_amount: int | None
    slippage_bps: int
    platform_fee_bps: int
    positive_slippage_bps: int
    route_plan_steps: int
    accounts: Mapping[str, Pubkey]
    remaining_accounts: tuple[AccountMeta, ...] = ()
    args: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def token_ledger(self) -> bool:
        return self.name.endswith("_with_token_ledger")


def _describe_prefix(program: _Program, data: bytes) -> str:
    try:
        prefix = program.prefix_coder.parse(data).data
    except (ConstructError, LookupError):
        return ""
    shown = ", ".join(f"{k}={v}" for k, v in prefix.items() if not k.startswith("_"))
    return f" ({shown})" if shown else ""


def _parse_args(program: _Program, name: str, data: bytes) -> dict[str, Any]:
    layout = program.coder.sighash_layouts[data[:_DISCRIMINATOR_LEN]]
    stream = io.BytesIO(data[_DISCRIMINATOR_LEN:])
    try:
        parsed = layout.parse_stream(stream)
    except IndexError:
        # borsh_construct reads an unknown enum tag, then fails looking its variant up.
        raise UndecodableSwap(
            f"{name}{_describe_prefix(program, data)}: its route plan holds a Swap variant "
            "this IDL does not know"
        ) from None
    except ConstructError as exc:
        detail = str(exc).replace("\n", "; ")
        raise UndecodableSwap(f"{name}: arguments do not decode ({detail})") from None
    trailing = len(data) - _DISCRIMINATOR_LEN - stream.tell()
    if trailing:
        raise UndecodableSwap(f"{name}: {trailing} trailing bytes after the arguments")
    args = {k: v for k, v in parsed.items() if not k.startswith("_")}
    args["route_plan"] = tuple(args["route_plan"])
    return args


def decode_swap(ix: Instruction) -> DecodedSwap:
    """Decode a Jupiter v6 route instruction; anything else raises :class:`UndecodableSwap`."""
    if ix.program_id != JUPITER_V6_PROGRAM_ID:
        raise UndecodableSwap(f"program {ix.program_id} is not Jupiter v6")
    data = bytes(ix.data)
    if len(data) < _DISCRIMINATOR_LEN:
        raise UndecodableSwap(f"{len(data)} bytes of data, shorter than a discriminator")
    program = _program()
    name = program.names.get(data[:_DISCRIMINATOR_LEN])
    if name is None:
        raise UndecodableSwap(f"unknown discriminator {data[:_DISCRIMINATOR_LEN].hex()}")
    if name not in ROUTE_INSTRUCTIONS:
        raise UndecodableSwap(f"{name} is not a route instruction")
    args = _parse_args(program, name, data)
    idl_accounts = program.accounts[name]
    metas = list(ix.accounts)
    if len(metas) < len(idl_accounts):
        raise UndecodableSwap(f"{name} needs {len(idl_accounts)} accounts, got {len(metas)}")
    accounts = {
        acc.name: meta.pubkey
        for acc, meta in zip(idl_accounts, metas, strict=False)
        if not (acc.optional and meta.pubkey == JUPITER_V6_PROGRAM_ID)
    }
    return DecodedSwap(
        name=name,
        version="v2" if name.endswith("_v2") else "v1",
        exact_out="exact_out" in name,
        in_amount=args.get("in_amount"),
        quoted_out_amount=args.get("quoted_out_amount"),
        out_amount=args.get("out_amount"),
        quoted_in_amount=args.get("quoted_in_amount"),
        slippage_bps=args["slippage_bps"],
        platform_fee_bps=args["platform_fee_bps"],
        positive_slippage_bps=args.get("positive_slippage_bps", 0),
        route_plan_steps=len(args["route_plan"]),
        accounts=MappingProxyType(accounts),
        remaining_accounts=tuple(metas[len(idl_accounts) :]),
        args=MappingProxyType(args),
    )


def _swap_value(program: _Program, value: Any) -> Any:
    """A ``Swap`` enum value from a variant name, ``{name: {field: value}}``, or as is."""
    swap = program.types["Swap"]
    if isinstance(value, str):
        return getattr(swap, value)()
    if isinstance(value, Mapping):
        ((variant, fields),) = value.items()
        return getattr(swap, variant)(**fields)
    return value


def _route_plan(program: _Program, steps: Sequence[Any]) -> list[Any]:
    return [
        {**step, "swap": _swap_value(program, step["swap"])} if isinstance(step, Mapping) else step
        for step in steps
    ]


def encode_swap(
    name: str,
    args: Mapping[str, Any],
    accounts: Mapping[str, Pubkey | None],
    remaining: Sequence[AccountMeta] = (),
) -> Instruction:
    """Encode the Jupiter v6 instruction ``name`` (snake_case) with the IDL's coder.

    ``args`` use the IDL's snake_case names; a route-plan step may be a mapping whose
    ``swap`` is a variant name (``"MeteoraDlmm"``) or ``{"Whirlpool": {"a_to_b": True}}``.
    Optional accounts that are missing or None become the program id (Anchor's "none");
    ``event_authority`` and ``program`` default to Jupiter's own.
    """
    program = _program()
    if name not in program.accounts:
        raise ValueError(f"the Jupiter IDL has no instruction {name!r}")
    expected = program.arg_names[name]
    if set(args) != set(expected):
        raise ValueError(f"{name} takes arguments {expected}, got {tuple(args)}")
    values = dict(args)
    if "route_plan" in values:
        values["route_plan"] = _route_plan(program, values["route_plan"])
    defaults = {"event_authority": EVENT_AUTHORITY, "program": JUPITER_V6_PROGRAM_ID}
    unknown = set(accounts) - {a.name for a in program.accounts[name]}
    if unknown:
        raise ValueError(f"{name} has no accounts {sorted(unknown)}")
    metas = []
    for acc in program.accounts[name]:
        key = accounts.get(acc.name)
        if key is None:
            key = defaults.get(acc.name)
        if key is not None:
            metas.append(AccountMeta(key, acc.is_signer, acc.is_mut))
        elif acc.optional:
            metas.append(AccountMeta(JUPITER_V6_PROGRAM_ID, False, False))
        else:
            raise ValueError(f"{name} needs account {acc.name!r}")
    data = program.coder.encode(name, values)
    return Instruction(JUPITER_V6_PROGRAM_ID, data, [*metas, *remaining])


def with_slippage(ix: Instruction, slippage_bps: int) -> Instruction:
    """The same route instruction with a tighter ``slippage_bps``; accounts untouched.

    The tolerance is the signer's choice, not the API's: lowering it only raises the minimum
    the program will accept. Anything but a tightening is refused.
    """
    swap = decode_swap(ix)
    if not 0 <= slippage_bps <= swap.slippage_bps:
        raise ValueError(f"slippage {slippage_bps} bps does not tighten {swap.slippage_bps} bps")
    args = {**swap.args, "slippage_bps": slippage_bps}
    data = _program().coder.encode(swap.name, args)
    return Instruction(ix.program_id, data, list(ix.accounts))
