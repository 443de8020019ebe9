"""Paper-mode throughput of the real daemon on local venues: intents per second, end to end.

    .venv/bin/python benchmarks/throughput.py --intents 3000 [--database-url URL] [--workers 16]

Generates signed intents into a fresh home (not timed), then times `run --once` in-process
from the first claim to the last result file, and prints a one-row table.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from solders.keypair import Keypair

from agent.config import load_config
from agent.intake.folder.layout import IntakeLayout

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intents", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--invalid-share", type=float, default=0.1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the home (its database)")
    parser.add_argument("--mode", default="paper", choices=["paper", "dry-run", "send"])
    args = parser.parse_args()

    from agent.app.logs import configure_logging
    from benchmarks.common import host_line, machine_line
    from tests.support.agent_home import AgentHome

    # The daemon logs one JSON line per intent; keep that cost, drop the output.
    sink = io.StringIO()
    configure_logging(level="info", stream=sink, json=True)

    home_dir = Path(tempfile.mkdtemp(prefix="otc-bench-"))
    environ = {
        "OTC_AGENT__EXECUTION__MODE": args.mode,
        "OTC_AGENT__EXECUTION__HONOUR_EXECUTION_DELAY": "false",
        "OTC_AGENT__EXECUTION__MAX_WORKERS": str(args.workers),
    }
    if args.database_url:
        environ["DATABASE_URL"] = args.database_url
    config = load_config(REPO / "configs" / "local.toml", home=str(home_dir), environ=environ)
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets(keys_dir=home_dir / "keys")
    IntakeLayout(home.root).ensure()
    home.feed(args.intents, invalid_share=args.invalid_share, seed=99)

    host = host_line(home_dir)
    daemon = home.daemon()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    stats = await daemon.run(once=True)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    if not stats.processed:
        sys.exit("nothing was processed: see the daemon's log")
    # Process CPU (all threads) per intent: steadier than the rate on a busy machine.
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(home_dir / "profile.out"))
        print(f"profile: {home_dir / 'profile.out'}")
    backend = (args.database_url or "sqlite").split(":")[0]
    print(machine_line())
    print(host)
    print(
        "| backend | mode | intents | workers | seconds | intents/s | CPU ms/intent "
        "| filled | rejected | failed |"
    )
    print(
        f"| {backend} | {args.mode} | {stats.processed} | {args.workers} | {elapsed:.2f} | "
        f"{stats.processed / elapsed:.0f} | {cpu_s * 1000 / stats.processed:.2f} | "
        f"{stats.filled} | {stats.rejected} | {stats.failed} |"
    )
    if args.keep or args.profile:
        print(f"home: {home_dir}")
    else:
        shutil.rmtree(home_dir)


if __name__ == "__main__":
    asyncio.run(main())
