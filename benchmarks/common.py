"""What the benchmark scripts share: the machine line, markdown tables, a prepared agent home,
the daemon (or `otc-agent localnet`) as a separate process, and the inbox's drop protocol.

Each script puts the repository on ``sys.path`` and imports this module as
``benchmarks.common``; it needs only what ``make venv`` installs (``tests/support`` is plain
project code, no test extras).

Every home is built from ``configs/local.toml`` with :data:`BENCH_ENV` on top: static prices
(no price API's latency or outage in the figures) and no simulated OTC execution delay (a
market maker's deliberate wait, not the agent's work). The same overrides go to any spawned
process, and the host's own ``OTC_AGENT_*`` variables are kept out of it, so the process runs
exactly the configuration the script built.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from solders.keypair import Keypair

from agent.cli.demo import IntentMix
from agent.cli.intent_builder import IntentDraft
from agent.config import load_config
from agent.intake.folder.layout import IntakeLayout, is_ignored, list_claims
from tests.support.agent_home import AgentHome
from tests.support.ports import free_port

__all__ = [
    "BENCH_ENV",
    "CONFIG_DIR",
    "REPO",
    "AgentProcess",
    "BenchHome",
    "LongLivedMix",
    "Staging",
    "check",
    "host_line",
    "machine_line",
    "percentile",
    "prepare_home",
    "print_table",
    "quiet_logging",
    "rss_kib",
]

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T", float, Decimal)
CONFIG_DIR = REPO / "configs"
BENCH_ENV = {
    "OTC_AGENT__PRICES__SOURCES": '["static"]',
    "OTC_AGENT__EXECUTION__HONOUR_EXECUTION_DELAY": "false",
}


def machine_line() -> str:
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )


def host_line(directory: Path, *, fsyncs: int = 100) -> str:
    """How fast this host is right now, beside the figures: the same code's figures move with
    the interpreter's speed and with the disk's fsync latency from one day to the next, so a
    result can only be compared with another measured under similar conditions."""
    started = time.perf_counter()
    total = 0
    for step in range(10_000_000):
        total += step
    loop_s = time.perf_counter() - started
    probe = Path(tempfile.mkdtemp(prefix=".fsync-probe-", dir=directory))
    latencies_ms: list[float] = []
    try:
        folder = os.open(probe, os.O_RDONLY)
        try:
            for n in range(fsyncs):
                # What the intake does per result: a small new file, then its folder.
                handle = os.open(probe / f"{n}.json", os.O_CREAT | os.O_WRONLY, 0o600)
                os.write(handle, b"x" * 512)
                began = time.perf_counter()
                os.fsync(handle)
                os.fsync(folder)
                latencies_ms.append((time.perf_counter() - began) * 1000)
                os.close(handle)
        finally:
            os.close(folder)
    finally:
        shutil.rmtree(probe)
    latencies_ms.sort()
    return (
        f"host now: a 10-million-step Python loop in {loop_s:.2f} s; file + folder fsync on "
        f"{directory}: p50 {percentile(latencies_ms, 50):.2f} ms, "
        f"p99 {percentile(latencies_ms, 99):.2f} ms"
    )


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def percentile(ordered: Sequence[T], percent: float) -> T:
    """Nearest rank on sorted values: a value that was actually observed, never interpolated."""
    if not ordered:
        raise ValueError("no values")
    rank = math.ceil(percent / 100 * len(ordered))
    return ordered[min(len(ordered), max(rank, 1)) - 1]


def check(ok: bool, line: str, *, enforce: bool) -> bool:
    """Print the target's verdict; False only when it is missed and enforced."""
    print(f"{'target met' if ok else 'TARGET MISSED'}: {line}")
    return ok or not enforce


def quiet_logging() -> None:
    """An in-process daemon still renders its JSON log line per intent (that cost is part of
    the work), into /dev/null instead of the terminal."""
    from agent.app.logs import configure_logging

    configure_logging(level="info", stream=Path(os.devnull).open("w"), json=True)  # noqa: SIM115


def rss_kib(pid: int | str = "self") -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


@dataclass
class BenchHome:
    """A throw-away home with the desk and treasury wallets registered, and its overrides."""

    home: AgentHome
    environ: dict[str, str]

    @property
    def path(self) -> Path:
        return self.home.config.home_path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


async def prepare_home(
    mode: str, *, overrides: Mapping[str, str] | None = None, database_url: str | None = None
) -> BenchHome:
    """A fresh home under the temp folder, configured like configs/local.toml plus BENCH_ENV."""
    path = Path(tempfile.mkdtemp(prefix="otc-bench-"))
    environ = {**BENCH_ENV, "OTC_AGENT__EXECUTION__MODE": mode, **(overrides or {})}
    if database_url:
        environ["DATABASE_URL"] = database_url
    config = load_config(CONFIG_DIR / "local.toml", home=str(path), environ=environ)
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets(keys_dir=path / "keys")
    IntakeLayout(home.root).ensure()
    return BenchHome(home, environ)


class LongLivedMix(IntentMix):
    """The demo's mix, with intents valid for ``ttl_s`` instead of the demo's two minutes, so
    that files generated before a long timed run have not expired when they are processed."""

    def __init__(self, bench: BenchHome, seed: int, ttl_s: int) -> None:
        home = bench.home
        super().__init__(
            home.runtime().tokens,
            home.config.cluster.name,
            home.desk,
            home.treasury,
            Keypair.from_seed(bytes([9]) * 32),
            random.Random(seed),
        )
        self.ttl_s = ttl_s

    def _draft(self, **overrides: object) -> IntentDraft:
        overrides.setdefault("not_after", int(time.time()) + self.ttl_s)
        return super()._draft(**overrides)


class Staging:
    """The writer's side of the folder protocol: a file is written whole under a staging folder
    on the same file system, then renamed into the inbox, so the intake never sees it partial.
    (No fsync: durability across a power cut is not what is measured.)"""

    def __init__(self, bench: BenchHome) -> None:
        self.layout = IntakeLayout(bench.home.root)
        self.folder = bench.path / "staging"
        self.folder.mkdir(exist_ok=True)

    def write(self, name: str, data: bytes) -> None:
        (self.folder / name).write_bytes(data)

    def drop(self, name: str) -> None:
        (self.folder / name).rename(self.layout.inbox / name)

    def drained(self) -> bool:
        """Nothing waits in the inbox and nothing is claimed: every file has been finished."""
        inbox = [p for p in self.layout.inbox.iterdir() if not is_ignored(p.name)]
        return not inbox and not list_claims(self.layout)

    def wait_drained(self, timeout_s: float, poll_s: float = 0.05) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.drained():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the inbox was not drained within {timeout_s:.0f} s")
            time.sleep(poll_s)


class AgentProcess:
    """`otc-agent ARGS` as a child process with the home's configuration; output to a log file
    in the home. With ``metrics``, the daemon's metrics server listens on a free loopback port
    (readiness is polled there)."""

    def __init__(self, bench: BenchHome, *args: str, metrics: bool = False) -> None:
        self.log_path = bench.path / f"{args[0]}.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("OTC_AGENT") and k != "DATABASE_URL"
        }
        env |= bench.environ
        self.port = free_port() if metrics else None
        env["OTC_AGENT__METRICS__ENABLED"] = "true" if metrics else "false"
        if self.port is not None:
            env["OTC_AGENT__METRICS__LISTEN"] = f"127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "agent.cli", "--config", str(CONFIG_DIR / "local.toml"),
            "--home", str(bench.path), "--log-json", *args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the agent exited with {self.process.returncode}:\n{tail}")

    def get(self, path: str) -> str:
        assert self.port is not None, "started without metrics"
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._alive()
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.get("/readyz")
                return
            time.sleep(0.05)
        raise TimeoutError(f"the daemon was not ready within {timeout_s:.0f} s")

    def wait_for_output(self, text: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while text.encode() not in self.log_path.read_bytes():
            self._alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} from the agent within {timeout_s:.0f} s")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (finish what is in hand, then exit), SIGKILL if it does not."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    @contextlib.contextmanager
    def running(self) -> Iterator[AgentProcess]:
        try:
            yield self
        finally:
            self.stop()
