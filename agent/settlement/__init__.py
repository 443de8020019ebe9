"""Settlement: reserved fills turned into Solana transactions, signed, then simulated or sent,
and what a crash left executing settled before new work starts.

:class:`ChainExecutor` builds and runs a leg's transaction on the cluster of a
:class:`ChainContext` (:func:`build_local_chain` rebuilds the embedded one); :class:`LegSigner`
is the ledger's leg preparer; :class:`Settler` settles reserved legs and records the result.
"""

from agent.settlement.chain import (
    ChainContext,
    PoolVaults,
    build_local_chain,
    held_wallet_keys,
    pool_authority,
)
from agent.settlement.executor import ChainExecutor, ExecutionReport, PreparedLeg
from agent.settlement.settler import SettlementInDoubt, Settler
from agent.settlement.signing import LegSigner

__all__ = [
    "ChainContext",
    "ChainExecutor",
    "ExecutionReport",
    "LegSigner",
    "PoolVaults",
    "PreparedLeg",
    "SettlementInDoubt",
    "Settler",
    "build_local_chain",
    "held_wallet_keys",
    "pool_authority",
]
