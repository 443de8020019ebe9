"""What every atheris harness here shares: corpus folders made, then libFuzzer's loop."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import atheris


def fuzz(test_one_input: Callable[[bytes], None]) -> None:
    for argument in sys.argv[1:]:
        if not argument.startswith("-"):
            Path(argument).mkdir(parents=True, exist_ok=True)  # libFuzzer wants corpus folders
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
