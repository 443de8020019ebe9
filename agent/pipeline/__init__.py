"""One submission from bytes to a decision: verification, policy, quotes, the router's legs
(waited on no longer than the intent has left), last look, then the plan to the ledger.

:class:`Pipeline` (with :class:`PipelineSettings`) is built by :mod:`agent.app` and handed every
collaborator, its :class:`LegPlanner` and :class:`DeadlineWaiter` among them. :class:`Routing`
holds what the planner gathers for one intent; :func:`verify_submission` checks bytes alone.
"""

from agent.pipeline.deadlines import DeadlineWaiter
from agent.pipeline.legs import LegPlanner, Routing
from agent.pipeline.pipeline import Pipeline, PipelineSettings
from agent.pipeline.verification import verify_submission

__all__ = [
    "DeadlineWaiter",
    "LegPlanner",
    "Pipeline",
    "PipelineSettings",
    "Routing",
    "verify_submission",
]
