"""Resident memory of the daemon over 100,000 intents: paper mode, local venues, one long run.

    .venv/bin/python benchmarks/memory.py [--intents 100000] [--chunk 5000] [--warmup 10000]
        [--workers 16] [--invalid-share 0.1] [--database-url URL] [--no-check]

`otc-agent run` (paper mode, OTC pools and the local DEX, SQLite in the home unless
--database-url) runs as its own process for the whole benchmark, with its scheduled jobs
(replenishment, rebalancing, price refresh, snapshots) on as in production. This process feeds
it the demo's mix (one in ten invalid) in chunks: it writes --chunk signed intents to a staging
folder while the daemon idles, renames them all into the inbox, waits until the inbox and work/
are empty, then reads the daemon's VmRSS and VmHWM (peak) from /proc/<pid>/status. The inbox
never holds more than one chunk.

Growth is (RSS after the last chunk - RSS once --warmup intents are done) / the latter. The
SQLite file and the done/, rejected/ and out/ folders grow all along: that is disk (and page
cache), not the daemon's resident memory. Each chunk's own rate is shown too (the time from
the first rename to the drain), which shows whether the growing database slows the daemon.
Target: growth ≤ 10%; the script exits 1 when it is missed (--no-check only prints).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import (  # noqa: E402
    AgentProcess,
    LongLivedMix,
    Staging,
    check,
    machine_line,
    prepare_home,
    print_table,
    rss_kib,
)

TARGET_GROWTH_PCT = 10.0
TTL_S = 590  # below intake.max_ttl_s; a chunk is processed long before it expires


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=10_000, help="intents before the baseline")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--invalid-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the home folder")
    parser.add_argument("--no-check", action="store_true", help="print only; exit 0")
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.intents:
        parser.error("--warmup must be between 0 and --intents")

    bench = await prepare_home(
        "paper",
        overrides={"OTC_AGENT__EXECUTION__MAX_WORKERS": str(args.workers)},
        database_url=args.database_url,
    )
    staging = Staging(bench)
    mix = LongLivedMix(bench, args.seed, TTL_S)
    daemon = AgentProcess(bench, "run", metrics=True)
    samples: list[tuple[int, int, int, float]] = []  # (processed, rss, hwm, chunk seconds)
    with daemon.running():
        daemon.wait_ready()
        samples.append((0, *rss_kib(daemon.pid), 0.0))
        processed = 0
        while processed < args.intents:
            size = min(args.chunk, args.intents - processed)
            names = []
            for _ in range(size):
                _kind, stem, envelope = mix.next(args.invalid_share)
                names.append(f"{stem}.json")
                staging.write(names[-1], envelope)
            started = time.perf_counter()
            for name in names:
                staging.drop(name)
            staging.wait_drained(timeout_s=600, poll_s=0.1)
            elapsed = time.perf_counter() - started
            processed += size
            samples.append((processed, *rss_kib(daemon.pid), elapsed))
            print(f"{processed}/{args.intents}: RSS {mib(samples[-1][1])} MiB", file=sys.stderr)
    database = bench.path / "otc-agent.db"
    disk = f"{database.stat().st_size / 2**20:.0f} MiB" if database.exists() else "n/a"

    baseline = next(s for s in samples if s[0] >= args.warmup)
    final = samples[-1]
    growth = (final[1] - baseline[1]) / baseline[1] * 100
    backend = (args.database_url or "sqlite").split(":")[0].split("+")[0]
    print(machine_line())
    print(
        f"paper mode, local venues (otc + localdex), {backend}, {args.workers} workers; "
        f"{args.intents} intents in chunks of {args.chunk}, invalid share {args.invalid_share:g}; "
        f"daemon pid {daemon.pid}, SQLite file at the end: {disk}\n"
    )
    rows = [
        [
            n,
            mib(rss),
            mib(hwm),
            f"{seconds:.1f}" if n else "-",
            f"{(n - samples[i - 1][0]) / seconds:.0f}" if n else "-",
        ]
        for i, (n, rss, hwm, seconds) in enumerate(samples)
    ]
    print_table(["intents processed", "RSS MiB", "peak MiB", "chunk s", "chunk intents/s"], rows)
    print(
        f"RSS after warm-up ({baseline[0]} intents): {mib(baseline[1])} MiB; "
        f"after {final[0]}: {mib(final[1])} MiB; growth {growth:+.1f}%"
    )
    if args.keep:
        print(f"home kept: {bench.path} (daemon log: {daemon.log_path})")
    else:
        bench.remove()
    ok = check(
        growth <= TARGET_GROWTH_PCT,
        f"RSS growth {growth:+.1f}% from {baseline[0]} to {final[0]} intents "
        f"(target ≤ {TARGET_GROWTH_PCT:g}%)",
        enforce=not args.no_check,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
