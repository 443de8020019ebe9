"""Jupiter v6 route instructions decoded and encoded with the shipped IDL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from onchain.jupiter_program import (
    EVENT_AUTHORITY,
    JUPITER_V6_PROGRAM_ID,
    ROUTE_INSTRUCTIONS,
    UndecodableSwap,
    account_names,
    argument_names,
    decode_swap,
    encode_swap,
    instruction_name,
    program_authority,
    with_slippage,
)
from tests.support.jupiter_tamper import instruction_from_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jupiter"
USER = Pubkey.from_string("jdocuPgEAjMfihABsPgKEvYtsmMzjUHeq9LX4Hvs7f3")
SOL = Pubkey.from_string("So11111111111111111111111111111111111111112")
USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")

# jupiter-api.md §4, recomputed there and matched against several third-party decoders.
DISCRIMINATORS = {
    "route": "e517cb977ae3ad2a",
    "shared_accounts_route": "c1209b3341d69c81",
    "exact_out_route": "d033ef977b2bed5c",
    "shared_accounts_exact_out_route": "b0d169a89a7d453e",
    "route_with_token_ledger": "96564774a75d0e68",
    "shared_accounts_route_with_token_ledger": "e6798f50779f6aaa",
    "route_v2": "bb64facc31c4af14",
    "shared_accounts_route_v2": "d19853937cfed8e9",
    "exact_out_route_v2": "9d8ab85215f4f324",
    "shared_accounts_exact_out_route_v2": "3560e5cad8bbfa18",
}


def _key(label: str) -> Pubkey:
    return Pubkey(hashlib.sha256(label.encode()).digest())


def _example_swap() -> Instruction:
    doc = json.loads((FIXTURES / "swap_instructions_example.json").read_text())
    return instruction_from_json(doc["swapInstruction"])


def _args(name: str) -> dict[str, Any]:
    """Distinct values for every argument ``name`` takes, and a two-step route plan."""
    share = {"bps": 6_000} if name.endswith("_v2") else {"percent": 60}
    rest = {"bps": 4_000} if name.endswith("_v2") else {"percent": 40}
    values: dict[str, Any] = {
        "id": 3, "in_amount": 10**9 + 7, "quoted_out_amount": 170_000_123,
        "out_amount": 5_000_001, "quoted_in_amount": 29_000_002, "slippage_bps": 75,
        "platform_fee_bps": 20, "positive_slippage_bps": 5,
        "route_plan": [
            {"swap": {"Whirlpool": {"a_to_b": True}}, **share, "input_index": 0, "output_index": 1},
            {"swap": "MeteoraDlmm", **rest, "input_index": 0, "output_index": 1},
        ],
    }  # fmt: skip
    return {arg: values[arg] for arg in argument_names(name)}


def _accounts(name: str) -> dict[str, Pubkey]:
    return {acc: _key(f"{name}/{acc}") for acc in account_names(name)}


def test_the_idl_knows_the_ten_route_instructions() -> None:
    """The shipped IDL holds exactly the ten route instructions of the reference table."""
    assert set(DISCRIMINATORS) == ROUTE_INSTRUCTIONS


@pytest.mark.parametrize(("name", "disc"), sorted(DISCRIMINATORS.items()))
def test_discriminators(name: str, disc: str) -> None:
    """Each route instruction's discriminator is sha256("global:<name>")[:8], as tabled."""
    assert hashlib.sha256(f"global:{name}".encode()).digest()[:8].hex() == disc
    encoded = encode_swap(name, _args(name), _accounts(name))
    assert bytes(encoded.data)[:8].hex() == disc
    assert instruction_name(bytes.fromhex(disc)) == name


def test_set_token_ledger_is_named_but_not_a_route() -> None:
    """Other Jupiter instructions are known by name but are not route instructions."""
    disc = hashlib.sha256(b"global:set_token_ledger").digest()[:8]
    assert instruction_name(disc) == "set_token_ledger"
    assert instruction_name(bytes(8)) is None


def test_pdas() -> None:
    """The event authority and program authority 0 are the reference's addresses."""
    assert str(EVENT_AUTHORITY) == "D8cy77BBepLMngZx6ZukaTff5hCt1HrWyKk3Hnd9oitf"
    assert str(program_authority(0)) == "GGztQqQ6pCPaJQnNpXBgELr5cs3WwDakRbh1iEMzjgSJ"


class TestReferenceExample:
    def test_decodes_with_its_exact_values(self) -> None:
        """The example's shared_accounts_route decodes to its documented amounts and accounts."""
        swap = decode_swap(_example_swap())
        assert (swap.name, swap.version, swap.exact_out, swap.token_ledger) == (
            "shared_accounts_route",
            "v1",
            False,
            False,
        )
        assert (swap.in_amount, swap.quoted_out_amount, swap.out_amount, swap.quoted_in_amount) == (
            100_000_000,
            16_198_753,
            None,
            None,
        )
        assert (swap.slippage_bps, swap.platform_fee_bps, swap.positive_slippage_bps) == (50, 0, 0)
        assert swap.route_plan_steps == 1 and swap.args["id"] == 0
        (step,) = swap.args["route_plan"]
        assert (type(step.swap).__name__, step.percent, step.input_index, step.output_index) == (
            "MeteoraDlmm",
            100,
            0,
            1,
        )
        assert {k: str(v) for k, v in swap.accounts.items()} == {
            "token_program": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
            "program_authority": "GGztQqQ6pCPaJQnNpXBgELr5cs3WwDakRbh1iEMzjgSJ",
            "user_transfer_authority": str(USER),
            "source_token_account": "HM8SpVGutdKR8cRAc9QSwSsjfQYN6nDyT9L43cSGD3ki",
            "program_source_token_account": "g7dD1FHSemkUQrX1Eak37wzvDjscgBW2pFCENwjLdMX",
            "program_destination_token_account": "DVCeozFGbe6ew3eWTnZByjHeYqTq1cvbrB7JJhkLxaRJ",
            "destination_token_account": "6M116nB6XvD99eCtQZf2MjmZgoBxRRSNEWwNKVi8B8BN",
            "source_mint": str(SOL),
            "destination_mint": str(USDC),
            "event_authority": "D8cy77BBepLMngZx6ZukaTff5hCt1HrWyKk3Hnd9oitf",
            "program": str(JUPITER_V6_PROGRAM_ID),
        }  # platform_fee_account and token2022_program are the program id: "none", left out
        assert [str(m.pubkey) for m in swap.remaining_accounts] == [
            "LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo",
            "5BKxfWMbmYBAEWvyPZS9esPducUba9GqyMjtLCfbaqyF",
        ]

    def test_reencodes_to_the_same_instruction(self) -> None:
        """Encoding what was decoded gives back the example byte for byte, flags included."""
        ix = _example_swap()
        swap = decode_swap(ix)
        assert encode_swap(swap.name, swap.args, swap.accounts, swap.remaining_accounts) == ix


@pytest.mark.parametrize("name", sorted(ROUTE_INSTRUCTIONS))
def test_round_trip(name: str) -> None:
    """encode_swap then decode_swap gives back every argument, account and remaining account."""
    args, accounts = _args(name), _accounts(name)
    remaining = [AccountMeta(_key("pool"), False, True), AccountMeta(_key("dex"), False, False)]
    ix = encode_swap(name, args, accounts, remaining)
    swap = decode_swap(ix)
    assert swap.name == name and swap.route_plan_steps == 2
    assert swap.version == ("v2" if name.endswith("_v2") else "v1")
    assert swap.exact_out == ("exact_out" in name)
    assert swap.token_ledger == name.endswith("_with_token_ledger")
    for field in ("in_amount", "quoted_out_amount", "out_amount", "quoted_in_amount"):
        assert getattr(swap, field) == args.get(field)
    assert (swap.slippage_bps, swap.platform_fee_bps) == (75, 20)
    assert swap.positive_slippage_bps == (5 if name.endswith("_v2") else 0)
    assert dict(swap.accounts) == accounts and list(swap.remaining_accounts) == remaining
    assert encode_swap(name, swap.args, swap.accounts, swap.remaining_accounts) == ix


@pytest.mark.parametrize("name", ["route", "route_v2", "shared_accounts_route"])
def test_absent_optional_accounts_are_the_program_id(name: str) -> None:
    """Optional accounts left out are encoded as the read-only program id and decode as absent."""
    accounts = _accounts(name)
    optional = {"destination_token_account", "platform_fee_account", "token2022_program"}
    if name == "shared_accounts_route":
        optional.discard("destination_token_account")  # required there
    for role in optional & set(accounts):
        del accounts[role]
    ix = encode_swap(name, _args(name), accounts)
    swap = decode_swap(ix)
    assert dict(swap.accounts) == accounts
    names = account_names(name)
    for role in optional & set(names):
        meta = ix.accounts[names.index(role)]
        assert (meta.pubkey, meta.is_signer, meta.is_writable) == (
            JUPITER_V6_PROGRAM_ID,
            False,
            False,
        )


def _v2_with_tag(tag: int) -> Instruction:
    name = "shared_accounts_route_v2"
    ix = encode_swap(
        name, _args(name) | {"route_plan": _args(name)["route_plan"][1:]}, _accounts(name)
    )
    data = bytearray(bytes(ix.data))
    # disc 8 + id 1 + amounts 16 + three u16 6 + vec length 4: the first step's Swap tag
    assert data[35] == 38
    data[35] = tag
    return Instruction(ix.program_id, bytes(data), ix.accounts)


def _example_with(data: bytes) -> Instruction:
    ix = _example_swap()
    return Instruction(ix.program_id, data, ix.accounts)


EXAMPLE_DATA = bytes(_example_swap().data)


@pytest.mark.parametrize(
    ("ix", "detail"),
    [
        pytest.param(_example_with(EXAMPLE_DATA[:-1]), "do not decode", id="truncated"),
        pytest.param(_example_with(EXAMPLE_DATA[:8]), "do not decode", id="discriminator-only"),
        pytest.param(_example_with(EXAMPLE_DATA + b"\x00"), "1 trailing bytes", id="trailing"),
        pytest.param(_example_with(bytes(8) + EXAMPLE_DATA[8:]), "unknown discriminator", id="unknown-disc"),
        pytest.param(_example_with(EXAMPLE_DATA[:5]), "shorter than a discriminator", id="short"),
        pytest.param(
            _example_with(EXAMPLE_DATA[:13] + bytes([189]) + EXAMPLE_DATA[14:]),
            "Swap variant this IDL does not know",
            id="unknown-variant-v1",
        ),
        pytest.param(
            _v2_with_tag(189),
            "in_amount=1000000007, quoted_out_amount=170000123",
            id="unknown-variant-v2",
        ),
        pytest.param(
            Instruction(USER, EXAMPLE_DATA, _example_swap().accounts), "is not Jupiter", id="foreign-program"
        ),
        pytest.param(
            _example_with(hashlib.sha256(b"global:set_token_ledger").digest()[:8]),
            "not a route instruction",
            id="not-a-route",
        ),
        pytest.param(
            Instruction(JUPITER_V6_PROGRAM_ID, EXAMPLE_DATA, _example_swap().accounts[:10]),
            "needs 13 accounts, got 10",
            id="too-few-accounts",
        ),
    ],
)  # fmt: skip
def test_refused(ix: Instruction, detail: str) -> None:
    """Anything but a fully readable route instruction raises UndecodableSwap, saying why."""
    with pytest.raises(UndecodableSwap, match="undecodable Jupiter swap") as info:
        decode_swap(ix)
    assert detail in info.value.detail


def test_known_variant_in_v2_decodes() -> None:
    """The same V2 route with a variant the IDL knows (MeteoraDlmm) decodes."""
    assert decode_swap(_v2_with_tag(38)).route_plan_steps == 1


@pytest.mark.parametrize(
    ("name", "args", "accounts", "message"),
    [
        ("swap_everything", {}, {}, "has no instruction"),
        ("route", {"in_amount": 1}, {}, "takes arguments"),
        ("route", None, {"token_program": USER, "wallet": USER}, "has no accounts"),
        ("route", None, {"token_program": USER}, "needs account 'user_transfer_authority'"),
    ],
    ids=["unknown-name", "missing-args", "unknown-account", "missing-account"],
)
def test_encode_refuses_bad_input(
    name: str, args: dict[str, Any] | None, accounts: dict[str, Pubkey], message: str
) -> None:
    """encode_swap names the unknown instruction, the wrong arguments or the missing account."""
    with pytest.raises(ValueError, match=message):
        encode_swap(name, _args(name) if args is None else args, accounts)


@pytest.mark.parametrize("name", sorted(ROUTE_INSTRUCTIONS))
def test_with_slippage_changes_only_the_tolerance(name: str) -> None:
    """Tightening rewrites slippage_bps alone: every other argument and every account stays."""
    ix = encode_swap(name, _args(name), _accounts(name))
    tightened = with_slippage(ix, 12)
    before, after = decode_swap(ix), decode_swap(tightened)
    assert after.slippage_bps == 12 and list(tightened.accounts) == list(ix.accounts)
    assert {**before.args, "slippage_bps": 12} == dict(after.args)
    assert len(tightened.data) == len(ix.data)


@pytest.mark.parametrize("slippage", [76, -1])
def test_with_slippage_refuses_anything_but_a_tightening(slippage: int) -> None:
    """A looser (or negative) tolerance is refused: the agent only ever narrows what the API gave."""
    ix = encode_swap("route_v2", _args("route_v2"), _accounts("route_v2"))
    with pytest.raises(ValueError, match="does not tighten"):
        with_slippage(ix, slippage)
