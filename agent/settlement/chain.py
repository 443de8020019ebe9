"""The chain side of the configured cluster: the cluster, pool authorities, and the keys held.

For the local cluster, everything is (re)built at start: mints at their derived addresses,
each pool's vaults holding exactly what SQL says the pool holds, and registered wallets
funded, so that books and chain agree after every restart. Pool authorities have key files
under the home folder (0600), generated on first start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from agent.domain.policy import WalletPolicy
from agent.domain.tokens import Token, TokenRegistry
from onchain import spl
from onchain.cluster import Cluster
from onchain.derive import derive_keypair
from onchain.keys import generate_keypair_file, load_keypair
from onchain.local_cluster import LocalCluster

__all__ = ["ChainContext", "PoolVaults", "build_local_chain", "held_wallet_keys", "pool_authority"]

# What each registered wallet holds on a fresh local cluster, per token, in USD.
LOCAL_WALLET_FUNDING_USD = Decimal(50_000_000)
LAMPORTS_FOR_FEES = 10 * 10**9


@dataclass(frozen=True, slots=True)
class PoolVaults:
    """A pool's authority and what its vaults hold: (base token, base amount, quote token, quote amount)."""

    pool_id: str
    base: Token
    base_amount: int
    quote: Token
    quote_amount: int


@dataclass
class ChainContext:
    cluster: Cluster
    authorities: dict[str, Keypair] = field(default_factory=dict)  # pool id -> authority
    wallet_keys: dict[str, Keypair] = field(default_factory=dict)  # wallet pubkey -> key held here

    def authority(self, pool_id: str) -> Keypair:
        return self.authorities[pool_id]


def pool_authority(keys_dir: Path, pool_id: str) -> Keypair:
    """The pool's signing key: loaded from keys_dir, or created there (mode 0600) on first use."""
    path = keys_dir / f"{pool_id}.json"
    return load_keypair(path) if path.exists() else generate_keypair_file(path)


def held_wallet_keys(wallets: Iterable[WalletPolicy]) -> dict[str, Keypair]:
    held = {}
    for wallet in wallets:
        if wallet.keypair_path:
            keypair = load_keypair(Path(wallet.keypair_path))
            if str(keypair.pubkey()) == wallet.pubkey:
                held[wallet.pubkey] = keypair
    return held


def build_local_chain(
    *,
    tokens: TokenRegistry,
    mint_seed: str,
    keys_dir: Path,
    vaults: Iterable[PoolVaults],
    wallets: Iterable[WalletPolicy],
    prices: Mapping[str, Decimal],
) -> ChainContext:
    """A fresh LiteSVM holding the configured mints, every pool's vaults and funded wallets."""
    cluster = LocalCluster()
    mint_authority = derive_keypair(mint_seed, "mint-authority").pubkey()
    for token in tokens:
        mint = Pubkey.from_string(token.mint)
        if mint != spl.NATIVE_MINT:
            cluster.create_mint(mint, token.decimals, mint_authority)
    context = ChainContext(cluster=cluster)
    for vault in vaults:
        authority = pool_authority(keys_dir, vault.pool_id)
        context.authorities[vault.pool_id] = authority
        cluster.set_lamports(authority.pubkey(), LAMPORTS_FOR_FEES)
        for token, amount in ((vault.base, vault.base_amount), (vault.quote, vault.quote_amount)):
            cluster.set_token_balance(authority.pubkey(), Pubkey.from_string(token.mint), amount)
    wallet_list = list(wallets)
    for wallet in wallet_list:
        owner = Pubkey.from_string(wallet.pubkey)
        for token in tokens:
            usd = prices.get(token.symbol)
            if not usd:
                continue
            amount = int((LOCAL_WALLET_FUNDING_USD / usd).scaleb(token.decimals))
            if Pubkey.from_string(token.mint) == spl.NATIVE_MINT:
                cluster.set_lamports(owner, amount + LAMPORTS_FOR_FEES)
            else:
                cluster.set_token_balance(owner, Pubkey.from_string(token.mint), amount)
    context.wallet_keys = held_wallet_keys(wallet_list)
    return context
