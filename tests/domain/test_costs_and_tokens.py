"""Network costs in token units, base-unit conversions and the token registry."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.domain.costs import (
    LAMPORTS_PER_SIGNATURE,
    lamports_in_token_units,
    leg_cost_lamports,
    platform_fee_out,
)
from agent.domain.tokens import (
    MAX_AMOUNT,
    Token,
    TokenRegistry,
    from_base_units,
    quantize_down,
    to_base_units,
)

PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)

SOL = Token("SOL", "So11111111111111111111111111111111111111112", 9)
USDC = Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6)
BONK = Token("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", 5)


# Network costs


@pytest.mark.parametrize(
    ("lamports", "sol_usd", "token_usd", "decimals", "expected"),
    [
        # 5000 lamports = 0.000005 SOL = $0.00075 = 750 micro-USDC.
        pytest.param(LAMPORTS_PER_SIGNATURE, "150", "1", 6, 750, id="one signature in USDC"),
        pytest.param(LAMPORTS_PER_SIGNATURE, "150", "150", 9, 5_000, id="in SOL itself"),
        pytest.param(3 * LAMPORTS_PER_SIGNATURE, "150", "1", 6, 2_250, id="three signatures"),
        # 1 lamport = $0.00000015 = 0.15 micro-USDC, rounded up to 1.
        pytest.param(1, "150", "1", 6, 1, id="rounded up"),
        # $0.00075 / $2.5 = 0.0003 RAY-like units at 6 decimals = 300 exactly.
        pytest.param(LAMPORTS_PER_SIGNATURE, "150", "2.5", 6, 300, id="exact"),
        # $0.00075 / $0.00003 = 25 tokens at 5 decimals.
        pytest.param(LAMPORTS_PER_SIGNATURE, "150", "0.00003", 5, 2_500_000, id="cheap token"),
        # $0.00075 / $3 = 0.00025 at 0 decimals rounds up to a whole unit.
        pytest.param(LAMPORTS_PER_SIGNATURE, "150", "3", 0, 1, id="no decimals"),
        pytest.param(0, "150", "1", 6, 0, id="free"),
        pytest.param(-5, "150", "1", 6, 0, id="negative is free"),
        pytest.param(0, "0", "0", 6, 0, id="free needs no price"),
    ],
)
def test_lamports_in_token_units(
    lamports: int, sol_usd: str, token_usd: str, decimals: int, expected: int
) -> None:
    """A lamport cost converts into base units of the token, always rounded up."""
    assert lamports_in_token_units(lamports, Decimal(sol_usd), Decimal(token_usd), decimals) == (
        expected
    )


@pytest.mark.parametrize(
    ("sol_usd", "token_usd"),
    [
        pytest.param("0", "1", id="no SOL price"),
        pytest.param("150", "0", id="no token price"),
        pytest.param("-150", "1", id="negative SOL price"),
        pytest.param("150", "-1", id="negative token price"),
    ],
)
def test_lamports_in_token_units_needs_positive_prices(sol_usd: str, token_usd: str) -> None:
    """Converting a real cost without positive prices is an error, not a free fill."""
    with pytest.raises(ValueError, match="prices must be positive"):
        lamports_in_token_units(5_000, Decimal(sol_usd), Decimal(token_usd), 6)


# Base units


@pytest.mark.parametrize(
    ("amount", "decimals", "expected"),
    [
        pytest.param("1.5", 9, 1_500_000_000, id="1.5 SOL"),
        pytest.param("0.000001", 6, 1, id="smallest USDC unit"),
        pytest.param("1.000000000", 6, 1_000_000, id="trailing zeros past precision"),
        pytest.param("100", 0, 100, id="no decimals"),
        pytest.param("1E+3", 6, 1_000_000_000, id="exponent form"),
        pytest.param("0", 9, 0, id="zero"),
        pytest.param("9223372036.854775807", 9, MAX_AMOUNT, id="max amount"),
        pytest.param(
            "123456789012345678901234567890", 2, 12345678901234567890123456789000, id="30 digits"
        ),
    ],
)
def test_to_base_units(amount: str, decimals: int, expected: int) -> None:
    """A human amount converts to the exact integer number of base units."""
    assert to_base_units(Decimal(amount), decimals) == expected


@pytest.mark.parametrize(
    ("amount", "decimals"),
    [
        pytest.param("0.0000001", 6, id="finer than USDC"),
        pytest.param("1.5", 0, id="fraction of an indivisible token"),
        pytest.param("1.0000000001", 9, id="finer than a lamport"),
        # 29 significant digits: at the default precision scaleb would round the tail away.
        pytest.param("1234567890123456789.0000000001", 9, id="tail beyond 28 digits"),
        pytest.param("NaN", 6, id="NaN"),
        pytest.param("Infinity", 6, id="Infinity"),
        pytest.param("-Infinity", 6, id="-Infinity"),
    ],
)
def test_to_base_units_rejects(amount: str, decimals: int) -> None:
    """Amounts finer than the token's precision, or not finite, raise ValueError."""
    with pytest.raises(ValueError, match=r"decimal places|not a finite amount"):
        to_base_units(Decimal(amount), decimals)


@pytest.mark.parametrize(
    ("amount", "decimals", "expected"),
    [
        pytest.param(1_500_000_000, 9, "1.5", id="1.5 SOL"),
        pytest.param(1, 6, "0.000001", id="one unit"),
        pytest.param(0, 9, "0", id="zero"),
        pytest.param(MAX_AMOUNT, 9, "9223372036.854775807", id="max amount"),
        pytest.param(7, 0, "7", id="no decimals"),
    ],
)
def test_from_base_units(amount: int, decimals: int, expected: str) -> None:
    """Base units convert back to the exact human amount."""
    assert from_base_units(amount, decimals) == Decimal(expected)


@PROPERTY
@given(amount=st.integers(min_value=0, max_value=MAX_AMOUNT), decimals=st.integers(0, 18))
def test_base_units_round_trip(amount: int, decimals: int) -> None:
    """to_base_units(from_base_units(n)) is n for every amount the agent accepts."""
    assert to_base_units(from_base_units(amount, decimals), decimals) == amount


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("1.9999", 1, id="down"),
        pytest.param("2", 2, id="integral"),
        pytest.param("0.5", 0, id="half"),
        pytest.param("1E+2", 100, id="exponent"),
    ],
)
def test_quantize_down(value: str, expected: int) -> None:
    """Base-unit values round down to an integer, never up."""
    assert quantize_down(Decimal(value)) == expected


# The registry


def test_registry_looks_up_by_symbol_and_mint() -> None:
    """Tokens are found by symbol (any case) and by exact mint; unknown ones give None."""
    registry = TokenRegistry([SOL, USDC])
    assert (registry.by_symbol("SOL"), registry.by_symbol("usdc"), registry.by_symbol("BONK")) == (
        SOL,
        USDC,
        None,
    )
    assert (registry.by_mint(USDC.mint), registry.by_mint(USDC.mint.lower())) == (USDC, None)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("SOL", SOL, id="symbol"),
        pytest.param("sol", SOL, id="lower-case symbol"),
        pytest.param(USDC.mint, USDC, id="mint"),
    ],
)
def test_registry_require(key: str, expected: Token) -> None:
    """require accepts a symbol or a mint."""
    assert TokenRegistry([SOL, USDC]).require(key) == expected


def test_registry_require_unknown_raises_key_error() -> None:
    """require names an unknown token in a KeyError."""
    with pytest.raises(KeyError, match="BONK"):
        TokenRegistry([SOL, USDC]).require("BONK")


@pytest.mark.parametrize(
    "tokens",
    [
        pytest.param([SOL, Token("SOL", USDC.mint, 6)], id="same symbol"),
        pytest.param([SOL, Token("WSOL", SOL.mint, 9)], id="same mint"),
    ],
)
def test_registry_refuses_a_token_configured_twice(tokens: list[Token]) -> None:
    """Two tokens may not share a symbol or a mint."""
    with pytest.raises(ValueError, match="configured twice"):
        TokenRegistry(tokens)


def test_registry_iterates_in_configured_order() -> None:
    """Iteration and len follow the tokens as configured."""
    registry = TokenRegistry([USDC, BONK, SOL])
    assert (list(registry), len(registry)) == ([USDC, BONK, SOL], 3)


@pytest.mark.parametrize(
    ("sell", "buy", "expected"),
    [
        pytest.param(SOL.mint, USDC.mint, "SOL/USDC", id="sell first"),
        pytest.param(USDC.mint, SOL.mint, "USDC/SOL", id="reversed"),
    ],
)
def test_pair_name(sell: str, buy: str, expected: str) -> None:
    """pair_name spells a trade as SELL/BUY in symbols."""
    assert TokenRegistry([SOL, USDC]).pair_name(sell, buy) == expected


@pytest.mark.parametrize(
    ("kwargs", "lamports"),
    [
        pytest.param({"signatures": 1}, 5_000, id="one signature"),
        pytest.param({"signatures": 2}, 10_000, id="OTC settlement: taker and maker"),
        pytest.param(
            {"signatures": 1, "compute_unit_limit": 200_000, "unit_price_micro_lamports": 10_000},
            7_000,
            id="priority fee",
        ),
        pytest.param(
            {"signatures": 1, "compute_unit_limit": 3, "unit_price_micro_lamports": 1},
            5_001,
            id="priority rounds up",
        ),
        pytest.param(
            {"signatures": 1, "accounts_created": 1}, 2_044_280, id="rent of a new account"
        ),
    ],
)
def test_leg_cost(kwargs: dict[str, int], lamports: int) -> None:
    """A leg costs its signatures, its priority fee and the rent of the accounts it creates."""
    assert leg_cost_lamports(**kwargs) == lamports


def test_leg_cost_refuses_negative_counts() -> None:
    """A negative count is a programming error, not a discount."""
    with pytest.raises(ValueError):
        leg_cost_lamports(signatures=-1)


@pytest.mark.parametrize(
    ("out", "bps", "fee"), [(1_000_000, 0, 0), (1_000_000, 20, 2_000), (999, 1, 1), (0, 50, 0)]
)
def test_platform_fee(out: int, bps: int, fee: int) -> None:
    """A platform fee is its bps of the output, rounded up so it never flatters a venue."""
    assert platform_fee_out(out, bps) == fee
