"""The Jupiter client's fixtures, from tests/support."""

from tests.support.jupiter_client import _clock, _fake, _make_client

__all__ = ["_clock", "_fake", "_make_client"]
