"""Settlement throughput against `otc-agent localnet` over JSON-RPC, in dry-run and in send.

    .venv/bin/python benchmarks/settlement.py [--intents 1000] [--modes dry-run,send]
        [--workers 16] [--invalid-share 0.1] [--no-check]

For each mode: a fresh home on configs/local.toml with ``cluster.url`` set to a free loopback
port; `otc-agent localnet` on that port as its own process (seeded from the home's books and
wallets, like the step-by-step in docs/execution.md); the demo's mix of signed intents in the inbox; then
the daemon, in this process, timed from `run --once`'s start to its return, as
benchmarks/throughput.py times it on the in-process SVM. Every OTC and local-DEX fill is one
settlement transaction: in dry-run the daemon builds and signs it and asks the localnet to
simulate it (``simulateTransaction``, no state change); in send it sends it
(``sendTransaction``) and confirms it by polling ``getSignatureStatuses``, the chain moving.

Settled legs are rows of ``route_legs`` with status ``filled`` and a settlement transaction
(simulated successfully in dry-run, confirmed on the chain in send); failed legs (last look,
simulation errors, expiry) are counted apart. Settled legs/s divides by the same wall time as
intents/s. The issue sets no target here; the script exits 1 only when a mode settled nothing
(--no-check only prints).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.store.models import RouteLegRow  # noqa: E402
from benchmarks.common import (  # noqa: E402
    AgentProcess,
    check,
    machine_line,
    prepare_home,
    print_table,
    quiet_logging,
)
from tests.support.ports import free_port  # noqa: E402


async def run_mode(mode: str, args: argparse.Namespace) -> list[object]:
    port = free_port()
    bench = await prepare_home(
        mode,
        overrides={
            "OTC_AGENT__CLUSTER__URL": f"http://127.0.0.1:{port}",
            "OTC_AGENT__EXECUTION__MAX_WORKERS": str(args.workers),
        },
    )
    localnet = AgentProcess(bench, "localnet", "--port", str(port))
    with localnet.running():
        localnet.wait_for_output("localnet on")
        bench.home.feed(args.intents, invalid_share=args.invalid_share, seed=args.seed)
        daemon = bench.home.daemon()
        started = time.perf_counter()
        stats = await daemon.run(once=True)
        elapsed = time.perf_counter() - started
    legs = await bench.home.rows(RouteLegRow.__table__)
    if args.keep:
        print(f"{mode}: home kept at {bench.path} (localnet log: {localnet.log_path})")
    else:
        bench.remove()
    outcomes = Counter(
        "settled" if leg.status == "filled" and leg.transaction else leg.status for leg in legs
    )
    settled = outcomes["settled"]
    return [
        mode, stats.processed, args.workers, f"{elapsed:.2f}", f"{stats.processed / elapsed:.0f}",
        stats.filled, stats.rejected, stats.failed, settled, outcomes["failed"],
        f"{settled / elapsed:.0f}",
    ]  # fmt: skip


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=1000)
    parser.add_argument("--modes", default="dry-run,send", help="comma-separated")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--invalid-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--keep", action="store_true", help="keep the home folders")
    parser.add_argument("--no-check", action="store_true", help="print only; exit 0")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"dry-run", "send"}
    if unknown:
        parser.error(f"--modes: {', '.join(sorted(unknown))} (dry-run and send only)")

    quiet_logging()
    rows = [await run_mode(mode, args) for mode in modes]
    print(machine_line())
    print(
        f"local cluster served by `otc-agent localnet` (own process, JSON-RPC on loopback); "
        f"local venues (otc + localdex); SQLite; invalid share {args.invalid_share:g}\n"
    )
    print_table(
        [
            "mode", "intents", "workers", "seconds", "intents/s", "filled", "rejected",
            "failed", "settled legs", "failed legs", "settled legs/s",
        ],
        rows,
    )  # fmt: skip
    ok = True
    for row in rows:
        ok &= check(
            int(str(row[8])) > 0,
            f"{row[0]}: {row[8]} legs settled",
            enforce=not args.no_check,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
