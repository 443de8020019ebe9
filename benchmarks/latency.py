"""Decision latency at a fixed arrival rate: paper mode, local venues, the daemon as its own process.

    .venv/bin/python benchmarks/latency.py [--rate 200] [--seconds 30] [--warmup 3]
        [--workers 16] [--invalid-share 0.1] [--database-url URL] [--py-spy FILE] [--no-check]

Before anything is timed, the demo's mix of signed intents (one in ten invalid) is written to a
staging folder beside the inbox, and `otc-agent run` (paper mode, OTC pools and the local DEX,
SQLite in the home unless --database-url, every scheduled job on) is started and waited for
until /readyz answers. This process then renames one file at a time into the inbox at the fixed
rate (the writer's side of the folder protocol: written elsewhere, renamed in) and notes
``arrival = time.time()`` right after each rename. The first --warmup seconds of arrivals are
processed but left out of the figures.

Latency is read back from SQL afterwards, on the same wall clock (``time.time()`` in both
processes); with --keep, the arrivals stay in the home as ``arrivals.csv`` (file name, unix
time) beside the database, so every figure can be checked with a query:

* arrival → recorded: ``submissions.finished_at - arrival``. ``finished_at`` is the time the
  daemon stamps on the terminal record (status, reason, route and fill) as the group commit
  that writes it starts; the commit itself and the result file in out/ follow it. Over every
  submission (filled, failed and rejected).
* arrival → read: ``submissions.received_at - arrival``: inbox notification, feeder, claim
  (a rename into work/) and read.
* read → decided: ``routes.decision_latency_s``, the daemon's own claim-to-routing-decision time
  (perf_counter), for intents that were routed (filled, or failed after routing);
  arrival → decided adds the two: the decision latency the target applies to, everything
  from the file's arrival in the inbox to the routing decision.

Also printed: the arrival rate achieved (to show the producer kept up) and how far it fell
behind its schedule at worst. Target: p99 arrival → decided ≤ 25 ms at 200 intents/s; the
script exits 1 when it is missed (--no-check only prints). With --py-spy FILE, py-spy (from the
same virtualenv) records the daemon during the timed arrivals as a raw flame-graph file.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.store.models import RouteRow, SubmissionRow  # noqa: E402
from benchmarks.common import (  # noqa: E402
    AgentProcess,
    BenchHome,
    LongLivedMix,
    Staging,
    check,
    host_line,
    machine_line,
    percentile,
    prepare_home,
    print_table,
)

TARGET_RATE = 200.0
TARGET_P99_MS = 25.0
# Intents must still be valid when processed: generation, warm-up, run and drain all fit this,
# below the configured intake.max_ttl_s (600 s) that caps how far ahead not_after may be.
TTL_S = 590
MAX_TIMED_S = 480


def generate(
    bench: BenchHome, staging: Staging, count: int, invalid_share: float, seed: int
) -> list[str]:
    mix = LongLivedMix(bench, seed, TTL_S)
    names = []
    for _ in range(count):
        _kind, stem, envelope = mix.next(invalid_share)
        name = f"{stem}.json"
        staging.write(name, envelope)
        names.append(name)
    return names


def produce(staging: Staging, names: Sequence[str], rate: float) -> tuple[dict[str, float], float]:
    """Rename each file into the inbox on a fixed schedule; (arrival times, worst lag in s)."""
    arrivals: dict[str, float] = {}
    worst_lag = 0.0
    start = time.perf_counter()
    for index, name in enumerate(names):
        due = start + index / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        staging.drop(name)
        arrivals[name] = time.time()
        worst_lag = max(worst_lag, time.perf_counter() - due)
    return arrivals, worst_lag


def spy(daemon: AgentProcess, output: Path, seconds: float) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [
        str(py_spy), "record", "--pid", str(daemon.pid), "--format", "raw", "--threads",
        "--idle", "--nonblocking", "--duration", str(max(1, round(seconds))),
        "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def latency_row(measure: str, outcome: str, seconds: Sequence[float]) -> list[object]:
    ordered = sorted(seconds)
    if not ordered:
        return [measure, outcome, 0, "-", "-", "-", "-"]
    cells = [percentile(ordered, p) * 1000 for p in (50, 90, 99, 100)]
    return [measure, outcome, len(ordered), *(f"{c:.1f}" for c in cells)]


async def measure(
    bench: BenchHome, arrivals: dict[str, float], measured: set[str]
) -> tuple[list[list[object]], float]:
    """The latency table and the p99 of arrival → recorded over every measured submission."""
    submissions = [s for s in await bench.home.rows(SubmissionRow.__table__) if s.name in measured]
    decided_s = {
        r.intent_id: float(r.decision_latency_s) for r in await bench.home.rows(RouteRow.__table__)
    }
    missing = len(measured) - len(submissions)
    if missing:
        raise RuntimeError(f"{missing} measured submissions have no terminal record")
    recorded: dict[str, list[float]] = {"all": []}
    read: list[float] = []
    decision: list[float] = []
    to_decision: list[float] = []
    for row in submissions:
        arrival = arrivals[row.name]
        total = row.finished_at.timestamp() - arrival
        waited = row.received_at.timestamp() - arrival
        recorded["all"].append(total)
        recorded.setdefault(row.status, []).append(total)
        read.append(waited)
        # Only a routed intent's own route: a replayed id names another submission's intent.
        if row.status in ("filled", "failed") and row.intent_id in decided_s:
            decision.append(decided_s[row.intent_id])
            to_decision.append(waited + decided_s[row.intent_id])
    rows = [
        latency_row("arrival → recorded", outcome, values)
        for outcome, values in sorted(recorded.items(), key=lambda kv: (kv[0] != "all", kv[0]))
    ]
    rows += [
        latency_row("arrival → read", "all", read),
        latency_row("read → decided", "routed", decision),
        latency_row("arrival → decided", "routed", to_decision),
    ]
    return rows, percentile(sorted(to_decision), 99) * 1000


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="intents per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured arrivals")
    parser.add_argument("--warmup", type=float, default=3.0, help="arrivals left out first")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--invalid-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--py-spy", type=Path, default=None, metavar="FILE")
    parser.add_argument("--keep", action="store_true", help="keep the home folder")
    parser.add_argument("--no-check", action="store_true", help="print only; exit 0")
    args = parser.parse_args(argv)
    if args.warmup + args.seconds > MAX_TIMED_S:
        parser.error(f"--warmup + --seconds must stay under {MAX_TIMED_S} s (the intents' TTL)")

    bench = await prepare_home(
        "paper",
        overrides={"OTC_AGENT__EXECUTION__MAX_WORKERS": str(args.workers)},
        database_url=args.database_url,
    )
    staging = Staging(bench)
    warmup_count = round(args.rate * args.warmup)
    count = warmup_count + round(args.rate * args.seconds)
    print(f"generating {count} signed intents in {staging.folder}", file=sys.stderr)
    names = generate(bench, staging, count, args.invalid_share, args.seed)
    host = host_line(bench.path)

    daemon = AgentProcess(bench, "run", metrics=True)
    with daemon.running():
        daemon.wait_ready()
        profiler = spy(daemon, args.py_spy, args.warmup + args.seconds) if args.py_spy else None
        print(f"dropping {count} intents at {args.rate:g}/s", file=sys.stderr)
        arrivals, worst_lag = produce(staging, names, args.rate)
        staging.wait_drained(timeout_s=300)
        if profiler is not None:
            profiler.wait()
    with (bench.path / "arrivals.csv").open("w") as out:
        out.writelines(f"{name},{at:.6f}\n" for name, at in arrivals.items())
    measured = names[warmup_count:]
    first, last = arrivals[measured[0]], arrivals[measured[-1]]
    achieved = (len(measured) - 1) / (last - first) if len(measured) > 1 else float("nan")
    rows, p99_ms = await measure(bench, arrivals, set(measured))

    backend = (args.database_url or "sqlite").split(":")[0].split("+")[0]
    print(machine_line())
    print(host)
    print(
        f"paper mode, local venues (otc + localdex), {backend}, {args.workers} workers; "
        f"{args.rate:g} intents/s offered for {args.seconds:g} s after a {args.warmup:g} s "
        f"warm-up; invalid share {args.invalid_share:g}"
    )
    print(
        f"arrival rate achieved: {achieved:.1f} intents/s over the measured window "
        f"(producer at most {worst_lag * 1000:.1f} ms behind its schedule)\n"
    )
    print_table(["latency", "outcome", "intents", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)
    if profiler is not None:
        print(f"py-spy profile of the daemon: {args.py_spy}")
    if args.keep:
        print(f"home kept: {bench.path} (daemon log: {daemon.log_path})")
    else:
        bench.remove()
    enforce = not args.no_check
    # A producer that fell behind offered less than the rate: the figures would flatter.
    kept_up = check(
        achieved >= 0.95 * args.rate,
        f"arrivals at {achieved:.1f}/s, within 5% of the offered {args.rate:g}/s",
        enforce=enforce,
    )
    below = "" if args.rate >= TARGET_RATE else f"; below {TARGET_RATE:g}/s, so not the target's"
    ok = check(
        p99_ms <= TARGET_P99_MS,
        f"p99 arrival → decided {p99_ms:.1f} ms at {args.rate:g} intents/s "
        f"(target ≤ {TARGET_P99_MS:g} ms at {TARGET_RATE:g}/s{below})",
        enforce=enforce,
    )
    return 0 if ok and kept_up else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
