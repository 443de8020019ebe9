"""The embedded cluster: solders' LiteSVM in-process, with the SPL programs.

It lives as long as the daemon. Start-up seeds it deterministically (mints from a seed,
balances from the books in SQL), so after a restart the chain and the books agree again.
LiteSVM executes a transaction the moment it is sent; ``confirm`` reports what happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import TransactionErrorFieldless

from onchain import spl
from onchain.cluster import EXPIRED, Blockhash, ClusterRejected, Confirmation, Simulation
from onchain.transactions import with_blockhash

__all__ = ["LocalCluster"]

# LiteSVM has no block production; a blockhash stays valid until expired explicitly.
BLOCKHASH_LIFETIME = 150


class LocalCluster:
    name = "local"

    def __init__(self, svm: LiteSVM | None = None) -> None:
        self.svm = svm or LiteSVM()
        self._results: dict[Signature, Confirmation] = {}
        self._install_native_mint()

    def _install_native_mint(self) -> None:
        # LiteSVM ships the token programs but not the wrapped-SOL mint account.
        native = Mint(
            mint_authority=None, supply=0, decimals=9, is_initialized=True, freeze_authority=None
        )
        self._set(spl.NATIVE_MINT, bytes(native), spl.TOKEN_PROGRAM_ID)

    def _set(
        self, address: Pubkey, data: bytes, owner: Pubkey, lamports: int | None = None
    ) -> None:
        rent = self.svm.minimum_balance_for_rent_exemption(len(data))
        self.svm.set_account(
            address,
            Account(
                lamports=rent if lamports is None else lamports,
                data=data,
                owner=owner,
                executable=False,
            ),
        )

    # seeding

    def create_mint(self, mint: Pubkey, decimals: int, authority: Pubkey, supply: int = 0) -> None:
        state = Mint(
            mint_authority=authority,
            supply=supply,
            decimals=decimals,
            is_initialized=True,
            freeze_authority=None,
        )
        self._set(mint, bytes(state), spl.TOKEN_PROGRAM_ID)

    def set_token_balance(self, owner: Pubkey, mint: Pubkey, amount: int) -> Pubkey:
        """Write owner's associated token account with this balance; returns its address."""
        address = spl.associated_token_address(owner, mint)
        rent = self.svm.minimum_balance_for_rent_exemption(spl.TOKEN_ACCOUNT_SIZE)
        native = mint == spl.NATIVE_MINT
        state = TokenAccount(
            mint=mint,
            owner=owner,
            amount=amount,
            delegate=None,
            state=TokenAccountState.Initialized,
            is_native=rent if native else None,
            delegated_amount=0,
            close_authority=None,
        )
        # A wrapped-SOL account holds its balance as lamports on top of rent.
        self._set(address, bytes(state), spl.TOKEN_PROGRAM_ID, rent + amount if native else rent)
        return address

    def set_lamports(self, pubkey: Pubkey, lamports: int) -> None:
        """Give a system account exactly this balance (seeding; no faucet limit)."""
        self.svm.set_account(
            pubkey, Account(lamports=lamports, data=b"", owner=SYSTEM_PROGRAM_ID, executable=False)
        )

    def airdrop(self, pubkey: Pubkey, lamports: int) -> None:
        result = self.svm.airdrop(pubkey, lamports)
        if isinstance(result, FailedTransactionMetadata):
            raise ClusterRejected(str(result.err()))

    def token_balance(self, owner: Pubkey, mint: Pubkey) -> int | None:
        return spl.token_amount(self.svm.get_account(spl.associated_token_address(owner, mint)))

    # the Cluster interface

    async def latest_blockhash(self) -> Blockhash:
        slot = self.svm.get_clock().slot
        return Blockhash(self.svm.latest_blockhash(), slot + BLOCKHASH_LIFETIME)

    async def block_height(self) -> int:
        return int(self.svm.get_clock().slot)

    async def get_accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]:
        return [self.svm.get_account(pubkey) for pubkey in pubkeys]

    async def simulate(
        self,
        transaction: VersionedTransaction,
        *,
        accounts: Sequence[Pubkey] = (),
        sig_verify: bool = True,
        replace_recent_blockhash: bool = False,
    ) -> Simulation:
        if sig_verify and replace_recent_blockhash:
            raise ValueError("sig_verify cannot be combined with replace_recent_blockhash")
        if replace_recent_blockhash:
            transaction = with_blockhash(transaction, self.svm.latest_blockhash())
        if not sig_verify:
            self.svm.with_sigverify(False)
        try:
            result = self.svm.simulate_transaction(transaction)
        finally:
            if not sig_verify:
                self.svm.with_sigverify(True)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            return Simulation(
                str(result.err()),
                meta.compute_units_consumed(),
                tuple(meta.logs()),
                tuple(None for _ in accounts),
            )
        meta = result.meta()
        post = dict(result.post_accounts())
        state = tuple(post.get(key, self.svm.get_account(key)) for key in accounts)
        return Simulation(None, meta.compute_units_consumed(), tuple(meta.logs()), state)

    async def send(self, transaction: VersionedTransaction) -> Signature:
        signature = transaction.signatures[0]
        slot = int(self.svm.get_clock().slot)
        result = self.svm.send_transaction(transaction)
        if isinstance(result, FailedTransactionMetadata):
            if (
                result.err() == TransactionErrorFieldless.AlreadyProcessed
                and signature in self._results
            ):
                return signature  # a resend of a landed transaction changes nothing
            raise ClusterRejected(str(result.err()), tuple(result.meta().logs()))
        self._results[signature] = Confirmation(
            signature, slot, None, result.compute_units_consumed(), tuple(result.logs())
        )
        return signature

    async def confirm(self, signature: Signature, last_valid_block_height: int) -> Confirmation:
        found = self._results.get(signature)
        if found is not None:
            return found
        # LiteSVM executes on send: a signature it never executed will never land.
        return Confirmation(signature, int(self.svm.get_clock().slot), EXPIRED)

    async def aclose(self) -> None:
        return None
