"""Fixtures of the intake's file-system tests: an intake root, and both ways to move a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.intake import renames
from agent.intake.layout import IntakeLayout


@pytest.fixture
def layout(tmp_path: Path) -> IntakeLayout:
    layout = IntakeLayout(tmp_path / "intake")
    layout.ensure()
    return layout


@pytest.fixture(params=["renameat2", "link_fallback"])
def move_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "renameat2":
        if renames._renameat2 is None:
            pytest.skip("libc has no renameat2")
    else:
        monkeypatch.setattr(renames, "_renameat2", None)
    return request.param
