"""`otc-agent intent`: sign a new intent into the inbox or the Redis stream, verify one, show one,
and print the outcome SQL recorded for one."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from agent.app.builders import build_tokens
from agent.cli.intent_builder import IntentDraft, new_nonce, sign_intent, write_intent
from agent.cli.store_commands import with_store
from agent.cli.usage import UsageError
from agent.config import AgentConfig
from agent.domain.outcomes import IntentRejected
from agent.domain.tokens import from_base_units, to_base_units
from agent.pipeline.verification import verify_submission
from onchain.keys import load_keypair

__all__ = ["intent"]


def intent(config: AgentConfig, args: argparse.Namespace) -> int:
    if args.intent_command == "new":
        return _intent_new(config, args)
    if args.intent_command == "result":
        return asyncio.run(_intent_result(config, args.key, every=args.all))
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        intent, message, signature = verify_submission(raw)
    except IntentRejected as rejection:
        print(f"{rejection.reason.value}: {rejection.detail}")
        return 1
    if args.intent_command == "verify":
        print(f"ok: intent {intent.id} signed by {intent.wallet}")
        return 0
    document: dict[str, Any] = {"signature": signature, "message": json.loads(message)}
    tokens = build_tokens(config)
    sell, buy = tokens.by_mint(intent.sell_mint), tokens.by_mint(intent.buy_mint)
    if sell is not None and buy is not None:
        # The same amounts in token units, for people; the signed message keeps base units.
        document["readable"] = {
            "sell": f"{from_base_units(intent.amount, sell.decimals)} {sell.symbol}",
            "min_out": None
            if intent.min_out is None
            else f"{from_base_units(intent.min_out, buy.decimals)} {buy.symbol}",
        }
    print(json.dumps(document, indent=2))
    return 0


def _intent_new(config: AgentConfig, args: argparse.Namespace) -> int:
    tokens = build_tokens(config)
    try:
        sell, buy = tokens.require(args.sell), tokens.require(args.buy)
        amount = to_base_units(args.amount, sell.decimals)
        min_out = to_base_units(args.min_out, buy.decimals) if args.min_out is not None else None
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    venues = tuple(v.strip() for v in args.venues.split(",") if v.strip()) or None
    keypair = load_keypair(args.keypair)
    draft = IntentDraft(
        cluster=config.cluster.name,
        sell_mint=sell.mint,
        buy_mint=buy.mint,
        amount=amount,
        not_after=int(time.time()) + args.ttl,
        nonce=args.nonce if args.nonce is not None else new_nonce(),
        min_out=min_out,
        max_slippage_bps=args.max_slippage_bps,
        venues=venues,
    )
    intent_id, envelope = sign_intent(keypair, draft)
    if args.queue is not None:
        stream = args.stream or config.intake.redis.stream
        url = args.queue or config.intake.redis.url
        entry_id = asyncio.run(_enqueue(url, stream, envelope))
        print(f"{stream} {entry_id} {intent_id}")
        return 0
    out = args.out or (config.intake_root / "inbox")
    print(write_intent(out, intent_id, envelope))
    return 0


async def _enqueue(url: str, stream: str, envelope: bytes) -> str:
    import redis.asyncio as aioredis

    from agent.intake.stream.client import StreamUnavailable
    from agent.intake.stream.submit import submit

    client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    try:
        return await submit(client, stream, envelope)
    except StreamUnavailable as exc:
        raise UsageError(f"cannot add to {stream}: {exc}") from None
    finally:
        await client.aclose()


async def _intent_result(config: AgentConfig, key: str, *, every: bool) -> int:
    """Print the result document recorded for ``key`` (the latest, or all of them); exit 1
    when nothing finished under it."""
    from agent.intake.folder import intake as directory
    from agent.intake.stream import intake as stream
    from agent.store.intents import submissions_for

    store = await with_store(config)
    try:
        found = await store.read(submissions_for, key, (directory.SOURCE, stream.SOURCE))
    finally:
        await store.aclose()
    if not found:
        print(f"no finished submission has intent id, claim id or entry id {key!r}")
        return 1
    if every:
        for record in found:
            print(record.result.rstrip("\n"))
    else:
        print(json.dumps(json.loads(found[-1].result), indent=2))
    return 0
