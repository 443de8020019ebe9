"""Turn a reserved fill into a real Solana transaction, then simulate it or send it.

``prepare`` runs inside the recorder's transaction, right after the venue's book has
accepted the fill, so the signed transaction (and its signature) is stored together with
the reservation: after a crash, a sent transaction is found again by its signature before
anything is rebuilt. ``execute`` runs outside the database: ``dry-run`` simulates (the
realised output is read from the taker's token account in the simulated post-state);
``send`` sends and confirms until the blockhash's last valid block height.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from solders.account import Account
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from agent.domain.outcomes import Reason
from agent.domain.policy import TradeTerms
from agent.domain.quotes import Quote
from agent.domain.routing import Candidate
from agent.domain.tokens import TokenRegistry
from agent.settlement.chain import ChainContext
from agent.venues.base import LegFailed
from agent.venues.jupiter.swaps import BuiltSwap
from onchain import spl
from onchain.cluster import (
    Blockhash,
    Cluster,
    ClusterBadResponse,
    ClusterError,
    ClusterRejected,
    ClusterUnavailable,
    Confirmation,
)
from onchain.settlement import TokenLeg, settlement_instructions
from onchain.transactions import (
    ComputeBudget,
    MissingSigner,
    compile_v0,
    fee_lamports,
    limit_from_simulation,
    sign,
    signed_by,
    to_base64,
)

__all__ = ["ChainExecutor", "ExecutionReport", "PreparedLeg"]

LOG_LINES_KEPT = 8
# Venues whose transactions come from their API and run on mainnet state.
EXTERNAL_VENUES = frozenset({"jupiter"})


@dataclass(frozen=True, slots=True)
class PreparedLeg:
    transaction: str  # base64 of the signed (or, in dry-run, partly signed) transaction
    signature: str
    last_valid_block_height: int
    buy_account: str  # the taker's token account that receives the bought token
    fee_lamports: int
    fully_signed: bool
    # True for a swap built from a venue's API (Jupiter): it runs on mainnet state, so it is
    # simulated on the swap cluster (jupiter.simulate_rpc) rather than the agent's cluster.
    external: bool = False


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    ok: bool
    reason: Reason | None
    error: str | None
    realised_out: int | None
    units_consumed: int | None
    fee_lamports: int
    slot: int | None
    logs: tuple[str, ...]
    built: bool = False  # verified but not simulated: no cluster to run it on
    cancelled: bool = False  # never sent: an earlier leg of the same intent failed


# A blockhash lives about 150 slots (a minute); a second of reuse costs transactions built in
# that second one to three slots of their validity.
BLOCKHASH_REUSE_S = 1.0


class ChainExecutor:
    def __init__(
        self,
        chain: ChainContext,
        tokens: TokenRegistry,
        *,
        mode: str,
        budget: ComputeBudget,
        swap_cluster: Cluster | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("dry-run", "send"):
            raise ValueError(f"the chain executor runs dry-run or send, not {mode}")
        self.chain = chain
        self._monotonic = monotonic
        self._blockhash: tuple[Blockhash, float] | None = None
        self._blockhash_lock = asyncio.Lock()
        # Where dry-run simulates API-built swaps (mainnet state); None: they are only built.
        self.swap_cluster = swap_cluster
        self.tokens = tokens
        self.mode = mode
        self.budget = budget
        # The most compute units each venue's settlements have needed. The limit is the
        # configured one, raised to that plus a margin when a settlement needed more: never
        # lowered, because the first fill for a wallet (creating its token accounts) costs more
        # than the ones measured before it, and running out of units fails the transaction.
        self._measured_units: dict[str, int] = {}

    def budget_for(self, venue: str) -> ComputeBudget:
        measured = self._measured_units.get(venue)
        if measured is None or limit_from_simulation(measured) <= self.budget.unit_limit:
            return self.budget
        return ComputeBudget(limit_from_simulation(measured), self.budget.unit_price_micro_lamports)

    def measured(self, venue: str, units: int | None) -> None:
        if units:
            self._measured_units[venue] = max(units, self._measured_units.get(venue, 0))

    async def blockhash(self) -> Blockhash:
        """A recent blockhash, shared by the fills prepared within BLOCKHASH_REUSE_S of its
        fetch: one getLatestBlockhash per burst of fills instead of one per fill."""
        async with self._blockhash_lock:
            if self._blockhash is not None:
                blockhash, fetched_at = self._blockhash
                if 0 <= self._monotonic() - fetched_at < BLOCKHASH_REUSE_S:
                    return blockhash
            blockhash = await self.chain.cluster.latest_blockhash()
            self._blockhash = (blockhash, self._monotonic())
            return blockhash

    def prepare(
        self,
        *,
        intent_id: str,
        wallet: str,
        quote: Quote,
        realised_out: int,
        sell_mint: str,
        buy_mint: str,
        blockhash: Blockhash,
        swap: BuiltSwap | None = None,
    ) -> PreparedLeg:
        """Build and sign the settlement of one fill (pure: no cluster call).

        A ``swap`` (built and verified by its venue) is signed as it is, by the wallet alone,
        and only in send mode.
        """
        if swap is not None:
            return self._sign_swap(wallet, swap)
        sell, buy = self.tokens.require(sell_mint), self.tokens.require(buy_mint)
        taker = Pubkey.from_string(wallet)
        authority = self.chain.authority(quote.source)
        instructions = settlement_instructions(
            taker=taker,
            counterparty=authority.pubkey(),
            sell=TokenLeg(Pubkey.from_string(sell.mint), sell.decimals, quote.amount_in),
            buy=TokenLeg(Pubkey.from_string(buy.mint), buy.decimals, realised_out),
            memo_text=f"otc-agent:{intent_id}",
        )
        budget = self.budget_for(quote.venue)
        message = compile_v0(taker, instructions, blockhash.blockhash, budget)
        keys = [authority]
        held = self._wallet_key(wallet)
        if held is not None:
            keys.append(held)
        transaction = self._signed(message, keys)
        return PreparedLeg(
            transaction=to_base64(transaction),
            signature=str(transaction.signatures[0]),
            last_valid_block_height=blockhash.last_valid_block_height,
            buy_account=str(spl.associated_token_address(taker, Pubkey.from_string(buy.mint))),
            fee_lamports=fee_lamports(message, budget),
            fully_signed=len(signed_by(transaction)) == message.header.num_required_signatures,
        )

    def _signed(self, message: MessageV0, keys: list[Keypair]) -> VersionedTransaction:
        # Dry-run may simulate without the wallet's key (signature checks off); send may not.
        try:
            return sign(message, keys, allow_unsigned=self.mode == "dry-run")
        except MissingSigner as missing:
            raise LegFailed(
                Reason.WALLET_KEY_MISSING, f"no key held for {missing.signer}"
            ) from None

    def _wallet_key(self, wallet: str) -> Keypair | None:
        """The wallet's key, in send mode only: a dry-run transaction is never signed by the
        wallet, so its bytes (stored, written to result files, sent to a simulation RPC)
        could never be broadcast by whoever sees them."""
        return self.chain.wallet_keys.get(wallet) if self.mode == "send" else None

    def _sign_swap(self, wallet: str, swap: BuiltSwap) -> PreparedLeg:
        held = self._wallet_key(wallet)
        transaction = self._signed(swap.message, [held] if held else [])
        return PreparedLeg(
            transaction=to_base64(transaction),
            signature=str(transaction.signatures[0]),
            last_valid_block_height=swap.last_valid_block_height,
            buy_account=str(swap.verified.destination_account),
            fee_lamports=swap.fee_lamports,
            fully_signed=held is not None,
            external=True,
        )

    def reload(
        self, chain: dict[str, Any], wallet: str, candidate: Candidate, terms: TradeTerms | None
    ) -> PreparedLeg:
        """The prepared leg again, from what the recorder stored with the reservation."""
        assert terms is not None
        transaction = VersionedTransaction.from_bytes(base64.b64decode(chain["transaction"]))
        required = transaction.message.header.num_required_signatures
        owner = Pubkey.from_string(wallet)
        buy_account = chain.get("buy_account") or str(
            spl.associated_token_address(owner, Pubkey.from_string(terms.buy.mint))
        )
        return PreparedLeg(
            transaction=chain["transaction"],
            signature=chain["signature"],
            last_valid_block_height=chain["last_valid_block_height"],
            buy_account=buy_account,
            fee_lamports=chain["fee_lamports"],
            fully_signed=len(signed_by(transaction)) == required,
            external=candidate.quote.venue in EXTERNAL_VENUES,
        )

    async def execute(self, leg: PreparedLeg, planned_out: int) -> ExecutionReport:
        transaction = VersionedTransaction.from_bytes(base64.b64decode(leg.transaction))
        try:
            if self.mode == "dry-run":
                return await self._simulate(transaction, leg)
            return await self._send(transaction, leg, planned_out)
        except ClusterUnavailable as exc:
            return ExecutionReport(
                False, Reason.CLUSTER_UNAVAILABLE, str(exc), None, None, leg.fee_lamports, None, ()
            )
        except ClusterRejected as exc:
            # The cluster refused the request itself (a missing lookup table, a malformed
            # transaction): this leg fails with the cluster's words, the daemon goes on.
            reason = (
                Reason.SIMULATION_FAILED if self.mode == "dry-run" else Reason.TRANSACTION_FAILED
            )
            return ExecutionReport(
                False, reason, exc.reason, None, None, leg.fee_lamports, None, exc.logs
            )
        except ClusterBadResponse as exc:
            return ExecutionReport(
                False, Reason.CLUSTER_UNAVAILABLE, str(exc), None, None, leg.fee_lamports, None, ()
            )

    async def _simulate(
        self, transaction: VersionedTransaction, leg: PreparedLeg
    ) -> ExecutionReport:
        """Simulate and read the realised output from the taker's account in the post-state.

        An API-built swap runs against mainnet state on the swap cluster, with no signature
        check and the newest blockhash; without a swap cluster it is only built.
        """
        if leg.external:
            if self.swap_cluster is None:
                return ExecutionReport(
                    True, None, None, None, None, leg.fee_lamports, None, (), built=True
                )
            cluster, sig_verify = self.swap_cluster, False
        else:
            cluster, sig_verify = self.chain.cluster, leg.fully_signed
        account = Pubkey.from_string(leg.buy_account)
        payer = transaction.message.account_keys[0]
        before, payer_before = await cluster.get_accounts([account, payer])
        simulation = await cluster.simulate(
            transaction,
            accounts=[account, payer],
            sig_verify=sig_verify,
            replace_recent_blockhash=leg.external,
        )
        logs = simulation.logs[:LOG_LINES_KEPT]
        if not simulation.ok:
            return ExecutionReport(
                False,
                Reason.SIMULATION_FAILED,
                simulation.err,
                None,
                simulation.units_consumed,
                leg.fee_lamports,
                None,
                logs,
            )
        after, payer_after = simulation.accounts
        realised = _delivered(before, after, payer_before, payer_after, leg.fee_lamports)
        return ExecutionReport(
            True, None, None, realised, simulation.units_consumed, leg.fee_lamports, None, logs
        )

    async def _send(
        self, transaction: VersionedTransaction, leg: PreparedLeg, planned_out: int
    ) -> ExecutionReport:
        cluster = self.chain.cluster
        signature = Signature.from_string(leg.signature)
        account = Pubkey.from_string(leg.buy_account)
        before = None
        if leg.external:
            # A swap's output is whatever the pools gave: measure it on the wallet's account.
            (before,) = await cluster.get_accounts([account])
        try:
            await cluster.send(transaction)
        except ClusterRejected as rejected:
            return ExecutionReport(
                False,
                Reason.TRANSACTION_FAILED,
                rejected.reason,
                None,
                None,
                leg.fee_lamports,
                None,
                rejected.logs[:LOG_LINES_KEPT],
            )
        report = await self.confirm(signature, leg, planned_out)
        if not (leg.external and report.ok):
            return report
        try:
            (after,) = await cluster.get_accounts([account])
        except ClusterError:
            return report  # it landed; the quoted output stands in for the measurement
        realised = (spl.token_amount(after) or 0) - (spl.token_amount(before) or 0)
        return replace(report, realised_out=realised)

    async def settle_leftover(self, leg: PreparedLeg, planned_out: int) -> ExecutionReport:
        """A transaction signed before a crash: look it up by signature first; resend it only
        while its blockhash is still valid (the same bytes, so it can never land twice)."""
        cluster = self.chain.cluster
        try:
            # A last valid height of 0 asks for the status as it is now, without waiting.
            status = await cluster.confirm(Signature.from_string(leg.signature), 0)
            height = await cluster.block_height()
        except ClusterError as exc:
            return self._unavailable(exc, leg)
        if not status.expired:
            return self._report(status, leg, planned_out)
        if height > leg.last_valid_block_height:
            return ExecutionReport(
                False,
                Reason.TRANSACTION_EXPIRED,
                "never landed before its blockhash expired",
                None,
                None,
                leg.fee_lamports,
                None,
                (),
            )
        transaction = VersionedTransaction.from_bytes(base64.b64decode(leg.transaction))
        return await self._send(transaction, leg, planned_out)

    async def await_landing(self, leg: PreparedLeg, planned_out: int) -> ExecutionReport:
        """A transaction signed before a crash that must not be sent now: whether it landed
        anyway, waiting no longer than its blockhash lives (expired: it never will)."""
        return await self.confirm(Signature.from_string(leg.signature), leg, planned_out)

    async def confirm(
        self, signature: Signature, leg: PreparedLeg, planned_out: int
    ) -> ExecutionReport:
        """Wait for the signature's fate; the transfer amounts are fixed, so a landed
        settlement delivered exactly the planned output."""
        try:
            confirmation = await self.chain.cluster.confirm(signature, leg.last_valid_block_height)
        except ClusterError as exc:
            return self._unavailable(exc, leg)
        return self._report(confirmation, leg, planned_out)

    @staticmethod
    def _unavailable(exc: Exception, leg: PreparedLeg) -> ExecutionReport:
        return ExecutionReport(
            False, Reason.CLUSTER_UNAVAILABLE, str(exc), None, None, leg.fee_lamports, None, ()
        )

    @staticmethod
    def _report(confirmation: Confirmation, leg: PreparedLeg, planned_out: int) -> ExecutionReport:
        logs = confirmation.logs[:LOG_LINES_KEPT]
        if confirmation.err is None:
            return ExecutionReport(
                True,
                None,
                None,
                planned_out,
                confirmation.units_consumed,
                leg.fee_lamports,
                confirmation.slot,
                logs,
            )
        reason = Reason.TRANSACTION_EXPIRED if confirmation.expired else Reason.TRANSACTION_FAILED
        return ExecutionReport(
            False,
            reason,
            confirmation.err,
            None,
            confirmation.units_consumed,
            leg.fee_lamports,
            confirmation.slot,
            logs,
        )


def _delivered(
    before: Account | None,
    after: Account | None,
    payer_before: Account | None,
    payer_after: Account | None,
    fee_lamports: int,
) -> int:
    """What a transaction delivered into the taker's token account.

    A swap that buys SOL unwraps it: the wrapped-SOL account is closed in the same
    transaction and everything it held lands on the wallet. Then the output is what the
    wallet and that account held together afterwards, less before, plus the fee it paid.
    """
    held_after = spl.token_amount(after)
    if held_after is not None or after is not None:
        return (held_after or 0) - (spl.token_amount(before) or 0)
    lamports_before = (payer_before.lamports if payer_before else 0) + (
        before.lamports if before else 0
    )
    return (payer_after.lamports if payer_after else 0) - lamports_before + fee_lamports
