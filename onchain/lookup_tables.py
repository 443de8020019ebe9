"""Address lookup tables: fetched through any cluster, ready for compiling v0 messages."""

from __future__ import annotations

from collections.abc import Sequence

from solders.address_lookup_table_account import AddressLookupTable, AddressLookupTableAccount
from solders.pubkey import Pubkey

from onchain.cluster import Cluster, ClusterBadResponse, ClusterRejected

__all__ = ["LOOKUP_TABLE_PROGRAM_ID", "resolve_lookup_tables"]

LOOKUP_TABLE_PROGRAM_ID = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")


async def resolve_lookup_tables(
    cluster: Cluster, addresses: Sequence[Pubkey]
) -> list[AddressLookupTableAccount]:
    """The tables at these addresses, in order; a missing or foreign account is refused."""
    if not addresses:
        return []
    accounts = await cluster.get_accounts(list(addresses))
    tables = []
    for address, account in zip(addresses, accounts, strict=True):
        if account is None:
            raise ClusterRejected(f"lookup table {address} does not exist")
        if account.owner != LOOKUP_TABLE_PROGRAM_ID:
            raise ClusterRejected(f"account {address} is not an address lookup table")
        try:
            table = AddressLookupTable.deserialize(bytes(account.data))
        except ValueError as exc:
            raise ClusterBadResponse(
                "getMultipleAccounts", f"lookup table {address}: {exc}"
            ) from None
        tables.append(AddressLookupTableAccount(address, list(table.addresses)))
    return tables
