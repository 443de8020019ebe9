"""Jupiter requests per routed intent, counted by the fake Jupiter server on loopback.

    .venv/bin/python benchmarks/jupiter_requests.py [--intents 1000] [--modes paper,dry-run]
        [--api v1] [--pairs all] [--localdex] [--invalid-share 0.1] [--no-check]

For each mode, a fresh home on configs/local.toml is given Jupiter as a venue, pointed at
tests/support/fake_jupiter.py (Jupiter's documented /swap/v1 and /swap/v2/build shapes, a
constant-product market per pair at the static prices, 1 bp fee, $60M a side), with the OTC
pools beside it (the venues of configs/devnet.toml and mainnet-dryrun.toml; --localdex adds
the local DEX). The request budget is raised to 1,000/s so that no quote is skipped for want
of budget: what is counted is what the agent asks for, not what a plan allows. ``--pairs all``
lets the fake route every pair of the demo (SOL, USDC, USDT, RAY, as the real Jupiter does);
``sol-usdc`` only the pair tests/e2e/test_jupiter_daemon.py uses, so the rest get 400
NO_ROUTES_FOUND. The daemon (in this process) runs `run --once` over the demo's mix.

The fake logs every request it reads; counts are by endpoint and status from that log.
Definitions, all from SQL after the run:

* routed intent: one the router gave a route to (a row in ``routes``): filled, or failed when
  every leg it tried was declined at fill time. Min_out-unreachable and early rejections are
  not routed, but the quotes they cost are counted, so they raise the ratio;
* quoted intent: one that passed verification and policy and was quoted (a row in ``intents``);
* Jupiter share: routed intents with at least one Jupiter leg (whatever became of it), and
  those whose filled legs include Jupiter.

Target: on average at most 1.5 Jupiter requests per routed intent, in every mode run; the
script exits 1 when it is missed (--no-check only prints). In dry-run without
``venues.jupiter.simulate_rpc``, a Jupiter leg is built and verified but not simulated
("built"), so the instructions request is counted and no mainnet RPC is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.store.models import IntentRow, RouteLegRow, RouteRow  # noqa: E402
from benchmarks.common import (  # noqa: E402
    BenchHome,
    check,
    machine_line,
    prepare_home,
    print_table,
    quiet_logging,
)
from tests.support.fake_jupiter import FakeJupiter  # noqa: E402

TARGET_PER_ROUTED = Decimal("1.5")
DEPTH_USD = Decimal(60_000_000)  # each side of each pair, as in tests/e2e/test_jupiter_daemon.py
FEE_BPS = 1


@dataclass
class Counts:
    mode: str
    submissions: int
    quoted: int
    routed: int
    filled: int
    failed: int
    with_jupiter_leg: int
    filled_on_jupiter: int
    requests: Counter[tuple[str, str, int]]

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def per(self, count: int, of: int) -> str:
        return f"{Decimal(count) / Decimal(of):.3f}" if of else "n/a"

    def share(self, count: int) -> str:
        return f"{Decimal(100 * count) / Decimal(self.routed):.1f}%" if self.routed else "n/a"


def market(bench: BenchHome, fake: FakeJupiter, pairs: str) -> None:
    """A pool per pair of mainnet mints, at the static prices, DEPTH_USD on each side."""
    assert bench.home.config.tokens_config is not None
    tokens = [
        t
        for t in bench.home.config.tokens_config.tokens
        if "mainnet-beta" in t.mints and (pairs == "all" or t.symbol in ("SOL", "USDC"))
    ]
    for a, b in itertools.combinations(tokens, 2):
        reserve_a = int(DEPTH_USD / a.static_usd * 10**a.decimals)
        reserve_b = int(DEPTH_USD / b.static_usd * 10**b.decimals)
        fake.add_pair(
            a.mints["mainnet-beta"], b.mints["mainnet-beta"], reserve_a, reserve_b, FEE_BPS
        )


async def run_mode(mode: str, args: argparse.Namespace) -> Counts:
    fake = await FakeJupiter().start()
    try:
        bench = await prepare_home(
            mode,
            overrides={
                "OTC_AGENT__VENUES__JUPITER__ENABLED": "true",
                "OTC_AGENT__VENUES__JUPITER__BASE_URL": fake.base_url,
                "OTC_AGENT__VENUES__JUPITER__API": args.api,
                "OTC_AGENT__VENUES__JUPITER__RPS": "1000",
                "OTC_AGENT__VENUES__LOCALDEX__ENABLED": "true" if args.localdex else "false",
            },
        )
        market(bench, fake, args.pairs)
        bench.home.feed(args.intents, invalid_share=args.invalid_share, seed=args.seed)
        stats = await bench.home.daemon().run(once=True)
        intents = await bench.home.rows(IntentRow.__table__)
        routes = await bench.home.rows(RouteRow.__table__)
        legs = await bench.home.rows(RouteLegRow.__table__)
    finally:
        await fake.aclose()
    bench.remove()
    routed = {r.intent_id for r in routes}
    jupiter_legs = {leg.intent_id for leg in legs if leg.venue == "jupiter"}
    # A dry-run Jupiter leg without a simulation RPC ends "built": delivered as far as it goes.
    jupiter_fills = {
        leg.intent_id
        for leg in legs
        if leg.venue == "jupiter" and leg.status in ("filled", "built")
    }
    return Counts(
        mode=mode,
        submissions=stats.processed,
        quoted=len(intents),
        routed=len(routed),
        filled=stats.filled,
        failed=stats.failed,
        with_jupiter_leg=len(jupiter_legs & routed),
        filled_on_jupiter=len(jupiter_fills & routed),
        requests=Counter((r.method, r.path, r.status) for r in fake.requests),
    )


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=1000)
    parser.add_argument("--modes", default="paper,dry-run", help="comma-separated")
    parser.add_argument("--api", default="v1", choices=["v1", "v2"])
    parser.add_argument("--pairs", default="all", choices=["all", "sol-usdc"])
    parser.add_argument("--localdex", action="store_true", help="enable the local DEX too")
    parser.add_argument("--invalid-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--no-check", action="store_true", help="print only; exit 0")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"paper", "dry-run"}
    if unknown:
        parser.error(f"--modes: {', '.join(sorted(unknown))} (paper and dry-run only)")

    quiet_logging()
    results = [await run_mode(mode, args) for mode in modes]

    venues = "jupiter + otc" + (" + localdex" if args.localdex else "")
    print(machine_line())
    print(
        f"{args.intents} intents of the demo mix (invalid share {args.invalid_share:g}), "
        f"venues {venues}, Jupiter API {args.api}, fake routes {args.pairs} pairs\n"
    )
    print_table(
        [
            "mode", "intents", "quoted", "routed", "filled", "failed", "Jupiter requests",
            "per routed intent", "per quoted intent", "routed with a Jupiter leg",
            "routed filled on Jupiter",
        ],
        [
            [
                c.mode, c.submissions, c.quoted, c.routed, c.filled, c.failed, c.total,
                c.per(c.total, c.routed), c.per(c.total, c.quoted),
                c.share(c.with_jupiter_leg), c.share(c.filled_on_jupiter),
            ]
            for c in results
        ],
    )  # fmt: skip
    print_table(
        ["mode", "endpoint", "status", "requests", "per routed intent"],
        [
            [c.mode, f"{method} {path}", status, n, c.per(n, c.routed)]
            for c in results
            for (method, path, status), n in sorted(c.requests.items())
        ],
    )
    ok = True
    for c in results:
        ratio = Decimal(c.total) / Decimal(c.routed) if c.routed else Decimal("Infinity")
        ok &= check(
            ratio <= TARGET_PER_ROUTED,
            f"{c.mode}: {c.per(c.total, c.routed)} Jupiter requests per routed intent "
            f"(target ≤ {TARGET_PER_ROUTED})",
            enforce=not args.no_check,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
