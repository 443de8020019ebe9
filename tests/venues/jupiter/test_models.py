"""The pure parsers against the documented examples and their mutations."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.instruction import Instruction as SoldersInstruction
from solders.pubkey import Pubkey

from agent.net import BadPayload
from agent.venues.jupiter import parse_build, parse_quote, parse_swap_instructions

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jupiter"


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def _encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _info(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["routePlan"][0]["swapInfo"]


class TestParseQuote:
    def test_documented_example(self) -> None:
        """The swap.yaml example parses into ints, a Decimal impact and one route step."""
        q = parse_quote((FIXTURES / "quote_example.json").read_bytes())
        assert (q.in_amount, q.out_amount, q.other_amount_threshold) == (
            100_000_000,
            17_057_460,
            16_886_885,
        )
        assert q.price_impact_pct == Decimal("0.0001")
        assert q.slippage_bps == 100 and q.swap_mode == "ExactIn"
        assert q.platform_fee is not None and q.platform_fee.fee_bps == 0
        step = q.route_plan[0]
        assert (step.percent, step.bps) == (100, None)
        assert step.swap_info.fee_amount == 1285 and step.swap_info.label == "Meteora DLMM"
        assert (q.context_slot, q.time_taken, q.instruction_version) == (324307186, 0.012, None)
        assert q.raw == _load("quote_example.json")

    @pytest.mark.parametrize(
        ("mutate", "check"),
        [
            (lambda d: _info(d).pop("feeAmount"), lambda q: q.route_plan[0].swap_info.fee_amount is None),
            (lambda d: _info(d).pop("feeMint"), lambda q: q.route_plan[0].swap_info.fee_mint is None),
            (lambda d: d["routePlan"][0].update(percent=None), lambda q: q.route_plan[0].percent is None),
            (lambda d: d["routePlan"][0].pop("percent"), lambda q: q.route_plan[0].percent is None),
            (lambda d: d.update(platformFee=None), lambda q: q.platform_fee is None),
            (lambda d: d.pop("platformFee"), lambda q: q.platform_fee is None),
            (lambda d: d.pop("contextSlot"), lambda q: q.context_slot is None),
            (lambda d: d.pop("timeTaken"), lambda q: q.time_taken is None),
            (lambda d: d.update(instructionVersion="V2"), lambda q: q.instruction_version == "V2"),
            (lambda d: d["routePlan"][0].update(bps=10000), lambda q: q.route_plan[0].bps == 10000),
        ],
        ids=["no-feeAmount", "no-feeMint", "percent-null", "no-percent", "platformFee-null",
             "no-platformFee", "no-contextSlot", "no-timeTaken", "instructionVersion", "bps"],
    )  # fmt: skip
    def test_optional_fields(self, mutate: Any, check: Any) -> None:
        """Optional or removed fields may be missing or null; present ones are read."""
        doc = _load("quote_example.json")
        mutate(doc)
        assert check(parse_quote(_encode(doc)))

    def test_unknown_fields_kept(self) -> None:
        """Undocumented fields at every level land in ``extra`` and survive in ``raw``."""
        doc = _load("quote_example.json")
        doc["swapUsdValue"] = "17.05"
        doc["routePlan"][0]["usdValue"] = 17.05
        doc["routePlan"][0]["swapInfo"]["poolVersion"] = 2
        q = parse_quote(_encode(doc))
        assert q.extra == {"swapUsdValue": "17.05"}
        assert q.route_plan[0].extra == {"usdValue": 17.05}
        assert q.route_plan[0].swap_info.extra == {"poolVersion": 2}
        assert q.raw["swapUsdValue"] == "17.05"

    @pytest.mark.parametrize(
        "mutate",
        [
            lambda d: d.update(inAmount=100000000),
            lambda d: d.update(outAmount="1.5"),
            lambda d: d.update(outAmount="-5"),
            lambda d: d.update(slippageBps="100"),
            lambda d: d.update(slippageBps=True),
            lambda d: d.update(priceImpactPct=0.0001),
            lambda d: d.update(priceImpactPct="NaN"),
            lambda d: d.update(swapMode="Sideways"),
            lambda d: d.update(routePlan={}),
            lambda d: d.update(inputMint="not-a-key"),
            lambda d: d.update(timeTaken="fast"),
            lambda d: d.update(platformFee={"amount": 0, "feeBps": 0}),
            lambda d: d.pop("otherAmountThreshold"),
            lambda d: d["routePlan"][0].update(percent="100"),
            lambda d: d["routePlan"][0]["swapInfo"].update(feeAmount=1285),
            lambda d: d["routePlan"][0]["swapInfo"].pop("ammKey"),
        ],
        ids=["inAmount-int", "outAmount-float", "outAmount-negative", "slippage-str", "slippage-bool",
             "impact-number", "impact-nan", "swapMode", "routePlan-object", "bad-mint", "timeTaken-str",
             "platformFee-numbers", "missing-threshold", "percent-str", "feeAmount-int", "missing-ammKey"],
    )  # fmt: skip
    def test_wrong_types_are_bad_payload(self, mutate: Any) -> None:
        """A required field missing or of the wrong type raises BadPayload."""
        doc = _load("quote_example.json")
        mutate(doc)
        with pytest.raises(BadPayload):
            parse_quote(_encode(doc))

    @pytest.mark.parametrize(
        "body",
        [b"<html><body>502</body></html>", b'{"inputMint":"So1111', b"[]", b"", b"\xff\xfe"],
        ids=["html", "truncated", "array", "empty", "not-utf8"],
    )
    def test_not_a_json_object(self, body: bytes) -> None:
        """HTML, truncated JSON and non-objects raise BadPayload, not a JSON error."""
        with pytest.raises(BadPayload):
            parse_quote(body)


class TestParseSwapInstructions:
    def test_documented_example(self) -> None:
        """The reference example parses into instructions that convert to solders."""
        si = parse_swap_instructions((FIXTURES / "swap_instructions_example.json").read_bytes())
        assert len(si.compute_budget_instructions) == 2 and len(si.setup_instructions) == 4
        assert si.compute_budget_instructions[0].data == bytes.fromhex("020cef0500")
        assert si.token_ledger_instruction is None and si.cleanup_instruction is not None
        assert si.address_lookup_table_addresses == (
            "GxS6FiQ9RbErBB48mE34U4Jv13MdEJov4R1e5KgFzRFY",
        )
        assert (si.prioritization_fee_lamports, si.compute_unit_limit) == (9999, 388876)
        assert si.prioritization_type == {
            "computeBudget": {"microLamports": 25715, "estimatedMicroLamports": 785154}
        }
        assert si.simulation_error is None
        ixs = si.to_solders()
        assert len(ixs) == 8 and all(isinstance(ix, SoldersInstruction) for ix in ixs)
        swap = ixs[6]
        assert swap.program_id == Pubkey.from_string("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")
        assert swap.data[:8] == bytes.fromhex("c1209b3341d69c81")
        assert swap.accounts[2].is_signer and not swap.accounts[2].is_writable

    @pytest.mark.parametrize(
        ("mutate", "check"),
        [
            (lambda d: d.pop("cleanupInstruction"), lambda s: s.cleanup_instruction is None),
            (lambda d: d.pop("tokenLedgerInstruction"), lambda s: s.token_ledger_instruction is None),
            (lambda d: d.pop("computeUnitLimit"), lambda s: s.compute_unit_limit is None),
            (lambda d: d.update(blockhashSlotsToExpiry=150), lambda s: s.extra == {"blockhashSlotsToExpiry": 150}),
        ],
        ids=["no-cleanup", "no-ledger", "no-cu-limit", "unknown-kept"],
    )  # fmt: skip
    def test_optional_and_unknown(self, mutate: Any, check: Any) -> None:
        """Optional instructions may be absent; unknown fields are kept in ``extra``."""
        doc = _load("swap_instructions_example.json")
        mutate(doc)
        assert check(parse_swap_instructions(_encode(doc)))

    @pytest.mark.parametrize(
        "mutate",
        [
            lambda d: d.pop("swapInstruction"),
            lambda d: d.update(setupInstructions=None),
            lambda d: d["swapInstruction"].update(data="!!not base64!!"),
            lambda d: d["swapInstruction"]["accounts"][0].update(isSigner="false"),
            lambda d: d["swapInstruction"].update(programId="xyz"),
            lambda d: d.update(addressLookupTableAddresses="GxS6FiQ9RbErBB48mE34U4Jv13MdEJov4R1e5KgFzRFY"),
            lambda d: d.update(otherInstructions=[{"programId": "11111111111111111111111111111111"}]),
        ],
        ids=["no-swap", "setup-null", "data-not-b64", "signer-str", "bad-program", "alts-str", "ix-no-accounts"],
    )  # fmt: skip
    def test_wrong_types_are_bad_payload(self, mutate: Any) -> None:
        """A missing or mistyped instruction field raises BadPayload."""
        doc = _load("swap_instructions_example.json")
        mutate(doc)
        with pytest.raises(BadPayload):
            parse_swap_instructions(_encode(doc))


class TestParseBuild:
    def test_constructed_example(self) -> None:
        """A /build body yields the quote, instructions, lookup tables and blockhash."""
        b = parse_build((FIXTURES / "build_example.json").read_bytes())
        assert b.quote.out_amount == 17_057_460 and b.quote.route_plan[0].bps == 10_000
        assert b.quote.extra == {}
        assert (
            b.instructions.swap_instruction.program_id
            == "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"
        )
        assert b.instructions.address_lookup_table_addresses == tuple(
            b.addresses_by_lookup_table_address
        )
        assert b.blockhash == bytes(range(1, 33)) and b.last_valid_block_height == 279632475
        assert b.tip_instruction is None

    @pytest.mark.parametrize(
        "mutate",
        [
            lambda d: d["blockhashWithMetadata"].update(blockhash=[1, 2, 3]),
            lambda d: d["blockhashWithMetadata"].update(blockhash=[256] * 32),
            lambda d: d.pop("addressesByLookupTableAddress"),
            lambda d: d.update(
                addressesByLookupTableAddress={"GxS6FiQ9RbErBB48mE34U4Jv13MdEJov4R1e5KgFzRFY": "x"}
            ),
        ],
        ids=["short-hash", "byte-range", "no-tables", "table-not-list"],
    )
    def test_wrong_types_are_bad_payload(self, mutate: Any) -> None:
        """A malformed blockhash or lookup-table map raises BadPayload."""
        doc = copy.deepcopy(_load("build_example.json"))
        mutate(doc)
        with pytest.raises(BadPayload):
            parse_build(_encode(doc))
