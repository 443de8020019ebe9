"""The ledger: what one submission writes, and the group commit that writes many at once.

The pipeline builds a :class:`Plan`; the :class:`Recorder` commits many plans' rows, fills and
book moves in one transaction and answers each with its :class:`Outcome`. In dry-run and send
it is handed a :class:`LegPreparer` (the settlement's signer) that signs each reserved leg;
:func:`render` turns a plan into its rows and its result document.
"""

from agent.ledger.group_commit import LegPreparer, PreparedTransaction, Recorder
from agent.ledger.leg_reports import BUILT_DETAIL, CHAIN_COLUMNS, LegReport
from agent.ledger.plans import (
    Final,
    LegOutcome,
    LegStatus,
    Outcome,
    Plan,
    PlanKind,
    Submission,
    recorded_outcome,
    venue_set,
)
from agent.ledger.rendering import render, route_savings

__all__ = [
    "BUILT_DETAIL",
    "CHAIN_COLUMNS",
    "Final",
    "LegOutcome",
    "LegPreparer",
    "LegReport",
    "LegStatus",
    "Outcome",
    "Plan",
    "PlanKind",
    "PreparedTransaction",
    "Recorder",
    "Submission",
    "recorded_outcome",
    "render",
    "route_savings",
    "venue_set",
]
