"""On real devnet (opt in with --live): one OTC settlement built by the agent, simulated there.

A fresh pool authority gets devnet SOL from the faucet, creates a throw-away mint and funds its
vault; a fresh taker then "buys" 5 units of it for 0.01 SOL, and the settlement transaction is
simulated on devnet with its post-state read back, as dry-run mode does.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import CreateAccountParams, create_account
from spl.token.instructions import InitializeMintParams, MintToParams, initialize_mint, mint_to

from onchain import spl
from onchain.rpc_cluster import RpcCluster
from onchain.settlement import TokenLeg, settlement_instructions
from onchain.transactions import ComputeBudget, compile_v0, sign

DEVNET = "https://api.devnet.solana.com"
SOL = 10**9

pytestmark = pytest.mark.live


async def _airdrop(client: httpx.AsyncClient, rpc: RpcCluster, to: Pubkey, lamports: int) -> None:
    response = await client.post(
        DEVNET,
        json={"jsonrpc": "2.0", "id": 1, "method": "requestAirdrop", "params": [str(to), lamports]},
    )
    response.raise_for_status()
    signature = Signature.from_string(response.json()["result"])
    height = await rpc.block_height()
    confirmation = await rpc.confirm(signature, height + 150)
    assert confirmation.err is None, confirmation.err


async def test_devnet_dry_runs_one_otc_settlement() -> None:
    """A settlement built by the agent simulates cleanly on devnet and delivers the bought amount."""
    async with httpx.AsyncClient(timeout=30) as client:
        rpc = RpcCluster(DEVNET, name="devnet", client=client)
        pool, taker, mint = Keypair(), Keypair(), Keypair()
        await _airdrop(client, rpc, pool.pubkey(), SOL)
        await _airdrop(client, rpc, taker.pubkey(), SOL // 2)

        rent = 1_461_600  # rent-exempt minimum for an 82-byte mint account
        vault = spl.associated_token_address(pool.pubkey(), mint.pubkey())
        setup = [
            create_account(
                CreateAccountParams(
                    from_pubkey=pool.pubkey(),
                    to_pubkey=mint.pubkey(),
                    lamports=rent,
                    space=spl.MINT_SIZE,
                    owner=spl.TOKEN_PROGRAM_ID,
                )
            ),
            initialize_mint(
                InitializeMintParams(
                    decimals=0,
                    program_id=spl.TOKEN_PROGRAM_ID,
                    mint=mint.pubkey(),
                    mint_authority=pool.pubkey(),
                )
            ),
            spl.create_ata_idempotent(pool.pubkey(), pool.pubkey(), mint.pubkey()),
            mint_to(
                MintToParams(
                    program_id=spl.TOKEN_PROGRAM_ID,
                    mint=mint.pubkey(),
                    dest=vault,
                    mint_authority=pool.pubkey(),
                    amount=1_000,
                )
            ),
            spl.create_ata_idempotent(pool.pubkey(), pool.pubkey(), spl.NATIVE_MINT),
        ]
        blockhash = await rpc.latest_blockhash()
        created = sign(compile_v0(pool.pubkey(), setup, blockhash.blockhash), [pool, mint])
        signature = await rpc.send(created)
        assert (await rpc.confirm(signature, blockhash.last_valid_block_height)).err is None

        instructions = settlement_instructions(
            taker=taker.pubkey(),
            counterparty=pool.pubkey(),
            sell=TokenLeg(spl.NATIVE_MINT, 9, SOL // 100),
            buy=TokenLeg(mint.pubkey(), 0, 5),
            memo_text="otc-agent:live-devnet-test",
        )
        for _ in range(10):  # the freshly created accounts may take a moment to be visible
            blockhash = await rpc.latest_blockhash()
            settlement = sign(
                compile_v0(
                    taker.pubkey(), instructions, blockhash.blockhash, ComputeBudget(200_000)
                ),
                [taker, pool],
            )
            bought = spl.associated_token_address(taker.pubkey(), mint.pubkey())
            simulation = await rpc.simulate(settlement, accounts=[bought])
            if simulation.ok:
                break
            await asyncio.sleep(2)
        await rpc.aclose()
    assert simulation.ok, simulation.logs
    assert simulation.units_consumed > 0
    assert spl.token_amount(simulation.accounts[0]) == 5
