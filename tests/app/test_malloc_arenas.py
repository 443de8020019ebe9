"""The daemon caps glibc's malloc arenas unless the operator already chose a number."""

from __future__ import annotations

import ctypes.util
import platform

import pytest

from agent.app.malloc_arenas import limit_malloc_arenas


def test_an_operator_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """With MALLOC_ARENA_MAX in the environment nothing is changed."""
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or ctypes.util.find_library("c") is None,
    reason="mallopt is glibc's",
)
def test_glibc_takes_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """On glibc the cap is set (mallopt answers 1)."""
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True
