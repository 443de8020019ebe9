"""The allocation solver: one intent's amount spread over venue curves (one venue or a split)
so that the risk-adjusted output is the largest, exactly, in integers.

The public face is :func:`allocate` and the types it reads and answers; the search, its
refinement and the exhaustive oracle the tests compare it with are private modules.
"""

from agent.domain.allocation._model import BPS, Allocation, Curve, Leg
from agent.domain.allocation._solver import allocate, brute_force, min_out_shares

__all__ = ["BPS", "Allocation", "Curve", "Leg", "allocate", "brute_force", "min_out_shares"]
