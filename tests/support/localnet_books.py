"""Books in SQL against vaults on a chain served over JSON-RPC (`otc-agent localnet`)."""

from __future__ import annotations

from solders.pubkey import Pubkey

from agent.chain import pool_authority
from agent.store.models import LocalDexPoolRow, OtcPoolRow, TradeRow
from onchain import spl
from onchain.rpc_cluster import RpcCluster
from tests.support.agent_home import AgentHome


async def books_match_chain(home: AgentHome, url: str) -> int:
    """Compare every pool's book in SQL with its vaults on the chain; returns the fills checked."""
    keys_dir = home.config.home_path / "keys" / "pools"
    rpc = RpcCluster(url)
    try:
        pools = [*(await home.rows(OtcPoolRow.__table__))]
        amm = [*(await home.rows(LocalDexPoolRow.__table__))]
        rows = [
            (p.id, p.base_mint, p.quote_mint, p.base_inventory, p.quote_inventory) for p in pools
        ]
        rows += [(p.id, p.base_mint, p.quote_mint, p.base_reserve, p.quote_reserve) for p in amm]
        for pool_id, base_mint, quote_mint, base, quote in rows:
            authority = pool_authority(keys_dir, pool_id).pubkey()
            accounts = [
                spl.associated_token_address(authority, Pubkey.from_string(base_mint)),
                spl.associated_token_address(authority, Pubkey.from_string(quote_mint)),
            ]
            assert await rpc.token_balances(accounts) == [base, quote], pool_id
    finally:
        await rpc.aclose()
    return len({t.intent_id for t in await home.rows(TradeRow.__table__)})
