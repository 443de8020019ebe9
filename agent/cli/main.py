"""The `otc-agent` command line: its arguments, and the daemon, demo, localnet and quote commands.

Exit codes: 0 success, 1 a failed check, 2 bad configuration or usage, 3 a service away.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry

from agent.app.assembly import build_runtime
from agent.app.logs import configure_logging
from agent.app.malloc_arenas import limit_malloc_arenas
from agent.cli import intents, market, store_commands
from agent.cli.usage import UsageError, non_negative_decimal
from agent.config import AgentConfig, ConfigError, load_config
from agent.settlement.settler import SettlementInDoubt
from agent.store.database import StoreUnavailable
from onchain.cluster import ClusterUnavailable
from onchain.keys import KeyFileError, generate_keypair_file

__all__ = ["main"]

_DESCRIPTION = (
    "The otc-agent daemon and its tools. Exit codes: 0 success, 1 a failed check, "
    "2 bad configuration or usage, 3 the database or the cluster is away."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otc-agent", description=_DESCRIPTION)
    parser.add_argument("--config", type=Path, help="main TOML file (default configs/local.toml)")
    parser.add_argument("--home", help="folder for all mutable state (default: the config's home)")
    parser.add_argument(
        "--log-level",
        default=None,
        help="default info (warning for the demo, whose table is the output)",
    )
    parser.add_argument("--log-json", action="store_true", help="JSON log lines even on a terminal")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the daemon")
    run.add_argument("--once", action="store_true", help="process what is pending, then exit")
    run.add_argument(
        "--allow-mainnet-send",
        action="store_true",
        help="with execution.allow_mainnet_send, permit send mode on mainnet-beta",
    )

    demo = commands.add_parser("demo", help="run the daemon on a generated mix of intents")
    demo.add_argument("--duration", type=float, default=60, help="seconds; 0 runs until Ctrl-C")
    demo.add_argument("--rate", type=float, default=40, help="intents per second")
    demo.add_argument("--seed", type=int, default=None, help="make the generated mix repeatable")
    demo.add_argument(
        "--to",
        choices=("inbox", "stream"),
        default="inbox",
        help="drop intents into the inbox, or add them to the Redis stream ([intake.redis])",
    )

    report = commands.add_parser("report", help="outcomes, venue shares and savings from SQL")
    report.add_argument("--json", action="store_true")

    keygen = commands.add_parser("keygen", help="write a new Solana CLI keypair file (mode 0600)")
    keygen.add_argument("--outfile", type=Path, required=True)
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")

    wallet = commands.add_parser("wallet", help="the wallet registry").add_subparsers(
        dest="wallet_command", required=True
    )
    add = wallet.add_parser("add", help="register or update a wallet (no restart needed)")
    add.add_argument("pubkey")
    add.add_argument(
        "--keypair", default="", help="path of the wallet's keypair file, if held here"
    )
    add.add_argument("--max-notional-usd", type=non_negative_decimal, default=Decimal(100_000))
    add.add_argument("--daily-notional-usd", type=non_negative_decimal, default=Decimal(1_000_000))
    add.add_argument(
        "--pairs", default="", help="comma-separated, e.g. SOL/USDC,SOL/USDT (default all)"
    )
    listing = wallet.add_parser("list", help="registered wallets")
    listing.add_argument("--json", action="store_true")

    intent = commands.add_parser(
        "intent", help="create, verify and show intent files, and look up their outcomes"
    ).add_subparsers(dest="intent_command", required=True)
    new = intent.add_parser("new", help="sign an intent and drop it into the inbox")
    new.add_argument("--keypair", type=Path, required=True)
    new.add_argument("--sell", required=True, help="symbol or mint")
    new.add_argument("--buy", required=True, help="symbol or mint")
    new.add_argument(
        "--amount", type=non_negative_decimal, required=True, help="in units of the sold token"
    )
    limit = new.add_mutually_exclusive_group()
    limit.add_argument(
        "--min-out", type=non_negative_decimal, help="minimum to receive, in bought-token units"
    )
    limit.add_argument("--max-slippage-bps", type=int)
    new.add_argument("--ttl", type=int, default=300, help="seconds until the intent expires")
    new.add_argument(
        "--nonce", type=int, default=None, help="default: microseconds since the epoch"
    )
    new.add_argument("--venues", default="", help="comma-separated subset of jupiter,otc,localdex")
    where = new.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=None, help="folder (default: the inbox)")
    where.add_argument(
        "--queue",
        metavar="REDIS_URL",
        nargs="?",
        const="",
        help="add it to a Redis stream instead; without a URL, intake.redis.url (which keeps a "
        "password off the command line)",
    )
    new.add_argument("--stream", help="with --queue: the stream (default intake.redis.stream)")
    verify = intent.add_parser("verify", help="check an intent file's signature and schema")
    verify.add_argument("file", type=Path)
    show = intent.add_parser("show", help="pretty-print an intent file")
    show.add_argument("file", type=Path)
    result = intent.add_parser(
        "result", help="the recorded outcome of an intent id, claim id or stream entry id"
    )
    result.add_argument("key", help="intent id, claim id (folder) or entry id (stream)")
    result.add_argument(
        "--all", action="store_true", help="every submission of it, oldest first (JSON lines)"
    )

    localnet = commands.add_parser(
        "localnet",
        help="serve the local cluster over JSON-RPC on loopback (a small test validator)",
    )
    localnet.add_argument("--port", type=int, default=8899)
    localnet.add_argument("--host", default="127.0.0.1")

    prices = commands.add_parser(
        "prices", help="USD prices from the configured sources, with failover"
    )
    prices.add_argument("--json", action="store_true")

    quote = commands.add_parser(
        "quote",
        help="every venue's quote and the allocation the router would fill; nothing executes",
    )
    quote.add_argument("--sell", required=True, help="symbol or mint")
    quote.add_argument("--buy", required=True, help="symbol or mint")
    quote.add_argument(
        "--amount", type=non_negative_decimal, required=True, help="in units of the sold token"
    )
    quote.add_argument(
        "--max-slippage-bps", type=int, default=None, help="default: intake.default_slippage_bps"
    )
    quote.add_argument("--json", action="store_true")

    tokens = commands.add_parser("tokens", help="the configured cluster's tokens")
    tokens.add_argument("--json", action="store_true")

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = args.log_level or ("warning" if args.command == "demo" else "info")
    configure_logging(level=level, json=True if args.log_json else None)
    try:
        if args.command == "keygen":
            return _keygen(args)
        config = load_config(args.config, home=args.home)
        return _dispatch(args, config)
    except (ConfigError, UsageError, KeyFileError) as exc:
        print(f"otc-agent: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"otc-agent: cannot reach the database ({exc})", file=sys.stderr)
        return 3
    except ClusterUnavailable as exc:
        print(f"otc-agent: cannot reach the cluster ({exc})", file=sys.stderr)
        return 3
    except SettlementInDoubt as exc:
        print(
            f"otc-agent: a sent settlement awaits the cluster ({exc}); nothing was recorded "
            "for it, and the next start settles it by its signature",
            file=sys.stderr,
        )
        return 3


def _dispatch(args: argparse.Namespace, config: AgentConfig) -> int:
    command = args.command
    if command == "run":
        return asyncio.run(_run(config, once=args.once, allow_mainnet_send=args.allow_mainnet_send))
    if command == "demo":
        from agent.cli.demo import run_demo

        if args.to == "stream" and not config.intake.redis.enabled:
            raise UsageError("--to stream needs [intake.redis] enabled = true")
        if _sends_on_mainnet(config):
            # The demo signs generated intents with generated wallets: never with real funds.
            raise ConfigError(
                config.source_dir,
                "execution.mode",
                "the demo never sends on mainnet-beta; use dry-run or paper",
            )
        return asyncio.run(
            run_demo(
                config,
                duration=args.duration,
                rate=args.rate,
                seed=args.seed,
                to_stream=args.to == "stream",
            )
        )
    if command == "report":
        return asyncio.run(store_commands.report(config, as_json=args.json))
    if command == "wallet":
        return asyncio.run(store_commands.wallet(config, args))
    if command == "intent":
        return intents.intent(config, args)
    if command == "localnet":
        return asyncio.run(_localnet(config, args.host, args.port))
    if command == "prices":
        return asyncio.run(market.prices(config, as_json=args.json))
    if command == "tokens":
        return market.tokens(config, as_json=args.json)
    if command == "quote":
        from agent.cli.quote_view import QuoteRefused, quote_trade

        try:
            return asyncio.run(
                quote_trade(
                    config,
                    sell=args.sell,
                    buy=args.buy,
                    amount=args.amount,
                    max_slippage_bps=args.max_slippage_bps,
                    as_json=args.json,
                )
            )
        except QuoteRefused as exc:
            raise UsageError(str(exc)) from None
    if command == "db":
        return asyncio.run(store_commands.db_upgrade(config))
    raise UsageError(f"unknown command {command}")


def _keygen(args: argparse.Namespace) -> int:
    keypair = generate_keypair_file(args.outfile, overwrite=args.force)
    print(f"wrote {args.outfile} (mode 0600) for {keypair.pubkey()}")
    return 0


def _sends_on_mainnet(config: AgentConfig) -> bool:
    return config.cluster.name == "mainnet-beta" and config.execution.mode == "send"


def _check_mode(config: AgentConfig, *, allow_mainnet_send: bool) -> None:
    """Sending on mainnet takes two switches: the config flag and the command-line flag."""
    execution = config.execution
    if _sends_on_mainnet(config) and not (execution.allow_mainnet_send and allow_mainnet_send):
        raise ConfigError(
            config.source_dir,
            "execution.allow_mainnet_send",
            "send mode on mainnet-beta needs execution.allow_mainnet_send = true "
            "and --allow-mainnet-send",
        )


async def _run(config: AgentConfig, *, once: bool, allow_mainnet_send: bool = False) -> int:
    from agent.app.daemon import Daemon

    _check_mode(config, allow_mainnet_send=allow_mainnet_send)
    limit_malloc_arenas()  # before any worker thread exists
    runtime = build_runtime(config, registry=CollectorRegistry())
    daemon = Daemon(runtime, serve_metrics=not once)
    if not once:
        daemon.install_signal_handlers()
    stats = await daemon.run(once=once)
    print(json.dumps(stats.__dict__))
    return 0


async def _localnet(config: AgentConfig, host: str, port: int) -> int:
    """Seed a LiteSVM from the books and wallets in SQL, as the daemon would, and serve it."""
    from onchain.localnet import LocalnetServer

    runtime = build_runtime(config, registry=CollectorRegistry())
    await runtime.start_books()
    chain = await runtime.local_chain()
    await runtime.aclose()
    # The clock ticks so that blockhashes age and confirmations can expire, as on a validator.
    server = LocalnetServer(chain.cluster, host, port, slot_time_s=0.4)  # type: ignore[arg-type]
    await server.start()
    print(
        f"localnet on {server.url} (Ctrl-C to stop); point the daemon at it with "
        f"OTC_AGENT__CLUSTER__URL={server.url}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.aclose()
    return 0
