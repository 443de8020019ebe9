"""Building a Jupiter leg: instructions for the quote, verified, compiled, never signed here.

The instructions come from /swap-instructions (v1) or the /build answer (v2). They are
verified against what the wallet's intent authorised (:mod:`onchain.swap_verification`),
held to the leg's share of the signed ``min_out`` (the slippage is tightened until the
swap's own threshold covers it), and compiled into a v0 message with the wallet as fee
payer and the route's lookup tables. The executor signs only what :class:`SwapBuilder`
returns, and it returns only what passed every check.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote
from agent.domain.tokens import MAX_AMOUNT
from agent.net import BadPayload
from agent.venues.base import LegFailed
from agent.venues.jupiter.client import JupiterClient, SwapPlan
from agent.venues.jupiter.errors import VENUE_ERRORS, NoRoute, error_kind
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
    "SwapBuilder",
    "SwapOrder",
    "SwapSettings",
    "check_answers",
    "swap_slippage_bps",
]

log = structlog.get_logger("agent.venues.jupiter")

# A swap has one signer: the wallet.
SIGNATURES = 1
# Halve maxAccounts on each re-quote when the transaction is too large, down to this floor.
MIN_MAX_ACCOUNTS = 16
# The runtime's default per-transaction limit when no SetComputeUnitLimit is present.
DEFAULT_UNIT_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class SwapSettings:
    max_budget_wait_s: float = 1.0
    quote_ttl_s: float = 20.0
    # A pair Jupiter could not route at some size is not asked again at that size or more for
    # this long (0: always ask).
    no_route_ttl_s: float = 30.0
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


class SwapBuilder:
    def __init__(
        self,
        client: JupiterClient,
        settings: SwapSettings,
        *,
        lookup_cluster: Cluster | None = None,
        on_error: Callable[[str], None] = lambda _kind: None,
        on_refusal: Callable[[str], None] = lambda _check: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.settings = settings
        # A mainnet RPC (jupiter.simulate_rpc): lookup tables and a blockhash for v1 legs.
        self.lookup_cluster = lookup_cluster
        self._on_error = on_error
        self._on_refusal = on_refusal
        self._clock = clock

    async def build(
        self, quote: Quote, order: SwapOrder, fallback: Blockhash, plan: SwapPlan | None
    ) -> BuiltSwap:
        """Instructions for ``quote`` (``plan`` when /build already sent them), verified
        against ``order`` and compiled into a v0 message.

        Raises LegFailed: ``transaction_refused`` (a check failed; the detail names it),
        ``transaction_too_large``, ``venue_unavailable``, ``no_route`` or
        ``cluster_unavailable``.
        """
        max_accounts = self.settings.max_accounts
        slippage = int(quote.details["slippage_bps"])
        if plan is not None and plan.quote.slippage_bps != slippage:
            plan = _tightened(plan, slippage)
        while True:
            try:
                if plan is None:
                    plan = await self._instructions_for(quote, order, slippage, max_accounts)
                built = await self._compile(plan, quote, order, fallback)
            except VENUE_ERRORS as error:
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
        check_answers(plan.quote, order.sell_mint, order.buy_mint, order.amount_in)
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
        """Lookup tables and a blockhash from the mainnet RPC; without one (the leg is only
        built, never sent), no tables and the agent's own cluster's blockhash.

        The tables' contents that /build sends are never used: the wallet would sign
        "(table, index)" pairs whose meaning on chain is whatever the table really holds, so a
        forged list could make a verified instruction name another account once compiled.
        """
        addresses = plan.instructions.address_lookup_table_addresses
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


def check_answers(response: QuoteResponse, sell_mint: str, buy_mint: str, amount: int) -> None:
    """A quote for another trade than the one asked is a broken (or forged) answer."""
    if response.out_amount <= 0:
        raise BadPayload("quoted an output of 0")
    # The chain takes any u64; the books and SQL stop at MAX_AMOUNT, and no real pool pays that.
    if response.out_amount > MAX_AMOUNT:
        raise BadPayload(f"quoted an output of {response.out_amount}, beyond any real trade")
    if response.other_amount_threshold > response.out_amount:
        raise BadPayload(
            f"quoted a minimum of {response.other_amount_threshold} above its output "
            f"{response.out_amount}"
        )
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
