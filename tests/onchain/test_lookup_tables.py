"""Address lookup tables resolved through a cluster shrink v0 transactions."""

from __future__ import annotations

import struct

import pytest
from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from onchain import spl
from onchain.cluster import ClusterRejected
from onchain.local_cluster import LocalCluster
from onchain.lookup_tables import LOOKUP_TABLE_PROGRAM_ID, resolve_lookup_tables
from onchain.transactions import compile_v0


def _table_bytes(authority: Pubkey, addresses: list[Pubkey]) -> bytes:
    """The on-chain layout: a 56-byte header (type 1, active), then the addresses."""
    header = struct.pack("<IQQB", 1, 2**64 - 1, 0, 0) + b"\x01" + bytes(authority) + b"\x00\x00"
    assert len(header) == 56
    return header + b"".join(bytes(a) for a in addresses)


async def test_resolved_tables_shrink_the_message() -> None:
    """A table holding the recipients' accounts makes the compiled message smaller."""
    cluster = LocalCluster()
    payer, table = Keypair(), Keypair().pubkey()
    recipients = [Keypair().pubkey() for _ in range(12)]
    data = _table_bytes(payer.pubkey(), recipients)
    cluster.svm.set_account(
        table, Account(lamports=10**9, data=data, owner=LOOKUP_TABLE_PROGRAM_ID, executable=False)
    )
    (resolved,) = await resolve_lookup_tables(cluster, [table])
    assert list(resolved.addresses) == recipients
    instructions = [spl.memo(f"to {r}", payer.pubkey()) for r in recipients[:1]]
    from solders.instruction import AccountMeta, Instruction

    wide = Instruction(
        spl.MEMO_PROGRAM_ID, b"x", [AccountMeta(r, False, False) for r in recipients]
    )
    plain = compile_v0(payer.pubkey(), [*instructions, wide], Hash.default())
    packed = compile_v0(
        payer.pubkey(), [*instructions, wide], Hash.default(), lookup_tables=[resolved]
    )
    assert len(bytes(packed)) < len(bytes(plain)) - 12 * 25  # ~31 bytes saved per address


@pytest.mark.parametrize("owner", [None, "system"], ids=["missing", "not-a-table"])
async def test_missing_or_foreign_tables_are_refused(owner: str | None) -> None:
    """A lookup table address that is empty or owned by another program is refused."""
    cluster = LocalCluster()
    address = Keypair().pubkey()
    if owner == "system":
        cluster.set_lamports(address, 10**9)
    with pytest.raises(ClusterRejected):
        await resolve_lookup_tables(cluster, [address])
