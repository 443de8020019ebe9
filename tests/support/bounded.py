"""Calls that could block on a FIFO, run so that blocking fails the test instead of hanging it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def run_bounded(fn: Callable[[], T], fifos: Iterable[Path] = ()) -> T:
    """``fn()``, or a test failure when it is still running after 5 seconds."""
    # Opening a FIFO blocks until the other end opens: fail the test instead of hanging it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(fn)
        try:
            return future.result(timeout=5)
        except TimeoutError:
            for fifo in fifos:
                for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
                    with contextlib.suppress(OSError):
                        os.close(os.open(fifo, flags))
            pytest.fail("blocked on a FIFO")
