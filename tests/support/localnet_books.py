"""Books in SQL against vaults on a chain served over JSON-RPC (`otc-agent localnet`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from solders.pubkey import Pubkey

from agent.settlement.chain import pool_authority
from agent.store.models import LocalDexPoolRow, OtcPoolRow, RouteLegRow, TradeRow
from onchain import spl
from onchain.rpc_cluster import RpcCluster
from tests.support.agent_home import AgentHome

# getSignatureStatuses takes at most this many signatures per call.
_STATUS_BATCH = 256


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


@dataclass(frozen=True)
class Holdings:
    """What one wallet holds on the chain."""

    lamports: int  # the wallet's own and all its associated token accounts' lamports together
    tokens: dict[str, int]  # mint -> amount in the wallet's associated token account (0: none)


async def wallet_holdings(
    url: str, wallets: Iterable[str], mints: Sequence[str]
) -> dict[str, Holdings]:
    """Each wallet's lamports and token balances (wrapped SOL included) on the chain."""
    rpc = RpcCluster(url)
    try:
        held = {}
        for wallet in wallets:
            owner = Pubkey.from_string(wallet)
            atas = [spl.associated_token_address(owner, Pubkey.from_string(m)) for m in mints]
            accounts = await rpc.get_accounts([owner, *atas])
            held[wallet] = Holdings(
                lamports=sum(a.lamports for a in accounts if a is not None),
                tokens={
                    mint: spl.token_amount(account) or 0
                    for mint, account in zip(mints, accounts[1:], strict=True)
                },
            )
        return held
    finally:
        await rpc.aclose()


async def wallets_match_books(home: AgentHome, url: str, before: dict[str, Holdings]) -> int:
    """Every wallet moved on the chain by exactly its recorded trades (and the fees of its
    landed settlements) since ``before``; returns the trades checked.

    SOL sold is wrapped from the wallet's lamports in the settlement itself and SOL bought
    stays wrapped, so wrapped SOL grows by what was bought, and lamports (the wallet's and its
    token accounts' together, rent included) by what was bought less what was sold and paid.
    """
    native = str(spl.NATIVE_MINT)
    mints = sorted({m for h in before.values() for m in h.tokens})
    trades = await home.rows(TradeRow.__table__)
    landed = [leg for leg in await home.rows(RouteLegRow.__table__) if leg.status == "filled"]
    wallet_of = {t.intent_id: t.wallet for t in trades}
    tokens: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    lamports: dict[str, int] = defaultdict(int)
    for trade in trades:
        tokens[trade.wallet][trade.buy_mint] += trade.amount_out
        if trade.sell_mint != native:
            tokens[trade.wallet][trade.sell_mint] -= trade.amount_in
        else:
            lamports[trade.wallet] -= trade.amount_in
        if trade.buy_mint == native:
            lamports[trade.wallet] += trade.amount_out
    for leg in landed:
        lamports[wallet_of[leg.intent_id]] -= leg.fee_lamports or 0
    after = await wallet_holdings(url, before, mints)
    for wallet, start in before.items():
        expected = {m: start.tokens[m] + tokens[wallet][m] for m in mints}
        assert after[wallet].tokens == expected, wallet
        assert after[wallet].lamports == start.lamports + lamports[wallet], wallet
    return len(trades)


async def signature_statuses(url: str, signatures: Sequence[str]) -> dict[str, Any]:
    """The chain's status of each signature: None when it never landed, else its ``err``
    wrapped in a one-item tuple (``(None,)`` for a success)."""
    statuses: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for start in range(0, len(signatures), _STATUS_BATCH):
            chunk = list(signatures[start : start + _STATUS_BATCH])
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "getSignatureStatuses",
                "params": [chunk, {"searchTransactionHistory": True}],
            }
            answer = (await client.post(url, json=body)).raise_for_status().json()
            for signature, status in zip(chunk, answer["result"]["value"], strict=True):
                statuses[signature] = None if status is None else (status["err"],)
    return statuses


async def every_settlement_landed_once(home: AgentHome, url: str) -> int:
    """One trade per landed leg, one signature per leg, and the chain knows exactly the
    landed ones: nothing sent twice, nothing landed unrecorded, nothing recorded unlanded.
    Returns the landed settlements."""
    trades = await home.rows(TradeRow.__table__)
    legs = await home.rows(RouteLegRow.__table__)
    assert len(trades) == len({(t.intent_id, t.leg_index) for t in trades})
    assert all(t.tx_signature for t in trades)
    assert len(trades) == len({t.tx_signature for t in trades})
    signed = [leg.signature for leg in legs if leg.signature]
    assert len(signed) == len(set(signed))
    landed = {leg.signature for leg in legs if leg.status == "filled"}
    assert landed == {t.tx_signature for t in trades}
    statuses = await signature_statuses(url, signed)
    assert {s for s, status in statuses.items() if status == (None,)} == landed
    assert not [s for s, status in statuses.items() if status not in (None, (None,))]
    return len(landed)
