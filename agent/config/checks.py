"""Checks every configuration file shares: the cluster names and value rules, each raising
:class:`~agent.config.typed_build.InvalidValue` with the problem in words."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from solders.pubkey import Pubkey

from agent.config.typed_build import InvalidValue

__all__ = [
    "CLUSTERS",
    "ClusterName",
    "check_bps",
    "check_http_url",
    "check_positive",
    "check_pubkey",
]

ClusterName = Literal["local", "devnet", "mainnet-beta"]
CLUSTERS: tuple[str, ...] = ("local", "devnet", "mainnet-beta")


def check_positive(name: str, value: float | int | Decimal) -> None:
    if value <= 0:
        raise InvalidValue(name, f"must be greater than 0 (got {value})")


def check_pubkey(name: str, value: str) -> None:
    try:
        Pubkey.from_string(value)
    except ValueError:
        raise InvalidValue(name, f"is not a base58 public key ({value!r})") from None


def check_bps(name: str, value: int | Decimal, *, upper: int = 10_000) -> None:
    if not 0 <= value <= upper:
        raise InvalidValue(name, f"must be between 0 and {upper} basis points (got {value})")


def check_http_url(name: str, value: str) -> None:
    if not value.startswith(("https://", "http://")):
        raise InvalidValue(name, f"must be an http(s) URL (got {value!r})")
