"""The allocation solver's polishing half; private to :mod:`agent.domain.allocation._solver`.

Planned sizes come from sampled hulls, so they are as good as the sample spacing. This moves
input between legs on the exact curves until no move of a shrinking step helps.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Final

from agent.domain.allocation._search import Point, Probe, Samples, State, score

# Refinement stops once moves shrink below 1/64 of the first step (or of the smallest leg):
# the loss from a misallocation is second order in its size, so by then it is negligible.
_REFINE_SHRINK: Final = 6
# ... or once the probes bound what is left below value / 2**23 (about 0.001 bp).
_SETTLED_SHIFT: Final = 23


def local_spacing(samples: Samples, size: int) -> int:
    """The gap between the samples around ``size``: how far off the hull fill can be there."""
    xs = samples.xs
    k = bisect_left(xs, size)
    gaps = [1]
    if 0 < k < len(xs):
        gaps.append(xs[k] - xs[k - 1])
    if k + 1 < len(xs) and xs[k] == size:
        gaps.append(xs[k + 1] - xs[k])
    return max(gaps)


def refine(probes: Sequence[Probe], state: State, min_out: int, step: int) -> State:
    """Move input between pairs of legs in shrinking steps while the score improves.

    Value and guarantee are sums over legs, so probing each leg one step up and one step down
    prices every pairwise move at once: 2 calls per leg per step size, then 2 per accepted move.
    A step that keeps winning doubles, so a start far from the optimum is crossed quickly.

    It stops early once no move of the current step improves and every one of them, feasible
    and unclamped, loses at most ``value >> _SETTLED_SHIFT``: along a concave pair direction the
    optimum is then within one step and worth no more than the larger of the two losses.
    """
    legs = len(state.sizes)
    if legs < 2:
        return state
    # Relative to the smallest leg too: a small leg's optimum needs a finer step to be found.
    floor_step = max(1, min(step, *state.sizes) >> _REFINE_SHRINK)
    last: tuple[int, int] | None = None
    while step >= floor_step:
        value_now, guaranteed_now = state.value, state.guaranteed
        current = score(value_now, guaranteed_now, min_out)
        best: tuple[tuple[int, int, int], int, int, int, Point, Point] | None = None
        settled = current[0] == 1
        worst_loss = 0
        for i in range(legs):
            down = min(step, state.sizes[i] - probes[i].lo)
            for j in range(legs):
                if j == i:
                    continue
                t = min(down, probes[j].hi - state.sizes[j])
                if t < step:
                    settled = False  # clamped by a bound: the loss says nothing about beyond
                if t <= 0:
                    continue
                from_i = probes[i].at(state.sizes[i] - t)
                to_j = probes[j].at(state.sizes[j] + t)
                if from_i is None or to_j is None:
                    settled = False
                    continue
                state.considered += 1
                pi, pj = state.points[i], state.points[j]
                value = value_now - pi[2] - pj[2] + from_i[2] + to_j[2]
                guaranteed = guaranteed_now - pi[1] - pj[1] + from_i[1] + to_j[1]
                trial = score(value, guaranteed, min_out)
                if guaranteed < min_out:
                    settled = False  # the constraint, not the curve, stops this move
                worst_loss = max(worst_loss, value_now - value)
                if trial > current and (best is None or trial > best[0]):
                    best = (trial, i, j, t, from_i, to_j)
        if best is None:
            if settled and worst_loss <= abs(value_now) >> _SETTLED_SHIFT:
                break
            step //= 2
            last = None
            continue
        _, i, j, t, from_i, to_j = best
        state.sizes[i] -= t
        state.sizes[j] += t
        state.points[i], state.points[j] = from_i, to_j
        if last == (i, j) and t == step:
            step *= 2
        last = (i, j)
    return state
