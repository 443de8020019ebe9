"""Fuzzing the Jupiter response parsers (/quote, /swap-instructions, /build) and the error
classifier: BadPayload (or a JupiterError) or a well-typed value, never anything else.

tests/venues/jupiter/test_models.py pins hand-picked mutations of the documented examples;
these properties throw arbitrary bytes, arbitrary JSON and randomly mutated examples at them.

The inputs that once leaked a builtin exception from these parsers are pinned as tests at the
end of this file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from agent.net import MAX_RETRY_AFTER_S, BadPayload, RateLimited, TokenBucket
from agent.venues.jupiter import parse_build, parse_quote, parse_swap_instructions
from agent.venues.jupiter.errors import (
    ERROR_KINDS,
    JupiterError,
    Unavailable,
    classify_response,
    error_kind,
)
from agent.venues.jupiter.models import (
    BuildResponse,
    Instruction,
    QuoteResponse,
    SwapInstructions,
)
from tests.support.mutations import byte_mutations, fuzzing, hostile_values, json_documents, mutated

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jupiter"
QUOTE = json.loads((FIXTURES / "quote_example.json").read_text())
SWAP_INSTRUCTIONS = json.loads((FIXTURES / "swap_instructions_example.json").read_text())
BUILD = json.loads((FIXTURES / "build_example.json").read_text())
U64_MAX = 2**64 - 1


def parsed_or_refused(parse: Callable[[bytes], Any], body: bytes) -> Any | None:
    """The parsed body, or None when the parser refused it with BadPayload."""
    try:
        result = parse(body)
    except BadPayload as refusal:
        event("bad_payload")
        assert refusal.detail
        return None
    event("parsed")
    return result


def _is_pubkey(text: Any) -> bool:
    return isinstance(text, str) and str(Pubkey.from_string(text)) == text


def _is_uint(value: Any) -> bool:
    # The upper bound (uint64) is not enforced yet; see test_amounts_above_u64_are_refused.
    return type(value) is int and value >= 0


def check_quote(quote: QuoteResponse) -> None:
    """Amounts are exact non-negative ints, the impact a finite Decimal, mints real keys."""
    for value in (quote.in_amount, quote.out_amount, quote.other_amount_threshold):
        assert _is_uint(value)
    assert _is_uint(quote.slippage_bps)
    assert isinstance(quote.price_impact_pct, Decimal) and quote.price_impact_pct.is_finite()
    assert quote.swap_mode in ("ExactIn", "ExactOut")
    assert _is_pubkey(quote.input_mint) and _is_pubkey(quote.output_mint)
    for step in quote.route_plan:
        info = step.swap_info
        assert _is_uint(info.in_amount) and _is_uint(info.out_amount)
        assert info.fee_amount is None or _is_uint(info.fee_amount)
        assert _is_pubkey(info.input_mint) and _is_pubkey(info.output_mint)
        assert step.percent is None or _is_uint(step.percent)
        assert step.bps is None or _is_uint(step.bps)
    if quote.platform_fee is not None:
        assert _is_uint(quote.platform_fee.amount) and _is_uint(quote.platform_fee.fee_bps)
    assert quote.context_slot is None or _is_uint(quote.context_slot)
    assert quote.time_taken is None or type(quote.time_taken) is float
    assert isinstance(quote.raw, dict)


def _check_instruction(instruction: Instruction) -> None:
    assert _is_pubkey(instruction.program_id) and isinstance(instruction.data, bytes)
    for account in instruction.accounts:
        assert _is_pubkey(account.pubkey)
        assert type(account.is_signer) is bool and type(account.is_writable) is bool


def check_swap_instructions(instructions: SwapInstructions) -> None:
    """Every instruction has real keys and bytes, and the set converts to solders as is."""
    ordered = instructions.ordered()
    for instruction in ordered:
        _check_instruction(instruction)
    assert len(instructions.to_solders()) == len(ordered)
    assert all(_is_pubkey(a) for a in instructions.address_lookup_table_addresses)
    for value in (instructions.prioritization_fee_lamports, instructions.compute_unit_limit):
        assert value is None or _is_uint(value)


def check_build(build: BuildResponse) -> None:
    """The quote and instructions hold, the blockhash is 32 bytes, the tables real keys."""
    check_quote(build.quote)
    check_swap_instructions(build.instructions)
    if build.tip_instruction is not None:
        _check_instruction(build.tip_instruction)
    assert isinstance(build.blockhash, bytes) and len(build.blockhash) == 32
    assert _is_uint(build.last_valid_block_height)
    for table, addresses in build.addresses_by_lookup_table_address.items():
        assert _is_pubkey(table) and all(_is_pubkey(a) for a in addresses)
    assert build.instructions.address_lookup_table_addresses == tuple(
        build.addresses_by_lookup_table_address
    )


PARSERS: dict[str, tuple[Callable[[bytes], Any], Callable[[Any], None], dict[str, Any]]] = {
    "quote": (parse_quote, check_quote, QUOTE),
    "swap-instructions": (parse_swap_instructions, check_swap_instructions, SWAP_INSTRUCTIONS),
    "build": (parse_build, check_build, BUILD),
}


def bodies(document: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Response bodies around one documented example: arbitrary bytes and JSON, the example
    mutated structurally, and its bytes mutated."""
    example_bytes = json.dumps(document).encode()
    return st.one_of(
        st.just(example_bytes),
        st.binary(max_size=512),
        json_documents().map(lambda value: json.dumps(value).encode()),
        mutated(document).map(str.encode),
        mutated(document).map(str.encode),
        byte_mutations(example_bytes).map(lambda named: named[1]),
    )


BODIES = {name: bodies(document) for name, (_parse, _check, document) in PARSERS.items()}


@pytest.mark.parametrize("name", sorted(PARSERS))
@fuzzing(300)
@given(data=st.data())
def test_bodies_are_refused_or_parse_into_valid_types(name: str, data: st.DataObject) -> None:
    """Each endpoint's body is refused with BadPayload or parses into exact, valid types."""
    parse, check, _document = PARSERS[name]
    result = parsed_or_refused(parse, data.draw(BODIES[name], label="body"))
    if result is not None:
        check(result)


HEADER_VALUES = st.one_of(
    hostile_values().map(str),
    st.sampled_from(["1", "0", "-5", "2.5", "nan", "", " ", "Wed, 21 Oct 2015 07:28:00 GMT"]),
)


@fuzzing(400)
@given(
    status=st.integers(100, 599) | st.sampled_from([200, 400, 401, 403, 408, 425, 429, 500, 503]),
    headers=st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ["retry-after", "x-ratelimit-reset", "x-ratelimit-remaining"], HEADER_VALUES
        ),
    ),
    body=st.one_of(
        st.binary(max_size=256),
        st.builds(
            lambda code, extra: json.dumps({"errorCode": code, **extra}).encode(),
            st.sampled_from(["NO_ROUTES_FOUND", "TOKEN_NOT_TRADABLE", "X", ""]) | st.text(),
            st.dictionaries(st.text(max_size=5), json_documents(), max_size=2),
        ),
        mutated({"error": "no route", "errorCode": "NO_ROUTES_FOUND"}).map(str.encode),
    ),
)
def test_classify_response_returns_a_jupiter_error_or_none(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    """Any response classifies to a JupiterError or the shared RateLimited, of a known kind, or
    to None only for a 2xx."""
    error = classify_response(status, headers, body, 1_760_000_000.0)
    if error is None:
        assert 200 <= status < 300
        return
    assert isinstance(error, JupiterError | RateLimited) and error_kind(error) in ERROR_KINDS
    event(error_kind(error))
    if isinstance(error, RateLimited | Unavailable):
        wait = error.retry_after_s
        assert wait is None or (math.isfinite(wait) and wait >= 0)


# Inputs that once leaked a builtin exception, each pinned.


def _quote_with(**changes: Any) -> bytes:
    return json.dumps({**QUOTE, **changes}).encode()


def _instruction_data(data: str) -> bytes:
    document = json.loads(json.dumps(SWAP_INSTRUCTIONS))
    document["swapInstruction"]["data"] = data
    return json.dumps(document).encode()


@pytest.mark.parametrize("parse", [parse_quote, parse_swap_instructions, parse_build])
def test_deep_nesting_is_bad_payload(parse: Callable[[bytes], Any]) -> None:
    """A body nested deeper than the JSON decoder recurses is BadPayload."""
    with pytest.raises(BadPayload):
        parse(b"[" * 100_000 + b"]" * 100_000)


def test_amount_with_more_digits_than_int_converts_is_bad_payload() -> None:
    """An amount string of 5,000 digits is BadPayload, not int()'s ValueError."""
    with pytest.raises(BadPayload):
        parse_quote(_quote_with(outAmount="9" * 5_000))


@pytest.mark.parametrize("value", [str(2**64), "9" * 40])
def test_amounts_above_u64_are_refused(value: str) -> None:
    """An amount above u64 (what the schema and ``_amount``'s docstring promise) is BadPayload."""
    with pytest.raises(BadPayload):
        parse_quote(_quote_with(outAmount=value))


def test_time_taken_beyond_float_range_is_bad_payload() -> None:
    """A timeTaken integer too large for a float is BadPayload, not an OverflowError."""
    with pytest.raises(BadPayload):
        parse_quote(_quote_with(timeTaken=10**400))


def test_non_ascii_instruction_data_is_bad_payload() -> None:
    """Instruction data with a non-ASCII character is BadPayload, not b64decode's ValueError."""
    with pytest.raises(BadPayload):
        parse_swap_instructions(_instruction_data("AgzvBQA\u00e9"))


def test_deeply_nested_error_body_is_classified() -> None:
    """An error body nested too deep for the decoder is still classified by its status."""
    error = classify_response(500, {}, b"[" * 100_000 + b"]" * 100_000, 0.0)
    assert isinstance(error, Unavailable)


@pytest.mark.parametrize(
    "headers", [{"retry-after": "inf"}, {"retry-after": "1e400"}, {"x-ratelimit-reset": "inf"}]
)
def test_infinite_waits_are_ignored(headers: dict[str, str]) -> None:
    """An infinite Retry-After or reset is ignored (an infinite pause would stop the limiter)."""
    error = classify_response(429, headers, b"", 1_760_000_000.0)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s is None or math.isfinite(error.retry_after_s)


@pytest.mark.parametrize("value", ["99999999999999999999.5", "86400", str(10**30)])
def test_a_retry_after_beyond_an_hour_is_held_to_an_hour(value: str) -> None:
    """A huge finite Retry-After pauses Jupiter for an hour at most (the breaker does the rest)."""
    error = classify_response(429, {"retry-after": value}, b"", 1_760_000_000.0)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == min(float(value), MAX_RETRY_AFTER_S)
    budget = TokenBucket(0.5, burst=1, clock=lambda: 100.0)
    budget.penalise(error.retry_after_s)
    assert 3599.0 < budget.next_slot_in() <= 3600.0 + 2.0
