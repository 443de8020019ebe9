"""Wallet policy: pairs, token resolution, trade checks and the money arithmetic behind them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.domain.intent import IntentMessage
from agent.domain.outcomes import IntentRejected, Reason
from agent.domain.policy import (
    TradeTerms,
    WalletPolicy,
    check_trade,
    micros,
    notional_usd,
    reference_out,
    resolve_tokens,
)
from agent.domain.tokens import Token, TokenRegistry

PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)

SOL = Token("SOL", "So11111111111111111111111111111111111111112", 9, Decimal(150))
USDC = Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6, Decimal(1))
USDT = Token("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6, Decimal(1))
RAY = Token("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6, Decimal("2.5"))
TOKENS = TokenRegistry([SOL, USDC, USDT, RAY])
UNKNOWN_MINT = "11111111111111111111111111111112"
WALLET = "4kmSTKNmabNWDUFHG9qEnkFuV7dHPMc67x2fC94ZTxpE"

INTENT = IntentMessage(
    id="7a74dec1-bbad-4cf9-89ef-a0ed655935c3", cluster="local", wallet=WALLET,
    sell_mint=SOL.mint, buy_mint=USDC.mint, amount=10**9, min_out=None, max_slippage_bps=None,
    nonce=1, not_after=1_795_000_000, venues=None,
)  # fmt: skip
POLICY = WalletPolicy(
    pubkey=WALLET, max_notional_usd=Decimal(1_000), daily_notional_usd=Decimal(10_000)
)
LIMITS = {"default_slippage_bps": 50, "max_slippage_bps": 2_000}


def trade(
    intent: IntentMessage = INTENT,
    policy: WalletPolicy = POLICY,
    sell: Token = SOL,
    buy: Token = USDC,
    prices: tuple[Decimal, Decimal] = (Decimal(150), Decimal(1)),
    **limits: int,
) -> TradeTerms:
    return check_trade(intent, policy, sell, buy, *prices, **{**LIMITS, **limits})


# Pairs


@pytest.mark.parametrize(
    ("pairs", "sell", "buy", "allowed"),
    [
        pytest.param(frozenset(), "SOL", "RAY", True, id="no pairs allows every pair"),
        pytest.param(frozenset({"SOL/USDC"}), "SOL", "USDC", True, id="as written"),
        pytest.param(frozenset({"SOL/USDC"}), "USDC", "SOL", True, id="reversed"),
        pytest.param(frozenset({"SOL/USDC"}), "SOL", "USDT", False, id="other pair"),
        pytest.param(frozenset({"SOL/USDC"}), "USDT", "USDC", False, id="shares one side"),
        pytest.param(frozenset({"SOL/USDC", "USDC/USDT"}), "USDT", "USDC", True, id="second"),
        pytest.param(frozenset({"SOL/USDC"}), "sol", "usdc", False, id="case sensitive"),
    ],
)
def test_allows_pair_is_unordered(
    pairs: frozenset[str], sell: str, buy: str, allowed: bool
) -> None:
    """A listed pair allows trades in both directions; an empty list allows every pair."""
    policy = replace(POLICY, pairs=pairs)
    assert policy.allows_pair(sell, buy) is allowed


# Token resolution


@pytest.mark.parametrize(
    ("sell_mint", "buy_mint", "amount", "reason"),
    [
        pytest.param(UNKNOWN_MINT, USDC.mint, 1, Reason.UNKNOWN_MINT, id="unknown sell"),
        pytest.param(SOL.mint, UNKNOWN_MINT, 1, Reason.UNKNOWN_MINT, id="unknown buy"),
        pytest.param(UNKNOWN_MINT, UNKNOWN_MINT, 0, Reason.UNKNOWN_MINT, id="unknown before same"),
        pytest.param(SOL.mint, SOL.mint, 1, Reason.SAME_MINT, id="same mint"),
        pytest.param(SOL.mint, SOL.mint, 0, Reason.SAME_MINT, id="same before zero"),
        pytest.param(SOL.mint, USDC.mint, 0, Reason.ZERO_AMOUNT, id="zero amount"),
    ],
)
def test_resolve_tokens_rejects(sell_mint: str, buy_mint: str, amount: int, reason: Reason) -> None:
    """Unknown mints, identical mints and zero amounts are refused, in that order."""
    intent = replace(INTENT, sell_mint=sell_mint, buy_mint=buy_mint, amount=amount)
    with pytest.raises(IntentRejected) as info:
        resolve_tokens(intent, TOKENS)
    assert info.value.reason is reason


def test_resolve_tokens_names_the_unknown_mint() -> None:
    """The rejection detail says which mint is not configured."""
    with pytest.raises(IntentRejected, match=UNKNOWN_MINT):
        resolve_tokens(replace(INTENT, buy_mint=UNKNOWN_MINT), TOKENS)


def test_resolve_tokens_returns_sell_then_buy() -> None:
    """Known, distinct mints resolve to their tokens in (sell, buy) order."""
    intent = replace(INTENT, sell_mint=USDC.mint, buy_mint=RAY.mint)
    assert resolve_tokens(intent, TOKENS) == (USDC, RAY)


# Trade checks


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param(
            {"policy": replace(POLICY, pairs=frozenset({"SOL/USDT"}))},
            Reason.PAIR_NOT_ALLOWED,
            id="pair not allowed",
        ),
        pytest.param(
            {"policy": replace(POLICY, pairs=frozenset({"SOL/USDT"})), "prices": (0, 0)},
            Reason.PAIR_NOT_ALLOWED,
            id="pair checked before price",
        ),
        pytest.param({"prices": (Decimal(0), Decimal(1))}, Reason.NO_PRICE, id="sell price 0"),
        pytest.param({"prices": (Decimal(150), Decimal(0))}, Reason.NO_PRICE, id="buy price 0"),
        pytest.param({"prices": (Decimal(-1), Decimal(1))}, Reason.NO_PRICE, id="negative"),
        pytest.param({"prices": (Decimal("NaN"), Decimal(1))}, Reason.NO_PRICE, id="NaN"),
        pytest.param({"prices": (Decimal(150), Decimal("Infinity"))}, Reason.NO_PRICE, id="inf"),
        pytest.param(
            {"prices": (Decimal(0), Decimal(1)), "intent": replace(INTENT, max_slippage_bps=9_999)},
            Reason.NO_PRICE,
            id="price checked before slippage",
        ),
        pytest.param(
            {"intent": replace(INTENT, max_slippage_bps=2_001)},
            Reason.SLIPPAGE_TOO_HIGH,
            id="intent slippage above limit",
        ),
        pytest.param(
            {"default_slippage_bps": 300, "max_slippage_bps": 200},
            Reason.SLIPPAGE_TOO_HIGH,
            id="default slippage above limit",
        ),
        pytest.param(
            {"intent": replace(INTENT, max_slippage_bps=2_001, amount=10**12)},
            Reason.SLIPPAGE_TOO_HIGH,
            id="slippage checked before notional",
        ),
        # 6.666666667 SOL * $150 = $1000.00000005, just above the $1000 limit.
        pytest.param(
            {"intent": replace(INTENT, amount=6_666_666_667)},
            Reason.NOTIONAL_LIMIT,
            id="notional a fraction of a cent above the limit",
        ),
        pytest.param(
            {"intent": replace(INTENT, amount=10**12, min_out=1)},
            Reason.NOTIONAL_LIMIT,
            id="notional limit despite explicit min_out",
        ),
    ],
)
def test_check_trade_rejects(changes: dict[str, object], reason: Reason) -> None:
    """Each policy rule rejects with its own reason, and the first failing rule wins."""
    with pytest.raises(IntentRejected) as info:
        trade(**changes)  # type: ignore[arg-type]
    assert info.value.reason is reason


@pytest.mark.parametrize(
    ("intent", "limits", "sell", "buy", "prices", "min_out", "slippage", "fair"),
    [
        # 1 SOL at $150 is 150 USDC; the default 50 bps leaves 150_000_000 * 0.995.
        pytest.param(INTENT, {}, SOL, USDC, (150, 1), 149_250_000, 50, 150_000_000, id="default"),
        pytest.param(
            replace(INTENT, max_slippage_bps=0),
            {},
            SOL,
            USDC,
            (150, 1),
            150_000_000,
            0,
            150_000_000,
            id="zero slippage",
        ),
        pytest.param(
            replace(INTENT, max_slippage_bps=2_000),
            {},
            SOL,
            USDC,
            (150, 1),
            120_000_000,
            2_000,
            150_000_000,
            id="slippage at the limit",
        ),
        pytest.param(
            replace(INTENT, max_slippage_bps=10_000),
            {"max_slippage_bps": 10_000},
            SOL,
            USDC,
            (150, 1),
            0,
            10_000,
            150_000_000,
            id="full slippage",
        ),
        # 150.123456789 * 10**6 = 150_123_456.789 -> 150_123_456; * 0.995 = 149_372_838.72.
        pytest.param(
            INTENT,
            {},
            SOL,
            USDC,
            ("150.123456789", 1),
            149_372_838,
            50,
            150_123_456,
            id="rounded down twice",
        ),
        # An explicit min_out binds as signed, even above the reference price.
        pytest.param(
            replace(INTENT, min_out=151_000_000, max_slippage_bps=10),
            {},
            SOL,
            USDC,
            (150, 1),
            151_000_000,
            10,
            150_000_000,
            id="explicit min_out",
        ),
        # 150 USDC at $1 is 1 SOL at $150.
        pytest.param(
            replace(INTENT, sell_mint=USDC.mint, buy_mint=SOL.mint, amount=150_000_000),
            {},
            USDC,
            SOL,
            (1, 150),
            995_000_000,
            50,
            10**9,
            id="USDC to SOL",
        ),
    ],
)
def test_check_trade_fixes_min_out(
    intent: IntentMessage,
    limits: dict[str, int],
    sell: Token,
    buy: Token,
    prices: tuple[object, object],
    min_out: int,
    slippage: int,
    fair: int,
) -> None:
    """min_out is the signed one, else the reference output less the slippage, rounded down."""
    terms = trade(intent, POLICY, sell, buy, (Decimal(prices[0]), Decimal(prices[1])), **limits)  # type: ignore[arg-type]
    assert (terms.min_out, terms.slippage_bps, terms.reference_out) == (min_out, slippage, fair)


def test_check_trade_allows_notional_equal_to_the_limit() -> None:
    """A trade worth exactly the per-trade limit passes, and its notional is reported exactly."""
    terms = trade(
        replace(INTENT, amount=6_666_666_666),
        policy=replace(POLICY, max_notional_usd=Decimal("999.9999999")),
    )
    assert (terms.amount, terms.notional_usd) == (6_666_666_666, Decimal("999.9999999"))


def test_check_trade_returns_the_tokens_it_was_given() -> None:
    """The terms carry the sell and buy tokens and the signed amount."""
    terms = trade(replace(INTENT, amount=2 * 10**9))
    assert (terms.sell, terms.buy, terms.amount, terms.notional_usd) == (
        SOL, USDC, 2 * 10**9, Decimal(300),
    )  # fmt: skip


# Arithmetic


@pytest.mark.parametrize(
    ("usd", "expected"),
    [
        pytest.param(Decimal(0), 0, id="zero"),
        pytest.param(Decimal(225), 225_000_000, id="whole dollars"),
        pytest.param(Decimal("1.5"), 1_500_000, id="fraction"),
        pytest.param(Decimal("0.000001"), 1, id="one micro"),
        pytest.param(Decimal("0.0000019"), 1, id="rounded down below a micro"),
        pytest.param(Decimal("1.9999999"), 1_999_999, id="never rounded up"),
        pytest.param(Decimal("1E+6"), 10**12, id="exponent form"),
    ],
)
def test_micros(usd: Decimal, expected: int) -> None:
    """Dollars become integer micro-dollars, rounded down."""
    assert micros(usd) == expected


@pytest.mark.parametrize(
    ("amount", "token", "price", "expected"),
    [
        pytest.param(1_500_000_000, SOL, Decimal(150), Decimal(225), id="1.5 SOL"),
        pytest.param(1, SOL, Decimal(150), Decimal("0.00000015"), id="one lamport"),
        pytest.param(3_000_000, RAY, Decimal("2.5"), Decimal("7.5"), id="3 RAY"),
        pytest.param(0, USDC, Decimal(1), Decimal(0), id="nothing"),
    ],
)
def test_notional_usd(amount: int, token: Token, price: Decimal, expected: Decimal) -> None:
    """Notional is the human amount times the USD price, exactly."""
    assert notional_usd(amount, token, price) == expected


@pytest.mark.parametrize(
    ("amount", "sell", "buy", "prices", "expected"),
    [
        pytest.param(10**9, SOL, USDC, ("150", "1"), 150_000_000, id="1 SOL in USDC"),
        pytest.param(150_000_000, USDC, SOL, ("1", "150"), 10**9, id="150 USDC in SOL"),
        # 1e-6 USDC / 150 = 6.67e-9 SOL = 6.67 lamports -> 6.
        pytest.param(1, USDC, SOL, ("1", "150"), 6, id="one micro-USDC"),
        pytest.param(3_000_000, RAY, USDC, ("2.5", "1"), 7_500_000, id="3 RAY in USDC"),
        # 1 / 1.0001 = 0.99990000999900009999... USDT -> 999_900 base units.
        pytest.param(10**6, USDC, USDT, ("1", "1.0001"), 999_900, id="stable depeg"),
        pytest.param(2**63 - 1, SOL, USDC, ("150", "1"), 1_383_505_805_528_216_371, id="max"),
    ],
)
def test_reference_out(
    amount: int, sell: Token, buy: Token, prices: tuple[str, str], expected: int
) -> None:
    """The reference output converts at the oracle prices and rounds down to a base unit."""
    assert reference_out(amount, sell, buy, Decimal(prices[0]), Decimal(prices[1])) == expected


prices_in_cents = st.integers(min_value=1, max_value=10**7)


@PROPERTY
@given(
    amount=st.integers(min_value=1, max_value=10**15),
    sell_cents=prices_in_cents,
    buy_cents=prices_in_cents,
    slippage=st.integers(min_value=0, max_value=10_000),
)
def test_min_out_matches_exact_integer_arithmetic(
    amount: int, sell_cents: int, buy_cents: int, slippage: int
) -> None:
    """Derived min_out equals floor(floor(exact reference) * (1 - slippage)), never above it."""
    sell_usd, buy_usd = Decimal(sell_cents) / 100, Decimal(buy_cents) / 100
    exact = Fraction(amount * sell_cents * 10**USDC.decimals, 10**SOL.decimals * buy_cents)
    fair = exact.numerator // exact.denominator
    terms = check_trade(
        replace(INTENT, amount=amount, max_slippage_bps=slippage),
        replace(POLICY, max_notional_usd=Decimal(10**30)),
        SOL, USDC, sell_usd, buy_usd, default_slippage_bps=0, max_slippage_bps=10_000,
    )  # fmt: skip
    assert terms.reference_out == fair
    assert terms.min_out == fair * (10_000 - slippage) // 10_000
