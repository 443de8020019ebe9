"""Jupiter as a venue: quotes for the router, and verified swap transactions for the executor.

Quoting asks ``/quote`` (v1) or ``/swap/v2/build`` (v2, which also returns the instructions)
and never waits for request budget beyond ``max_budget_wait_s`` or the intent's deadline:
a budget-limited Jupiter sits the intent out, with the reason recorded, and the router
takes another venue. Errors become quote misses named by what happened (``no_route``,
``budget_exhausted``, ``rate_limited``, ``unavailable``, ``circuit_open``, ``bad_payload``,
``unauthorised``); a 401/403 switches the venue off until restart, because every further
request would be refused too.

Building a leg (dry-run and send) fetches the instructions for the quote, verifies them
against what the wallet's intent authorised (:mod:`onchain.swap_verification`) and compiles
the v0 message with its lookup tables. Nothing is signed here: the executor signs only what
this module returns, and this module returns only what passed every check.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import structlog
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from sqlalchemy import Connection

from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.venues.base import LegFailed
from agent.venues.jupiter.client import JupiterClient, SwapPlan
from agent.venues.jupiter.errors import (
    BadPayload,
    BudgetExhausted,
    CircuitOpen,
    JupiterError,
    NoRoute,
    RateLimited,
    Rejected,
    Unauthorised,
    Unavailable,
)
from agent.venues.jupiter.models import QuoteResponse, parse_quote
from onchain.cluster import Blockhash, Cluster, ClusterError
from onchain.jupiter_program import UndecodableSwap, with_slippage
from onchain.lookup_tables import resolve_lookup_tables
from onchain.swap_verification import (
    DEFAULT_ALLOWED_PROGRAMS,
    SwapExpectation,
    SwapRefused,
    VerifiedSwap,
    verify_message,
    verify_swap_instructions,
)
from onchain.transactions import LAMPORTS_PER_SIGNATURE, MAX_TRANSACTION_SIZE

__all__ = [
    "BuiltSwap",
    "JupiterVenue",
    "SwapOrder",
    "SwapSettings",
    "error_kind",
    "swap_slippage_bps",
]

log = structlog.get_logger("agent.venues.jupiter")

VENUE = "jupiter"
# A swap has one signer: the wallet.
SIGNATURES = 1
# Halve maxAccounts on each re-quote when the transaction is too large, down to this floor.
MIN_MAX_ACCOUNTS = 16
PLANS_KEPT = 1_024
# The runtime's default per-transaction limit when no SetComputeUnitLimit is present.
DEFAULT_UNIT_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class SwapSettings:
    max_budget_wait_s: float = 1.0
    quote_ttl_s: float = 20.0
    platform_fee_bps: int = 0
    max_accounts: int = 64
    compute_unit_price_micro_lamports: int | None = None  # None: Jupiter chooses, within the cap
    max_compute_unit_price_micro_lamports: int = 1_000_000
    allowed_programs: frozenset[Pubkey] = DEFAULT_ALLOWED_PROGRAMS


@dataclass(frozen=True, slots=True)
class SwapOrder:
    """What the wallet's signed intent authorises for one Jupiter leg."""

    wallet: str
    sell_mint: str
    buy_mint: str
    amount_in: int
    min_out: int  # the leg's share of the signed min_out
    max_slippage_bps: int


@dataclass(frozen=True, slots=True)
class BuiltSwap:
    """A verified, compiled, unsigned swap: the only thing the executor will sign for Jupiter."""

    quote: Quote  # the quote the transaction was built for (a re-quote may replace the first)
    message: MessageV0
    verified: VerifiedSwap
    last_valid_block_height: int
    size: int  # serialised bytes once signed

    @property
    def fee_lamports(self) -> int:
        """Base fee plus the priority fee the verified compute-budget instructions set."""
        limit = self.verified.compute_unit_limit or DEFAULT_UNIT_LIMIT
        price = self.verified.compute_unit_price_micro_lamports or 0
        return SIGNATURES * LAMPORTS_PER_SIGNATURE + math.ceil(limit * price / 1_000_000)


def error_kind(error: JupiterError) -> str:
    """The stable name of an error's kind: quote misses, logs and metric labels use it."""
    kinds: tuple[tuple[type[JupiterError], str], ...] = (
        (NoRoute, "no_route"),
        (BudgetExhausted, "budget_exhausted"),
        (RateLimited, "rate_limited"),
        (CircuitOpen, "circuit_open"),
        (Unavailable, "unavailable"),
        (BadPayload, "bad_payload"),
        (Unauthorised, "unauthorised"),
        (Rejected, "rejected"),
    )
    for cls, kind in kinds:
        if isinstance(error, cls):
            return kind
    return "error"


class JupiterVenue:
    name = VENUE

    def __init__(
        self,
        client: JupiterClient,
        settings: SwapSettings,
        *,
        lookup_cluster: Cluster | None = None,
        mainnet_mints: Mapping[str, str] | None = None,
        on_error: Callable[[str], None] = lambda _kind: None,
        on_refusal: Callable[[str], None] = lambda _check: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.settings = settings
        # A mainnet RPC (jupiter.simulate_rpc): lookup tables and a blockhash for v1 legs.
        self.lookup_cluster = lookup_cluster
        # Jupiter knows mainnet mints only: off mainnet, each token is quoted and built under
        # its mainnet mint (a devnet intent for USDC is priced as mainnet USDC).
        self._mints = dict(mainnet_mints or {})
        self._on_error = on_error
        self._on_refusal = on_refusal
        self._clock = clock
        self.disabled: str | None = None  # why the venue is off (401/403), None while on
        # v2 quotes come with their instructions; kept for the leg until it is built.
        self._plans: OrderedDict[str, SwapPlan] = OrderedDict()

    @property
    def up(self) -> bool:
        return self.disabled is None and self.client.breaker_state != "open"

    # --- quotes -------------------------------------------------------------------------------
    async def quote(self, request: QuoteRequest, now: float) -> list[Quote | QuoteMiss]:
        if self.disabled is not None:
            return [QuoteMiss(VENUE, VENUE, "unauthorised", self.disabled)]
        wait = max(0.0, min(self.settings.max_budget_wait_s, request.not_after - now))
        sell, buy = self._mint(request.sell_mint), self._mint(request.buy_mint)
        if sell is None or buy is None:
            return [QuoteMiss(VENUE, VENUE, "no_route", "the pair has no mainnet mint")]
        request = replace(request, sell_mint=sell, buy_mint=buy)
        try:
            if self.client.api == "v2" and request.taker:
                plan = await self.client.swap_plan(
                    request.sell_mint, request.buy_mint, request.amount, request.taker,
                    request.slippage_bps, max_accounts=self.settings.max_accounts,
                    max_wait_s=wait,
                )  # fmt: skip
                response = plan.quote
            else:
                plan = None
                response = await self.client.quote(
                    request.sell_mint, request.buy_mint, request.amount, request.slippage_bps,
                    max_accounts=self.settings.max_accounts, max_wait_s=wait,
                )  # fmt: skip
            _check_answers(response, request.sell_mint, request.buy_mint, request.amount)
        except JupiterError as error:
            return [self._miss(error)]
        quote = self._to_quote(response, now, request.min_out)
        if plan is not None:
            self._keep(quote, plan)
        return [quote]

    def _mint(self, mint: str) -> str | None:
        return self._mints.get(mint) if self._mints else mint

    def _on_mainnet(self, order: SwapOrder) -> SwapOrder:
        sell, buy = self._mint(order.sell_mint), self._mint(order.buy_mint)
        assert sell is not None and buy is not None, "quoted, so both mints map"
        return replace(order, sell_mint=sell, buy_mint=buy)

    def _miss(self, error: JupiterError) -> QuoteMiss:
        kind = error_kind(error)
        self._on_error(kind)
        if isinstance(error, Unauthorised):
            self.disabled = str(error)
            log.error("jupiter_disabled", error=str(error))
        elif isinstance(error, BadPayload | Rejected):
            log.error("jupiter_bad_answer", kind=kind, error=str(error))
        return QuoteMiss(VENUE, VENUE, kind, str(error))

    def _to_quote(self, response: QuoteResponse, now: float, min_out: int) -> Quote:
        labels = [step.swap_info.label for step in response.route_plan]
        fee_bps = response.platform_fee.fee_bps if response.platform_fee else 0
        slippage = swap_slippage_bps(response.out_amount, min_out, response.slippage_bps)
        guaranteed = response.other_amount_threshold
        if slippage != response.slippage_bps:
            guaranteed = response.out_amount * (10_000 - slippage) // 10_000
        return Quote(
            venue=VENUE,
            source=VENUE,
            amount_in=response.in_amount,
            expected_out=response.out_amount,
            guaranteed_out=guaranteed,
            fee_bps=Decimal(fee_bps),
            price_impact_bps=(response.price_impact_pct * 10_000).quantize(Decimal("0.0001")),
            quoted_at=now,
            expires_at=now + self.settings.quote_ttl_s,
            signatures=SIGNATURES,
            firm=False,
            price_source="jupiter",
            details={
                "route": " + ".join(dict.fromkeys(labels)) or "direct",
                "slippage_bps": str(slippage),
                "context_slot": str(response.context_slot or ""),
                "quote_response": json.dumps(response.raw, separators=(",", ":")),
            },
        )

    def _keep(self, quote: Quote, plan: SwapPlan) -> None:
        self._plans[_plan_key(quote)] = plan
        while len(self._plans) > PLANS_KEPT:
            self._plans.popitem(last=False)

    # --- fills (Jupiter keeps no book here: its liquidity is on chain) -----------------------
    async def prepare(self, quote: Quote) -> None:
        return None

    def lock(self, connection: Connection, pool_ids: Iterable[str]) -> dict[str, Any]:
        return dict.fromkeys(pool_ids, ())

    def apply(self, book: Any, quote: Quote) -> tuple[Any, int]:
        # Planned at the expected output; dry-run and send measure what the swap delivers.
        return book, quote.expected_out

    def revert(self, book: Any, quote: Quote, realised_out: int) -> Any:
        return book

    def save(
        self,
        connection: Connection,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        fills: Mapping[str, int],
        declines: Mapping[str, int],
    ) -> None:
        return None

    def committed(self, after: Mapping[str, Any]) -> None:
        return None

    # --- transactions -------------------------------------------------------------------------
    async def build_swap(self, quote: Quote, order: SwapOrder, fallback: Blockhash) -> BuiltSwap:
        """Instructions for ``quote``, verified against ``order``, compiled into a v0 message.

        Raises LegFailed: ``transaction_refused`` (a check failed; the detail names it),
        ``transaction_too_large``, ``venue_unavailable`` or ``no_route``.
        """
        order = self._on_mainnet(order)
        max_accounts = self.settings.max_accounts
        slippage = int(quote.details["slippage_bps"])
        plan = self._plans.pop(_plan_key(quote), None)
        if plan is not None and plan.quote.slippage_bps != slippage:
            plan = _tightened(plan, slippage)
        while True:
            try:
                if plan is None:
                    plan = await self._instructions_for(quote, order, slippage, max_accounts)
                built = await self._compile(plan, quote, order, fallback)
            except JupiterError as error:
                self._on_error(error_kind(error))
                reason = Reason.NO_ROUTE if isinstance(error, NoRoute) else Reason.VENUE_UNAVAILABLE
                raise LegFailed(reason, str(error)) from None
            except SwapRefused as refused:
                self._on_refusal(refused.check.value)
                log.warning(
                    "jupiter_swap_refused", check=refused.check.value, detail=refused.detail
                )
                raise LegFailed(Reason.TRANSACTION_REFUSED, str(refused)) from None
            except ClusterError as error:
                raise LegFailed(Reason.CLUSTER_UNAVAILABLE, str(error)) from None
            if built.size <= MAX_TRANSACTION_SIZE:
                return built
            if max_accounts // 2 < MIN_MAX_ACCOUNTS:
                raise LegFailed(
                    Reason.TRANSACTION_TOO_LARGE,
                    f"{built.size} bytes even with maxAccounts={max_accounts}",
                )
            # Fewer accounts means a simpler route that fits in one packet.
            max_accounts //= 2
            log.info("jupiter_requote_smaller", size=built.size, max_accounts=max_accounts)
            plan = None
            quote = replace(quote, details={**quote.details, "max_accounts": str(max_accounts)})

    async def _instructions_for(
        self, quote: Quote, order: SwapOrder, slippage_bps: int, max_accounts: int
    ) -> SwapPlan:
        """The instructions of the leg: /swap-instructions for the quote (v1), or a fresh
        /build (v2, or a re-quote with fewer accounts), at the leg's slippage."""
        wait = self.settings.max_budget_wait_s
        if self.client.api == "v2" or max_accounts != self.settings.max_accounts:
            return await self.client.swap_plan(
                order.sell_mint, order.buy_mint, order.amount_in, order.wallet, slippage_bps,
                max_accounts=max_accounts, max_wait_s=wait,
            )  # fmt: skip
        raw = json.loads(quote.details["quote_response"])
        if raw.get("slippageBps") != slippage_bps:
            # The leg is held to its share of min_out: the threshold Jupiter encodes must be
            # at least that, so the tolerance posted back is the tightest that still allows it.
            raw["slippageBps"] = slippage_bps
            raw["otherAmountThreshold"] = str(quote.guaranteed_out)
        response = parse_quote(json.dumps(raw))
        instructions = await self.client.swap_instructions(
            response,
            order.wallet,
            compute_unit_price_micro_lamports=self.settings.compute_unit_price_micro_lamports,
            dynamic_compute_unit_limit=True,
            max_wait_s=wait,
        )
        return SwapPlan(response, instructions, requests=1)

    async def _compile(
        self, plan: SwapPlan, quote: Quote, order: SwapOrder, fallback: Blockhash
    ) -> BuiltSwap:
        _check_answers(plan.quote, order.sell_mint, order.buy_mint, order.amount_in)
        instructions = plan.instructions.to_solders()
        wallet = Pubkey.from_string(order.wallet)
        expectation = SwapExpectation(
            wallet=wallet,
            input_mint=Pubkey.from_string(order.sell_mint),
            output_mint=Pubkey.from_string(order.buy_mint),
            in_amount=order.amount_in,
            min_out=order.min_out,
            max_slippage_bps=order.max_slippage_bps,
            platform_fee_bps=self.settings.platform_fee_bps,
            max_compute_unit_price_micro_lamports=self.settings.max_compute_unit_price_micro_lamports,
            allowed_programs=self.settings.allowed_programs,
        )
        verified = verify_swap_instructions(instructions, expectation)
        tables, blockhash = await self._tables_and_blockhash(plan, fallback)
        message = MessageV0.try_compile(wallet, instructions, tables, blockhash.blockhash)
        verify_message(message, wallet)
        unsigned = VersionedTransaction.populate(message, [Signature.default()])
        swap = verified.swap
        assert swap.quoted_out_amount is not None, "verification admits ExactIn routes only"
        # The leg as the transaction will enforce it (a re-quote may have moved the numbers).
        quote = replace(
            quote,
            expected_out=swap.quoted_out_amount,
            guaranteed_out=swap.quoted_out_amount * (10_000 - swap.slippage_bps) // 10_000,
            details={**quote.details, "slippage_bps": str(swap.slippage_bps)},
        )
        return BuiltSwap(
            quote=quote,
            message=message,
            verified=verified,
            last_valid_block_height=blockhash.last_valid_block_height,
            size=len(bytes(unsigned)),
        )

    async def _tables_and_blockhash(
        self, plan: SwapPlan, fallback: Blockhash
    ) -> tuple[list[AddressLookupTableAccount], Blockhash]:
        """Lookup tables and blockhash from /build when it sent them, else the mainnet RPC,
        else (only built, never sent) no tables and the agent's own cluster's blockhash."""
        addresses = plan.instructions.address_lookup_table_addresses
        if plan.lookup_tables is not None and plan.blockhash is not None:
            tables = [
                AddressLookupTableAccount(
                    Pubkey.from_string(key),
                    [Pubkey.from_string(a) for a in plan.lookup_tables[key]],
                )
                for key in addresses
            ]
            height = plan.last_valid_block_height or fallback.last_valid_block_height
            return tables, Blockhash(Hash(plan.blockhash), height)
        if self.lookup_cluster is not None:
            tables = await resolve_lookup_tables(
                self.lookup_cluster, [Pubkey.from_string(a) for a in addresses]
            )
            return tables, await self.lookup_cluster.latest_blockhash()
        return [], fallback


def _tightened(plan: SwapPlan, slippage_bps: int) -> SwapPlan | None:
    """A /build plan made at the intent's tolerance, held to the leg's min_out instead: the
    swap instruction's slippage is lowered (saving a second request), or None to re-fetch."""
    swap = plan.instructions.swap_instruction
    try:
        tightened = with_slippage(swap.to_solders(), slippage_bps)
    except (UndecodableSwap, ValueError):
        return None  # verification would refuse it anyway; a fresh build may decode
    instructions = replace(
        plan.instructions, swap_instruction=replace(swap, data=bytes(tightened.data))
    )
    return replace(plan, instructions=instructions)


def swap_slippage_bps(expected_out: int, min_out: int, requested_bps: int) -> int:
    """The slippage to swap at: the requested tolerance, tightened so that the swap's
    threshold (expected less slippage) never falls below the signed min_out."""
    if expected_out <= 0 or expected_out < min_out:
        return requested_bps
    return min(requested_bps, (expected_out - min_out) * 10_000 // expected_out)


def _plan_key(quote: Quote) -> str:
    return f"{quote.amount_in}:{quote.expected_out}:{quote.quoted_at}:{quote.details.get('context_slot')}"


def _check_answers(response: QuoteResponse, sell_mint: str, buy_mint: str, amount: int) -> None:
    """A quote for another trade than the one asked is a broken (or forged) answer."""
    if (
        response.input_mint != sell_mint
        or response.output_mint != buy_mint
        or response.in_amount != amount
        or response.swap_mode != "ExactIn"
    ):
        raise BadPayload(
            f"answered {response.in_amount} {response.input_mint} -> {response.output_mint} "
            f"({response.swap_mode}) for {amount} {sell_mint} -> {buy_mint} (ExactIn)"
        )
