"""Shared by the price-layer tests: tokens, saved source responses and the instant they date from."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from agent.domain.tokens import Token

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prices"

# The fixtures' source timestamps sit just before this instant.
NOW = 1_760_000_060.0

SOL = Token(
    "SOL", "So11111111111111111111111111111111111111112", 9, Decimal(150),
    coingecko_id="solana", kraken_pair="SOLUSD", binance_symbol="SOLUSDT",
    pyth_feed_id="ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
)  # fmt: skip
USDC = Token(
    "USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6, Decimal(1),
    coingecko_id="usd-coin", kraken_pair="USDCUSD", binance_symbol="USDCUSDT",
    pyth_feed_id="0xeaa020c61cc479712813461ce153894a96a6c00b21ed0cfc2798d1f9a9e9c94a",
)  # fmt: skip
USDT = Token(
    "USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6, Decimal(1),
    coingecko_id="tether", kraken_pair="USDTZUSD",
    pyth_feed_id="2b89b9dc8fdf9f34709a5b106b472f0f39bb6ca9ce04b0fd7f2e971688e2e53b",
)  # fmt: skip
RAY = Token(
    "RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6, Decimal("2.5"),
    coingecko_id="raydium", binance_symbol="RAYUSDT",
)  # fmt: skip
TOKENS = (SOL, USDC, USDT, RAY)


def fixture(name: str) -> bytes:
    """A saved source response from tests/fixtures/prices."""
    return (FIXTURES / name).read_bytes()


class FakeClock:
    """Wall-clock seconds that only move when a test says so."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
