"""The agent as a separate process, for tests that kill it or keep a chain alive beside it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
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
