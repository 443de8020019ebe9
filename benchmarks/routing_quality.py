"""Split-routing quality: the allocation solver against a brute-force oracle and single venues.

    .venv/bin/python benchmarks/routing_quality.py [--intents 1000] [--seed 7] [--steps 400]
        [--samples 16] [--skew 0.6]

The market is benchmarks/market_model.py (configured OTC and localdex pools at static prices
plus a modelled Jupiter). For every intent it runs ``allocate`` (the router), ``brute_force``
(the oracle, a grid of ``amount / steps``), Jupiter alone and the best single venue, all
scored by value_out (expected output less haircut and per-leg fixed cost), and prints:

* the gap to the oracle, ``(oracle - router) / oracle`` in bps, clamped at 0 when the router
  beats the grid; a feasible intent the router calls infeasible counts as a 10,000 bps gap;
* savings against Jupiter alone and against the best single venue, per size bucket;
* min_out violations (router allocations guaranteeing less than min_out, or legs not summing
  to the amount), the share of intents split, and the router's time per intent with and
  without the venues' own pricing ("solver only" still carries the timing wrapper's overhead,
  about 0.3 us per call; garbage collection is off during the timed call).

Targets: median gap < 1 bp, worst gap < 5 bp, no min_out violation.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.domain.allocation import Allocation, Curve, allocate, brute_force  # noqa: E402
from benchmarks.common import percentile, print_table  # noqa: E402
from benchmarks.market_model import Intent, Market  # noqa: E402

BUCKETS = (
    ("$100-1k", Decimal(0), Decimal(1_000)),
    ("$1k-10k", Decimal(1_000), Decimal(10_000)),
    ("$10k-100k", Decimal(10_000), Decimal(100_000)),
    ("$100k-1M", Decimal(100_000), Decimal(1_000_000)),
    ("$1M-2M", Decimal(1_000_000), Decimal("Infinity")),
)
MISSED_GAP = Decimal(10_000)
T = TypeVar("T", Decimal, float)
TARGET_MEDIAN_GAP = Decimal(1)
TARGET_WORST_GAP = Decimal(5)


@dataclass(slots=True)
class Clock:
    """Time and calls spent inside the venues' `outputs`, to report the solver's own cost."""

    seconds: float = 0.0
    calls: int = 0

    def wrap(self, curve: Curve) -> Curve:
        inner = curve.outputs

        def outputs(size: int) -> tuple[int, int] | None:
            self.calls += 1
            started = time.perf_counter()
            try:
                return inner(size)
            finally:
                self.seconds += time.perf_counter() - started

        return replace(curve, outputs=outputs)


@dataclass(slots=True)
class Row:
    intent: Intent
    router: Allocation | None
    oracle: Allocation | None
    jupiter: int | None  # value_out of Jupiter alone, None when it misses min_out
    single: Allocation | None
    seconds: float
    outputs_seconds: float
    calls: int
    gap_bps: Decimal | None


def bps(gain: int, base: int) -> Decimal:
    return Decimal(gain) * 10_000 / Decimal(base)


def gap(router: Allocation | None, oracle: Allocation | None) -> Decimal | None:
    if oracle is None:
        return None if router is None else Decimal(0)
    if router is None:
        return MISSED_GAP
    return max(Decimal(0), bps(oracle.value_out - router.value_out, oracle.value_out))


def jupiter_alone(curves: Sequence[Curve], intent: Intent) -> int | None:
    only = [c for c in curves if c.venue == "jupiter"]
    found = allocate(only, intent.amount, intent.min_out, max_legs=1)
    return None if found is None else found.value_out


def run_intent(market: Market, intent: Intent, steps: int, samples: int) -> Row:
    curves = market.curves(intent)
    clock = Clock()
    timed = [clock.wrap(c) for c in curves]
    # The oracle leaves heaps of garbage; a collection landing inside the timed call would be
    # charged to the router.
    gc.disable()
    started = time.perf_counter()
    router = allocate(timed, intent.amount, intent.min_out, samples=samples)
    seconds = time.perf_counter() - started
    gc.enable()
    oracle = brute_force(curves, intent.amount, intent.min_out, steps=steps)
    return Row(
        intent=intent,
        router=router,
        oracle=oracle,
        jupiter=jupiter_alone(curves, intent),
        single=allocate(curves, intent.amount, intent.min_out, max_legs=1),
        seconds=seconds,
        outputs_seconds=clock.seconds,
        calls=clock.calls,
        gap_bps=gap(router, oracle),
    )


def savings(
    market: Market, rows: Sequence[Row], baseline: Callable[[Row], int | None]
) -> tuple[str, str, str, int]:
    """Median and mean bps and total USD of the router over a baseline value, and how many
    routed intents the baseline could not serve at all (it missed min_out)."""
    pairs = [
        (r.intent.buy, r.router.value_out, base)
        for r in rows
        if r.router is not None and (base := baseline(r)) is not None
    ]
    gains = [bps(value - base, base) for _, value, base in pairs]
    usd = sum((market.usd(buy, value - base) for buy, value, base in pairs), Decimal(0))
    routed = sum(1 for r in rows if r.router is not None)
    mean = f"{statistics.fmean(gains):.2f}" if gains else "-"
    return median(gains), mean, f"{usd:,.2f}", routed - len(pairs)


def bucket_row(market: Market, name: str, rows: Sequence[Row]) -> list[object]:
    routed = [r.router for r in rows if r.router is not None]
    split = sum(1 for a in routed if len(a.legs) > 1)
    vs_jupiter = savings(market, rows, lambda r: r.jupiter)
    vs_single = savings(market, rows, lambda r: None if r.single is None else r.single.value_out)
    share = f"{100 * split / len(routed):.0f}%" if routed else "-"
    return [name, len(rows), len(routed), share, *vs_jupiter, *vs_single]


def violations(row: Row) -> int:
    """Broken promises: guarantee below min_out, legs not summing to the amount, empty legs."""
    a = row.router
    if a is None:
        return 0
    broken = a.guaranteed_out < row.intent.min_out
    broken |= sum(leg.amount_in for leg in a.legs) != row.intent.amount
    broken |= any(leg.amount_in <= 0 for leg in a.legs)
    return int(broken)


def median(values: Sequence[Decimal]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(market: Market, rows: Sequence[Row], steps: int, samples: int) -> bool:
    gaps = [r.gap_bps for r in rows if r.gap_bps is not None]
    missed = sum(1 for r in rows if r.gap_bps == MISSED_GAP)
    both_none = sum(1 for r in rows if r.router is None and r.oracle is None)
    beat = sum(
        1
        for r in rows
        if r.router is not None and (r.oracle is None or r.router.value_out > r.oracle.value_out)
    )
    broken = sum(violations(r) for r in rows)
    median_gap = statistics.median(gaps) if gaps else Decimal(0)
    worst_gap = max(gaps, default=Decimal(0))
    ok_median = median_gap < TARGET_MEDIAN_GAP
    ok_worst = worst_gap < TARGET_WORST_GAP
    ok_broken = broken == 0

    print(f"## Quality against brute_force (steps={steps}), router samples={samples}\n")
    print_table(
        ["metric", "value", "target", "result"],
        [
            ["intents", len(rows), "", ""],
            ["compared (oracle or router feasible)", len(gaps), "", ""],
            ["infeasible for both (min_out unreachable)", both_none, "", ""],
            ["router beats the grid", beat, "", ""],
            ["router infeasible where the oracle is not", missed, "0", verdict(missed == 0)],
            ["median gap to oracle (bps)", f"{median_gap:.4f}", "< 1", verdict(ok_median)],
            ["p99 gap (bps)", f"{percentile(sorted(gaps), 99):.4f}", "", ""],
            ["worst gap to oracle (bps)", f"{worst_gap:.4f}", "< 5", verdict(ok_worst)],
            ["min_out violations", broken, "0", verdict(ok_broken)],
        ],
    )

    print("## Savings by size bucket (value_out, where the baseline meets min_out too)\n")
    print_table(
        [
            "size",
            "intents",
            "routed",
            "split",
            "vs Jupiter median bps",
            "mean bps",
            "total USD",
            "Jupiter alone misses min_out",
            "vs best single median bps",
            "mean bps",
            "total USD",
            "no single venue meets min_out",
        ],
        [
            bucket_row(market, name, [r for r in rows if low <= r.intent.notional_usd < high])
            for name, low, high in BUCKETS
        ],
    )

    routed = [r.router for r in rows if r.router is not None]
    split = sum(1 for a in routed if len(a.legs) > 1)
    per_intent = [r.seconds for r in rows]
    own = [r.seconds - r.outputs_seconds for r in rows]
    print("## Router cost per intent\n")
    print_table(
        ["metric", "value"],
        [
            ["share of routed intents split", f"{100 * split / max(1, len(routed)):.1f}%"],
            ["mean time per intent (ms), venues' pricing included", _ms(per_intent)],
            ["mean time per intent (ms), solver only", _ms(own)],
            ["p99 time per intent (ms), solver only", f"{percentile(sorted(own), 99) * 1000:.3f}"],
            ["mean outputs calls per intent", f"{statistics.fmean(r.calls for r in rows):.1f}"],
            ["max outputs calls per intent", max(r.calls for r in rows)],
        ],
    )
    return ok_median and ok_worst and ok_broken and missed == 0


def _ms(values: Sequence[float]) -> str:
    return f"{statistics.fmean(values) * 1000:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--steps", type=int, default=400, help="oracle grid (amount / steps)")
    parser.add_argument("--samples", type=int, default=16, help="router samples per curve")
    parser.add_argument(
        "--skew",
        type=Decimal,
        default=Decimal(0),
        help="re-split OTC inventories per intent to an imbalance in [-skew, skew] (0..1)",
    )
    args = parser.parse_args(argv)

    market = Market()
    rows = []
    started = time.perf_counter()
    for n, intent in enumerate(market.intents(args.intents, args.seed, args.skew), start=1):
        rows.append(run_intent(market, intent, args.steps, args.samples))
        if n % 100 == 0:
            print(f"{n}/{args.intents} intents ({time.perf_counter() - started:.0f}s)",
                  file=sys.stderr)  # fmt: skip
    print(f"Python {platform.python_version()} on {platform.machine()}; "
          f"{args.intents} intents, seed {args.seed}, OTC skew {args.skew}\n")  # fmt: skip
    return 0 if report(market, rows, args.steps, args.samples) else 1


if __name__ == "__main__":
    sys.exit(main())
