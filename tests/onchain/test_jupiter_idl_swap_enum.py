"""The IDL's ``Swap`` enum past the Sep-2024 base: tag order, newer variants, refusals."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from importlib import resources
from typing import Any

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from onchain.jupiter_program import (
    JUPITER_V6_PROGRAM_ID,
    UndecodableSwap,
    _program,  # the built anchorpy types: private, read here only to check tag order
    account_names,
    argument_names,
    decode_swap,
    encode_swap,
)

LAST_KNOWN_TAG = 188  # HyloRouter; see onchain/idl/README.md for where each range comes from
# Tags every source agrees on, spread over the ranges the README attributes.
ANCHORS = {
    0: "Saber", 17: "Whirlpool", 38: "MeteoraDlmm", 58: "Obric", 59: "FoxBuyFromEstimatedCost",
    74: "Gamma", 75: "MeteoraDlmmSwapV2", 108: "MeteoraDammV2WithRemainingAccounts",
    111: "DynamicV1", 120: "JupiterRfqV2", 146: "DynamicV2", 171: "SanctumSols", 172: "HyloV2",
    186: "HumidiFiRouterV2", 188: "HyloRouter",
}  # fmt: skip
DISCRIMINATOR = {
    "route": bytes.fromhex("e517cb977ae3ad2a"),
    "route_v2": bytes.fromhex("bb64facc31c4af14"),
}
IN_AMOUNT, QUOTED_OUT, SLIPPAGE, FEE, POSITIVE = 2_500_000_000, 371_000_123, 30, 0, 0


def _idl_swap_variants() -> list[dict[str, Any]]:
    text = (resources.files("onchain") / "idl" / "jupiter_v6.json").read_text(encoding="utf-8")
    (swap,) = [t for t in json.loads(text)["types"] if t["name"] == "Swap"]
    return swap["type"]["variants"]


def _accounts(name: str) -> dict[str, Pubkey]:
    return {
        acc: Pubkey(hashlib.sha256(f"{name}/{acc}".encode()).digest())
        for acc in account_names(name)
    }


def _instruction(name: str, data: bytes) -> Instruction:
    metas = [AccountMeta(key, False, False) for key in _accounts(name).values()]
    return Instruction(JUPITER_V6_PROGRAM_ID, data, metas)


def _hand_built(name: str, step_swap: bytes) -> Instruction:
    """One-step route data packed by hand: V1 puts the plan first, V2 puts it last."""
    if name == "route":
        step = step_swap + struct.pack("<BBB", 100, 0, 1)  # percent, input_index, output_index
        args = (
            struct.pack("<I", 1) + step + struct.pack("<QQHB", IN_AMOUNT, QUOTED_OUT, SLIPPAGE, FEE)
        )
    else:
        step = step_swap + struct.pack("<HBB", 10_000, 0, 1)  # bps, input_index, output_index
        head = struct.pack("<QQHHH", IN_AMOUNT, QUOTED_OUT, SLIPPAGE, FEE, POSITIVE)
        args = head + struct.pack("<I", 1) + step
    return _instruction(name, DISCRIMINATOR[name] + args)


def test_swap_tags_are_contiguous_with_unique_names() -> None:
    """The Swap enum holds tags 0..LAST_KNOWN_TAG in order, each name once, as anchorpy builds it."""
    variants = _idl_swap_variants()
    names = [v["name"] for v in variants]
    assert len(names) == LAST_KNOWN_TAG + 1
    assert len(set(names)) == len(names)
    assert {tag: names[tag] for tag in ANCHORS} == ANCHORS
    swap = _program().types["Swap"]
    for tag, name in enumerate(names):
        constructor = swap.getitem(tag)
        assert (constructor.__name__, constructor.index) == (name, tag)
    with pytest.raises(IndexError):
        swap.getitem(LAST_KNOWN_TAG + 1)


# New variants whose fields the encoder can build (it cannot nest one enum value in another).
NEW_STEPS: list[Any] = [
    "Gamma",  # 74, no fields
    {"MeteoraDlmmSwapV2": {"remaining_accounts_info": {"slices": [
        {"accounts_type": 0, "length": 1}, {"accounts_type": 7, "length": 2}]}}},  # 75
    {"HumidiFi": {"swap_id": 2**63 + 11, "is_base_to_quote": True}},  # 87
    {"Scorch": {"swap_id": 2**127 + 3}},  # 122, u128
    {"VaultLiquidUnstake": {"lst_amounts": [1, 2, 3, 4, 5], "seed": 99}},  # 123, [u64; 5]
    {"HumidiFiRouterV2": {"router_id": 4, "claimed_ms": 1_790_000_000_000,
                          "seed_rng": list(range(32)), "token": list(range(100, 116)),
                          "is_base_to_quote": False}},  # 186
    {"PumpWrappedBuyV6": {"claim_cashback": True, "allow_partial_fill": False}},  # 187
    "HyloRouter",  # 188, the last known tag
]  # fmt: skip
NEW_TAGS = [74, 75, 87, 122, 123, 186, 187, 188]


def _plain(value: Any) -> Any:
    """A decoded value as plain data: an enum value is ``{variant: {field: value}}``."""
    if hasattr(value, "__attrs_attrs__"):  # an enum value (sumtypes builds them with attrs)
        fields = {a.name: _plain(getattr(value, a.name)) for a in value.__attrs_attrs__}
        return {type(value).__name__: fields}
    if dataclasses.is_dataclass(value):  # a struct
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("name", ["route", "route_v2"])
def test_new_variants_round_trip(name: str) -> None:
    """A route plan of newer variants (tags 74-188) encodes and decodes back, amounts intact."""
    share = "bps" if name == "route_v2" else "percent"
    plan = [
        {"swap": swap, share: 1, "input_index": i, "output_index": i + 1}
        for i, swap in enumerate(NEW_STEPS)
    ]
    values = {
        "in_amount": IN_AMOUNT, "quoted_out_amount": QUOTED_OUT, "slippage_bps": SLIPPAGE,
        "platform_fee_bps": 7, "positive_slippage_bps": 3, "route_plan": plan,
    }  # fmt: skip
    args = {arg: values[arg] for arg in argument_names(name)}
    swap = decode_swap(encode_swap(name, args, _accounts(name)))
    assert swap.name == name and swap.route_plan_steps == len(NEW_STEPS)
    assert (swap.in_amount, swap.quoted_out_amount) == (IN_AMOUNT, QUOTED_OUT)
    assert (swap.slippage_bps, swap.platform_fee_bps) == (SLIPPAGE, 7)
    assert swap.positive_slippage_bps == (3 if name == "route_v2" else 0)
    for step, sent, tag in zip(swap.args["route_plan"], NEW_STEPS, NEW_TAGS, strict=True):
        assert step.swap.index == tag
        assert _plain(step.swap) == ({sent: {}} if isinstance(sent, str) else sent)


def _slices(*pairs: tuple[int, int]) -> bytes:
    return struct.pack("<I", len(pairs)) + b"".join(struct.pack("<BB", *p) for p in pairs)


# (instruction, Swap bytes packed by hand from the published layout, the value they must decode to)
HAND_BUILT = [
    pytest.param(
        "route_v2",
        struct.pack("<B", 75) + _slices((0, 3), (1, 1)),
        {"MeteoraDlmmSwapV2": {"remaining_accounts_info": {"slices": [
            {"accounts_type": 0, "length": 3}, {"accounts_type": 1, "length": 1}]}}},
        id="75-MeteoraDlmmSwapV2-v2",
    ),
    pytest.param(
        "route",
        struct.pack("<B", 75) + _slices((2, 4)),
        {"MeteoraDlmmSwapV2": {"remaining_accounts_info": {"slices": [
            {"accounts_type": 2, "length": 4}]}}},
        id="75-MeteoraDlmmSwapV2-v1",
    ),
    pytest.param(
        "route",
        # DynamicV1 {candidate_swaps: Vec<CandidateSwap>, best_position: Option<u8>}
        struct.pack("<BI", 111, 2)
        + struct.pack("<BQ?", 0, 42, True)  # CandidateSwap::HumidiFi {swap_id, is_base_to_quote}
        + struct.pack("<BB", 1, 1)  # CandidateSwap::TesseraV {side: Side::Ask}
        + struct.pack("<BB", 1, 0),  # best_position: Some(0)
        {"DynamicV1": {"candidate_swaps": [
            {"HumidiFi": {"swap_id": 42, "is_base_to_quote": True}},
            {"TesseraV": {"side": {"Ask": {}}}}], "best_position": 0}},
        id="111-DynamicV1-v1",
    ),
    pytest.param(
        "route_v2",
        # DynamicV2 {candidate_swaps: Vec<CandidateSwapWithBps {CandidateSwap, bps: u32}>, u8, u8}
        struct.pack("<BI", 146, 2)
        + struct.pack("<BI", 6, 7_000)  # CandidateSwap::ZeroFi, bps
        + struct.pack("<BBI", 14, 0, 3_000)  # CandidateSwap::TesseraVV2 {side: Side::Bid}, bps
        + struct.pack("<BB", 2, 1),  # max_split_quote_calls, max_split_candidates
        {"DynamicV2": {"candidate_swaps": [
            {"candidate_swap": {"ZeroFi": {}}, "bps": 7_000},
            {"candidate_swap": {"TesseraVV2": {"side": {"Bid": {}}}}, "bps": 3_000}],
            "max_split_quote_calls": 2, "max_split_candidates": 1}},
        id="146-DynamicV2-v2",
    ),
    pytest.param(
        "route_v2",
        # JupiterRfqV2 {side: Side, fill_data: bytes (u32 length + bytes)}
        struct.pack("<BBI", 120, 0, 5) + b"\x09\x08\x07\x06\x05",
        {"JupiterRfqV2": {"side": {"Bid": {}}, "fill_data": b"\x09\x08\x07\x06\x05"}},
        id="120-JupiterRfqV2-v2",
    ),
    pytest.param(
        "route",
        # HumidiFiRouter {claimed_ms: u64, seed_rng: [u8; 32], token: [u8; 16], is_base_to_quote}
        struct.pack("<BQ", 185, 1_790_000_000_123) + bytes(range(32)) + bytes(16) + b"\x01",
        {"HumidiFiRouter": {"claimed_ms": 1_790_000_000_123, "seed_rng": list(range(32)),
                            "token": [0] * 16, "is_base_to_quote": True}},
        id="185-HumidiFiRouter-v1",
    ),
    pytest.param(
        "route",
        # PerenaStarV2TrancheWithdrawFromExternal {kind: PerenaTrancheKind, Option<u8>}
        struct.pack("<BBB", 183, 1, 0),
        {"PerenaStarV2TrancheWithdrawFromExternal": {
            "kind": {"Senior": {}}, "external_liquidity_source": None}},
        id="183-PerenaStarV2TrancheWithdrawFromExternal-v1",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "step_swap", "expected"), HAND_BUILT)
def test_hand_packed_variant_decodes(name: str, step_swap: bytes, expected: Any) -> None:
    """A newer variant packed by hand with struct decodes to its fields, and the amounts after it."""
    swap = decode_swap(_hand_built(name, step_swap))
    (step,) = swap.args["route_plan"]
    assert _plain(step.swap) == expected
    assert (step.input_index, step.output_index) == (0, 1)
    assert (swap.in_amount, swap.quoted_out_amount, swap.slippage_bps) == (
        IN_AMOUNT,
        QUOTED_OUT,
        SLIPPAGE,
    )


@pytest.mark.parametrize("name", ["route", "route_v2"])
def test_tag_past_the_last_known_is_refused(name: str) -> None:
    """A Swap tag one past the last known variant still raises UndecodableSwap."""
    with pytest.raises(UndecodableSwap, match="Swap variant this IDL does not know") as info:
        decode_swap(_hand_built(name, struct.pack("<B", LAST_KNOWN_TAG + 1)))
    if name == "route_v2":  # the amounts before the plan are still reported
        assert f"in_amount={IN_AMOUNT}" in info.value.detail


def test_candidate_tag_past_the_last_known_is_refused() -> None:
    """A DynamicV1 candidate with an unknown CandidateSwap tag (17) is refused, not skipped."""
    step_swap = struct.pack("<BIB", 111, 1, 17) + b"\x00"
    with pytest.raises(UndecodableSwap):
        decode_swap(_hand_built("route_v2", step_swap))
