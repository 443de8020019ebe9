"""The agent as a separate process, for tests that kill it or keep a chain alive beside it,
and polling for what it does (failing at once when it exits)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO


def spawn_agent(
    config_dir: Path,
    home: Path,
    log: IO[bytes],
    *args: str,
    mode: str,
    url: str = "",
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`otc-agent ARGS` with the test's config and home, no execution delays and no metrics
    port (unless ``extra_env``, applied last, says otherwise)."""
    env = {
        **os.environ,
        "OTC_AGENT__EXECUTION__HONOUR_EXECUTION_DELAY": "false",
        "OTC_AGENT__METRICS__ENABLED": "false",
        "OTC_AGENT__EXECUTION__MODE": mode,
        **(extra_env or {}),
    }
    if url:
        env["OTC_AGENT__CLUSTER__URL"] = url
    command = [
        sys.executable,
        "-m",
        "agent.cli",
        "--config",
        str(config_dir / "local.toml"),
        "--home",
        str(home),
        "--log-json",
        *args,
    ]
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


async def wait_for(
    done: Callable[[], bool],
    what: str,
    *,
    within_s: float,
    alive: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    step_s: float = 0.02,
) -> None:
    """Poll ``done`` until it holds; fail if ``alive`` exits first or time runs out."""
    deadline = time.monotonic() + within_s
    while not done():
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"exited with {alive.returncode} before {what}\n{tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(step_s)


def tail(log: Path | None, size: int = 3000) -> str:
    """The end of a process log, for a failure message."""
    return log.read_text(errors="replace")[-size:] if log is not None else ""
