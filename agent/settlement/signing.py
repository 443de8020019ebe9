"""Signing a reserved fill's transaction, inside the recorder's transaction.

:class:`LegSigner` is what the ledger's group commit is handed as its
:class:`~agent.ledger.LegPreparer`: once a venue's book has taken a fill, the leg's
settlement (or the verified swap an API built) is signed on the blockhash the plan carries,
so the signed bytes are stored with the reservation before anything is sent.
"""

from __future__ import annotations

from agent.ledger.plans import Plan
from agent.settlement.executor import ChainExecutor, PreparedLeg

__all__ = ["LegSigner"]


class LegSigner:
    def __init__(self, executor: ChainExecutor) -> None:
        self._executor = executor

    def prepare(self, plan: Plan, index: int, realised_out: int) -> PreparedLeg:
        """The signed transaction of fill ``index``, which the books took at ``realised_out``."""
        # The pipeline (and the settler, re-simulating) fetch a blockhash before reserving.
        assert plan.intent is not None and plan.blockhash is not None
        return self._executor.prepare(
            intent_id=plan.intent.id,
            wallet=plan.intent.wallet,
            quote=plan.fills[index].quote,
            realised_out=realised_out,
            sell_mint=plan.intent.sell_mint,
            buy_mint=plan.intent.buy_mint,
            blockhash=plan.blockhash,
            swap=plan.swaps.get(index),
        )
