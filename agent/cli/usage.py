"""What every command shares: the usage error (exit 2) and argument types."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

__all__ = ["UsageError", "non_negative_decimal"]


class UsageError(Exception):
    """The command line asks for something impossible; exit 2 with this message."""


def non_negative_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number: {text!r}")
    return value
