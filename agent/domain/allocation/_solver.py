"""Split routing: divide one intent's input across venues for the most net expected output.

The problem
-----------
Each venue is a :class:`Curve`: for an input size it gives an expected and a guaranteed
output, or refuses. A leg's *value* is what the router optimises::

    value_out = floor(expected_out * (1 - haircut_bps / 10_000)) - fixed_cost_out

``allocate`` chooses integer sizes ``x_i`` (each 0 or within ``[min_in, max_in]``, at most
``max_legs`` non-zero, summing exactly to the intent's amount) that maximise the sum of values
subject to ``sum(guaranteed_out) >= min_out``. Fixed costs and minimum sizes make this
non-convex; the curves themselves are close to concave (constant-product pools, RFQ spreads
that widen with size) but need not be.

The method
----------
1. **Sample.** Each curve is asked once at about ``samples`` sizes in
   ``[min_in, min(max_in, amount)]``, both ends and so ``amount`` itself included: half evenly
   spaced, half quadratically packed toward ``min_in`` where a small leg beside a large one
   lives. Answers are cached; every later question about a size already asked is free.
2. **Relax.** A curve becomes the upper concave hull of its samples (piecewise linear).
3. **Enumerate subsets** of 1..``max_legs`` curves (tens for a handful of curves). Inside a
   subset each leg first takes its smallest accepted size (paying its fixed cost), then the
   rest of the amount goes greedily to the steepest remaining hull segment. That is exact for
   the concave piecewise-linear relaxation, and trying every subset makes the non-convex parts
   (which legs exist at all) exact too.
4. **Hold min_out.** When a subset's best fill misses ``min_out`` on the hulls, the objective
   becomes ``value + mu * guaranteed`` (hulls rebuilt per ``mu``): ``mu`` is bracketed by
   factors of 4 and bisected to the smallest weight whose fill meets ``min_out``, the cheapest
   way to buy the missing guarantee on the relaxation.
5. **Evaluate exactly.** Every subset's candidate sizes are priced with ``outputs`` (one new
   call per candidate at most: the one leg inside a hull segment). A chord can bridge sizes a
   venue refuses; a candidate landing there is re-planned with that curve held below the gap,
   and again above it. Candidates rank feasible first, then by value (ties: fewer legs, then
   (venue, source)).
6. **Refine.** The leader is polished on the exact curves: each leg is probed one step up and
   one down, which prices every pairwise transfer at once because value and guarantee are sums
   over legs; the best improving transfer that keeps ``min_out`` is taken (a step that keeps
   winning doubles), otherwise the step halves, from the smallest leg's local sample spacing
   down to 1/64 of it. It stops early when no transfer helps and every probe lost less than
   ``value / 2**23``: along a concave direction the optimum is then within a step and worth
   less than the larger loss. This removes the chord error of the relaxation, walks onto
   ``max_in``/inventory edges and kinks the samples straddle, and restores ``min_out`` when
   interpolation was optimistic. Refinement can reorder close subsets (a small third leg that
   starts a little behind may end ahead), so up to two multi-leg runners-up within 10 bps of
   the refined leader are refined too, and the best of them all wins.

Why not a plain grid: a grid of ``n`` steps over 3 legs costs ``n**2 / 2`` evaluations and
still has ``amount / n`` resolution; the relaxation needs ``samples`` calls per curve and its
error is second order in the sample spacing, which the refinement then removes. Calls to
``outputs`` are about ``samples * len(curves)`` plus a few dozen (more when a cap is only
visible as refusals: pass ``max_in`` when it is known). The benchmark
(benchmarks/routing_quality.py) measures the result against :func:`brute_force`.

Limits: curves with upward jumps (tiered prices, a better rate past a size threshold) are
resolved only to the sample spacing, and a venue that accepts only some sizes in a range (lot
sizes) is seen only where the samples hit accepted sizes. No venue of this agent has either.

Arithmetic is integer only (slopes are compared as exactly-ordered scaled integers, ``mu`` is
a dyadic rational), the search order is fixed by ``(venue, source)``, and nothing is random:
the same curves and amount always give the same allocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, pairwise

from agent.domain.allocation._exhaustive import exhaustive
from agent.domain.allocation._model import BPS, Allocation, Curve, Leg
from agent.domain.allocation._refine import local_spacing, refine
from agent.domain.allocation._search import (
    HullCache,
    Probe,
    Samples,
    State,
    candidates,
    sample,
    score,
)

# Multi-leg candidates within this many bps of the leader are refined too, at most _RIVALS.
_RIVAL_MARGIN_BPS = 10
_RIVALS = 2

__all__ = ["Allocation", "Curve", "Leg", "allocate", "brute_force", "min_out_shares"]


def _check(curves: Sequence[Curve], amount: int, min_out: int, max_legs: int) -> list[Curve]:
    if amount < 1:
        raise ValueError(f"amount must be >= 1, got {amount}")
    if min_out < 0:
        raise ValueError(f"min_out must be >= 0, got {min_out}")
    if max_legs < 1:
        raise ValueError(f"max_legs must be >= 1, got {max_legs}")
    ordered = sorted(curves, key=lambda c: (c.venue, c.source))
    for a, b in pairwise(ordered):
        if (a.venue, a.source) == (b.venue, b.source):
            raise ValueError(f"curve {a.venue}/{a.source} is given twice")
    return ordered


def _allocation(probes: Sequence[Probe], state: State, considered: int) -> Allocation:
    legs = tuple(
        Leg(p.curve.venue, p.curve.source, size, point[0], point[1], point[2])
        for p, size, point in zip(probes, state.sizes, state.points, strict=True)
    )
    return Allocation(
        legs=legs,
        expected_out=sum(leg.expected_out for leg in legs),
        guaranteed_out=state.guaranteed,
        value_out=state.value,
        considered=considered,
    )


def allocate(
    curves: Sequence[Curve], amount: int, min_out: int, *, max_legs: int = 3, samples: int = 64
) -> Allocation | None:
    """The best split of ``amount`` by value_out whose guaranteed output meets ``min_out``.

    None when no allocation found meets ``min_out`` (or no curve accepts a usable size).
    Raises ``ValueError`` for a non-positive amount, a negative ``min_out``, ``max_legs < 1``,
    ``samples < 2``, a repeated (venue, source), or an ``outputs`` answer whose guarantee is
    negative or above its expectation.
    """
    ordered = _check(curves, amount, min_out, max_legs)
    if samples < 2:
        raise ValueError(f"samples must be >= 2, got {samples}")
    sampled: list[Samples] = []
    for order, curve in enumerate(ordered):
        probe = Probe(curve, amount)
        if probe.lo <= probe.hi and (found := sample(probe, order, samples)) is not None:
            sampled.append(found)

    hulls = HullCache(amount)
    considered = 0
    # The best exact candidate of each subset, in enumeration order (fewer legs, lower names).
    ranked: list[tuple[tuple[int, int, int], int, tuple[Samples, ...], State]] = []
    for size in range(1, min(max_legs, len(sampled)) + 1):
        for subset in combinations(sampled, size):
            best: tuple[tuple[int, int, int], State] | None = None
            for state in candidates(subset, amount, min_out, hulls):
                considered += 1
                key = score(state.value, state.guaranteed, min_out)
                if best is None or key > best[0]:
                    best = (key, state)
            if best is not None:
                ranked.append((best[0], len(ranked), subset, best[1]))
    if not ranked:
        return None

    # Refinement can reorder close candidates (a third leg that starts a little behind may
    # end ahead), so up to _RIVALS multi-leg subsets near the refined leader are refined too.
    ranked.sort(key=lambda entry: (_descending(entry[0]), entry[1]))
    finals: list[tuple[tuple[int, int, int], int, list[Probe], State]] = []
    for key, index, subset, state in ranked:
        if finals:
            leader = finals[0][0]
            margin = abs(leader[1]) * _RIVAL_MARGIN_BPS // BPS
            # A single leg cannot move, and it already ranks below the leader.
            near = key[0] == leader[0] and key[1] >= leader[1] - margin
            if len(subset) == 1 or not near:
                continue
        step = min(local_spacing(s, x) for s, x in zip(subset, state.sizes, strict=True))
        probes = [s.probe for s in subset]
        state = refine(probes, state, min_out, step)
        considered += state.considered
        finals.append((score(state.value, state.guaranteed, min_out), index, probes, state))
        if len(finals) > _RIVALS:
            break

    key, _, probes, state = min(finals, key=lambda e: (_descending(e[0]), e[1]))
    if key[0] == 0:
        return None
    return _allocation(probes, state, considered)


def _descending(key: tuple[int, int, int]) -> tuple[int, int, int]:
    return (-key[0], -key[1], -key[2])


def brute_force(
    curves: Sequence[Curve], amount: int, min_out: int, *, steps: int = 400, max_legs: int = 3
) -> Allocation | None:
    """The oracle: every split on a grid of ``amount / steps`` (plus each curve's min_in and
    max_in), exhaustive over subsets of up to ``max_legs`` curves, with every leg in turn taking
    the remainder so the sizes sum exactly. Slow (``~steps**(max_legs - 1)`` splits per subset)
    and meant for tests and the benchmark. None when no split on the grid meets ``min_out``.
    """
    ordered = _check(curves, amount, min_out, max_legs)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    probes = [Probe(c, amount) for c in ordered]
    found = exhaustive([p for p in probes if p.lo <= p.hi], amount, min_out, steps, max_legs)
    if found is None:
        return None
    legs, considered = found
    state = State([size for _, size, _ in legs], [point for _, _, point in legs])
    return _allocation([probe for probe, _, _ in legs], state, considered)


def min_out_shares(legs: Sequence[Leg], min_out: int) -> list[int]:
    """Each leg's share of ``min_out``, proportional to its guaranteed output.

    Shares are ``floor(min_out * guaranteed / total)``; the few units left over go one each to
    the legs with the largest remainders (ties to the earlier leg). The shares sum exactly to
    ``min_out`` and none exceeds its leg's guarantee: a leg with a fractional remainder has
    ``floor < min_out * guaranteed / total <= guaranteed``, so one more unit still fits.
    Raises ``ValueError`` when the guarantees sum to less than ``min_out`` or it is negative.
    """
    if min_out < 0:
        raise ValueError(f"min_out must be >= 0, got {min_out}")
    total = sum(leg.guaranteed_out for leg in legs)
    if total < min_out:
        raise ValueError(f"legs guarantee {total} in total, below min_out {min_out}")
    if min_out == 0:
        return [0] * len(legs)
    splits = [divmod(min_out * leg.guaranteed_out, total) for leg in legs]
    shares = [share for share, _ in splits]
    left = min_out - sum(shares)
    by_remainder = sorted(range(len(legs)), key=lambda i: (-splits[i][1], i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares
