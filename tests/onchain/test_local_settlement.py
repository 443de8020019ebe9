"""Settlement transactions built with solders, executed on the in-process LiteSVM cluster."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from onchain import spl
from onchain.cluster import ClusterRejected
from onchain.local_cluster import LocalCluster
from onchain.settlement import TokenLeg, settlement_instructions
from onchain.transactions import (
    MAX_TRANSACTION_SIZE,
    ComputeBudget,
    MissingSigner,
    compile_v0,
    fee_lamports,
    limit_from_simulation,
    sign,
    signed_by,
)

SOL = 10**9
USDC = 10**6


@pytest.fixture(name="chain")
def _chain() -> tuple[LocalCluster, Keypair, Keypair, Pubkey]:
    """A local cluster with a USDC mint, a taker holding SOL, and a pool holding USDC."""
    cluster = LocalCluster()
    usdc = Keypair.from_seed(bytes([5]) * 32).pubkey()
    taker, pool = Keypair.from_seed(bytes([6]) * 32), Keypair.from_seed(bytes([7]) * 32)
    cluster.create_mint(usdc, 6, pool.pubkey())
    cluster.airdrop(taker.pubkey(), 100 * SOL)
    cluster.airdrop(pool.pubkey(), 10 * SOL)
    cluster.set_token_balance(pool.pubkey(), usdc, 1_000_000 * USDC)
    cluster.set_token_balance(pool.pubkey(), spl.NATIVE_MINT, 0)
    return cluster, taker, pool, usdc


async def _fill(
    cluster: LocalCluster,
    taker: Keypair,
    pool: Keypair,
    usdc: Pubkey,
    sol_in: int,
    usdc_out: int,
    keys: list[Keypair],
):  # type: ignore[no-untyped-def]
    instructions = settlement_instructions(
        taker=taker.pubkey(),
        counterparty=pool.pubkey(),
        sell=TokenLeg(spl.NATIVE_MINT, 9, sol_in),
        buy=TokenLeg(usdc, 6, usdc_out),
        memo_text="intent-1",
    )
    blockhash = await cluster.latest_blockhash()
    message = compile_v0(taker.pubkey(), instructions, blockhash.blockhash, ComputeBudget(200_000))
    return message, sign(message, keys, allow_unsigned=True)


async def test_simulation_reports_units_and_the_takers_post_state(chain) -> None:  # type: ignore[no-untyped-def]
    """Simulating a fill returns compute units and the taker's bought balance, changing nothing."""
    cluster, taker, pool, usdc = chain
    _, transaction = await _fill(cluster, taker, pool, usdc, 2 * SOL, 300 * USDC, [taker, pool])
    taker_usdc = spl.associated_token_address(taker.pubkey(), usdc)
    simulation = await cluster.simulate(transaction, accounts=[taker_usdc])
    assert simulation.ok, simulation.logs
    assert 0 < simulation.units_consumed < 200_000
    assert spl.token_amount(simulation.accounts[0]) == 300 * USDC
    assert cluster.token_balance(taker.pubkey(), usdc) is None


async def test_send_moves_both_sides_exactly(chain) -> None:  # type: ignore[no-untyped-def]
    """A sent fill moves the sold SOL into the pool's vault and the USDC to the taker, to the unit."""
    cluster, taker, pool, usdc = chain
    message, transaction = await _fill(
        cluster, taker, pool, usdc, 2 * SOL, 300 * USDC, [taker, pool]
    )
    signature = await cluster.send(transaction)
    confirmation = await cluster.confirm(
        signature, (await cluster.latest_blockhash()).last_valid_block_height
    )
    assert confirmation.err is None
    assert cluster.token_balance(taker.pubkey(), usdc) == 300 * USDC
    assert cluster.token_balance(pool.pubkey(), usdc) == 1_000_000 * USDC - 300 * USDC
    assert cluster.token_balance(pool.pubkey(), spl.NATIVE_MINT) == 2 * SOL
    assert fee_lamports(message, ComputeBudget(200_000)) == 10_000
    assert await cluster.send(transaction) == signature  # a resend changes nothing


async def test_without_the_pools_signature_the_fill_cannot_land(chain) -> None:  # type: ignore[no-untyped-def]
    """Both parties must sign: sending with the pool's slot empty is refused, balances untouched."""
    cluster, taker, pool, usdc = chain
    _, transaction = await _fill(cluster, taker, pool, usdc, 2 * SOL, 300 * USDC, [taker])
    assert signed_by(transaction) == [taker.pubkey()]
    with pytest.raises(ClusterRejected):
        await cluster.send(transaction)
    assert cluster.token_balance(taker.pubkey(), usdc) is None
    relaxed = await cluster.simulate(transaction, sig_verify=False)
    assert relaxed.ok


async def test_a_fill_larger_than_the_vault_fails_atomically(chain) -> None:  # type: ignore[no-untyped-def]
    """If the pool cannot pay, the taker's side does not move either."""
    cluster, taker, pool, usdc = chain
    _, transaction = await _fill(
        cluster, taker, pool, usdc, 2 * SOL, 2_000_000 * USDC, [taker, pool]
    )
    simulation = await cluster.simulate(transaction)
    assert not simulation.ok
    with pytest.raises(ClusterRejected):
        await cluster.send(transaction)
    assert cluster.token_balance(pool.pubkey(), spl.NATIVE_MINT) == 0


async def test_signing_requires_every_key_unless_unsigned_slots_are_allowed(chain) -> None:  # type: ignore[no-untyped-def]
    """sign() refuses a missing required key by default and never exceeds the packet size."""
    cluster, taker, pool, usdc = chain
    message, transaction = await _fill(cluster, taker, pool, usdc, SOL, 150 * USDC, [taker, pool])
    with pytest.raises(MissingSigner):
        sign(message, [taker])
    assert len(bytes(transaction)) <= MAX_TRANSACTION_SIZE


@pytest.mark.parametrize(
    ("units", "margin", "expected"),
    [(10_000, 0.1, 11_000), (1, 0.1, 2), (1_350_000, 0.1, 1_400_000), (0, 0.1, 1)],
    ids=["typical", "tiny", "capped", "zero"],
)
def test_compute_limit_from_simulation(units: int, margin: float, expected: int) -> None:
    """The limit is the measured units plus the margin, at least 1 and at most 1.4M."""
    assert limit_from_simulation(units, margin) == expected


def test_settlement_refuses_nonsense_legs() -> None:
    """Same mint on both sides or a zero amount is a programming error, caught before signing."""
    mint = Keypair().pubkey()
    with pytest.raises(ValueError, match="two different mints"):
        settlement_instructions(
            taker=mint,
            counterparty=mint,
            sell=TokenLeg(mint, 6, 1),
            buy=TokenLeg(mint, 6, 1),
            memo_text="x",
        )
    with pytest.raises(ValueError, match="positive"):
        settlement_instructions(
            taker=mint,
            counterparty=mint,
            sell=TokenLeg(spl.NATIVE_MINT, 9, 0),
            buy=TokenLeg(mint, 6, 1),
            memo_text="x",
        )
