"""The allocation solver's planning half; private to :mod:`agent.domain.allocation._solver`.

Everything here is integer arithmetic. Curves are asked through a cache (:class:`Probe`),
their samples become upper concave hulls of ``q * value + p * guaranteed`` (the Lagrange weight
on the guarantee is ``mu = p / q``), and a subset of curves is filled greedily along its hull
segments, then priced exactly. Polishing the winner is :mod:`agent.domain.allocation._refine`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Final

from agent.domain.allocation._model import BPS, Curve

# (expected_out, guaranteed_out, value_out) of one leg at one size.
Point = tuple[int, int, int]

# The Lagrange weight mu = p / MU_ONE; powers of two keep the weights exact integers.
MU_ONE: Final = 1 << 16
# Search mu over [MU_ONE >> 16, MU_ONE << 32] by factors of 4, then bisect the bracket.
_MU_GROWTH: Final = 2
_MU_UP_STEPS: Final = 16
_MU_DOWN_STEPS: Final = 8
_MU_BISECTIONS: Final = 10


class Probe:
    """One curve behind a cache, so `outputs` is asked about each size at most once."""

    __slots__ = ("_cache", "_keep_den", "_keep_num", "calls", "curve", "hi", "lo")

    def __init__(self, curve: Curve, amount: int) -> None:
        self.curve = curve
        self.lo = curve.min_in
        self.hi = min(curve.max_in, amount)
        num, den = curve.haircut_bps.as_integer_ratio()
        # value = floor(expected * (1 - haircut / BPS)), exactly: haircut = num / den bps.
        self._keep_num = BPS * den - num
        self._keep_den = BPS * den
        self._cache: dict[int, Point | None] = {}
        self.calls = 0

    def at(self, size: int) -> Point | None:
        """The leg's exact point at ``size``, or None when the venue refuses that size."""
        cache = self._cache
        if size in cache:
            return cache[size]
        self.calls += 1
        answer = self.curve.outputs(size)
        if answer is None:
            cache[size] = None
            return None
        expected, guaranteed = answer
        if not 0 <= guaranteed <= expected:
            # A guarantee above the expectation (or a negative amount) is a caller bug that
            # would let the solver promise the wallet more than the venue can deliver.
            raise ValueError(
                f"{self.curve.venue}/{self.curve.source} outputs({size}) returned "
                f"expected={expected}, guaranteed={guaranteed}; need 0 <= guaranteed <= expected"
            )
        value = expected * self._keep_num // self._keep_den - self.curve.fixed_cost_out
        point = cache[size] = (expected, guaranteed, value)
        return point


@dataclass(frozen=True, slots=True)
class Samples:
    """The sizes of one curve that `outputs` accepted, with their exact points."""

    order: int  # position in (venue, source) order; breaks ties between equal slopes
    probe: Probe
    xs: tuple[int, ...]
    gs: tuple[int, ...]
    vs: tuple[int, ...]


def sample_sizes(lo: int, hi: int, samples: int) -> list[int]:
    """About ``samples`` sizes in ``[lo, hi]``, both ends included.

    Half are evenly spaced; half are spaced quadratically from ``lo`` (the first steps are
    ``span / (samples / 2)**2``), because a small leg beside a large one sits where curves bend
    most relative to the trade, and even spacing alone would see that region only in one chord.
    """
    span = hi - lo
    if span < samples:
        return list(range(lo, hi + 1))
    even = max(1, samples // 2)
    quad = max(1, samples - even)
    sizes = {lo, hi}
    sizes.update(lo + span * j // even for j in range(1, even))
    sizes.update(lo + span * j * j // (quad * quad) for j in range(1, quad))
    return sorted(sizes)


def sample(probe: Probe, order: int, samples: int) -> Samples | None:
    """Ask the curve at its sample sizes; None when it refuses every one of them."""
    xs: list[int] = []
    gs: list[int] = []
    vs: list[int] = []
    for size in sample_sizes(probe.lo, probe.hi, samples):
        point = probe.at(size)
        if point is not None:
            xs.append(size)
            gs.append(point[1])
            vs.append(point[2])
    if not xs:
        return None
    return Samples(order, probe, tuple(xs), tuple(gs), tuple(vs))


@dataclass(frozen=True, slots=True)
class Hull:
    """Upper concave hull of one curve's samples under the weight ``q * value + p * guaranteed``.

    Vertices are samples (``xs``/``vs``/``gs`` are theirs). Segment ``k`` joins vertices ``k``
    and ``k + 1``; ``ranks[k]`` is minus its slope as an order-exact integer, so ranks rise
    along the curve (concavity) and a greedy fill takes low ranks first.
    """

    order: int  # the curve's position in (venue, source) order
    xs: tuple[int, ...]
    vs: tuple[int, ...]
    gs: tuple[int, ...]
    ranks: tuple[int, ...]
    reach: tuple[int, ...]  # reach[k] = xs[k] - xs[0]: input the first k segments absorb


def build_hull(samples: Samples, p: int, q: int, shift: int) -> Hull:
    """``shift`` scales slopes to integers that keep their exact order (see ``slope_shift``)."""
    xs = samples.xs
    if (p, q) == (0, 1):
        ws: Sequence[int] = samples.vs
    elif (p, q) == (1, 0):
        ws = samples.gs
    else:
        ws = [q * v + p * g for v, g in zip(samples.vs, samples.gs, strict=True)]
    hx: list[int] = []
    hw: list[int] = []
    keep: list[int] = []
    for k in range(len(xs)):
        x, w = xs[k], ws[k]
        # The last vertex goes while it lies on or below the chord from the one before to k.
        while len(hx) >= 2:
            x0, w0 = hx[-2], hw[-2]
            if (hx[-1] - x0) * (w - w0) < (hw[-1] - w0) * (x - x0):
                break
            hx.pop()
            hw.pop()
            keep.pop()
        hx.append(x)
        hw.append(w)
        keep.append(k)
    ranks = [-(((hw[k + 1] - hw[k]) << shift) // (hx[k + 1] - hx[k])) for k in range(len(hx) - 1)]
    vs, gs, start = samples.vs, samples.gs, hx[0]
    return Hull(
        order=samples.order,
        xs=tuple(hx),
        vs=tuple([vs[k] for k in keep]),
        gs=tuple([gs[k] for k in keep]),
        ranks=tuple(ranks),
        reach=tuple([x - start for x in hx]),
    )


def slope_shift(amount: int) -> int:
    """Bits that make ``floor(dw * 2**shift / dx)`` order slopes exactly for ``dx <= amount``.

    Two different slopes with run at most ``amount`` differ by at least ``1 / amount**2``, so
    after scaling by ``2**shift >= amount**2`` they land on different integers.
    """
    return 2 * amount.bit_length() + 1


@dataclass(frozen=True, slots=True)
class Fill:
    """A greedy fill of one subset: integer sizes and their value and guarantee on the hulls."""

    sizes: tuple[int, ...]
    value: int  # interpolated along hull chords, so an estimate
    guaranteed: int


def fill(hulls: Sequence[Hull], amount: int) -> Fill | None:
    """Give each curve its smallest accepted size, then the rest by marginal weight per unit.

    Exact for the piecewise-linear concave relaxation: every curve's segments come in falling
    slope order, so taking the steepest remaining segment first is optimal. Rather than walk
    the segments, bisect for the slope level at which the steeper segments absorb the rest,
    then share that level's segments in (venue, source) order: the same fill, in
    O(legs * log(segments)) steps. At most one leg ends inside a segment, and the integer sizes
    sum exactly to ``amount``.
    """
    rest = amount - sum(h.xs[0] for h in hulls)
    if rest < 0 or sum(h.reach[-1] for h in hulls) < rest:
        return None
    full = [0] * len(hulls)  # segments each leg takes whole
    taken = [0] * len(hulls)  # input inside its next segment
    if rest:
        curves = [(h.ranks, h.reach) for h in hulls]
        levels = sorted(chain.from_iterable(ranks for ranks, _ in curves))
        low, high = 0, len(levels) - 1
        while low < high:
            middle = (low + high) // 2
            level, absorbed = levels[middle], 0
            for ranks, reach in curves:
                absorbed += reach[bisect_right(ranks, level)]
            if absorbed >= rest:
                high = middle
            else:
                low = middle + 1
        level = levels[low]
        for i, h in enumerate(hulls):
            full[i] = bisect_left(h.ranks, level)
            rest -= h.reach[full[i]]
        for i, h in enumerate(hulls):
            k = full[i]
            if rest and k < len(h.ranks) and h.ranks[k] == level:
                width = h.reach[k + 1] - h.reach[k]
                if rest >= width:
                    full[i] += 1
                else:
                    taken[i] = rest
                rest -= min(rest, width)
    sizes = []
    value = guaranteed = 0
    for i, h in enumerate(hulls):
        k, t = full[i], taken[i]
        sizes.append(h.xs[k] + t)
        value += h.vs[k]
        guaranteed += h.gs[k]
        if t:
            width = h.xs[k + 1] - h.xs[k]
            value += (h.vs[k + 1] - h.vs[k]) * t // width
            guaranteed += (h.gs[k + 1] - h.gs[k]) * t // width
    return Fill(tuple(sizes), value, guaranteed)


class HullCache:
    """Hulls per (curve, mu); subsets sharing a curve share its hulls."""

    __slots__ = ("_hulls", "_shift")

    def __init__(self, amount: int) -> None:
        self._shift = slope_shift(amount)
        self._hulls: dict[tuple[int, int, int, int, int], Hull] = {}

    def get(self, samples: Samples, p: int, q: int) -> Hull:
        # A curve restricted around a refused size keeps its order but not its ends.
        key = (samples.order, samples.xs[0], samples.xs[-1], p, q)
        hull = self._hulls.get(key)
        if hull is None:
            hull = self._hulls[key] = build_hull(samples, p, q, self._shift)
        return hull


def plan_subset(
    subset: Sequence[Samples], amount: int, min_out: int, hulls: HullCache
) -> Iterator[tuple[int, ...]]:
    """Candidate sizes for one subset: the best fill by value, and when that misses min_out on
    the hulls, the cheapest fill (smallest Lagrange weight on the guarantee) that meets it."""
    if len(subset) == 1:
        # One leg takes everything: no weight on the guarantee can change its size.
        if subset[0].xs[0] <= amount <= subset[0].xs[-1]:
            yield (amount,)
        return
    best = fill([hulls.get(s, 0, 1) for s in subset], amount)
    if best is None:
        return
    yield best.sizes
    if best.guaranteed >= min_out:
        return
    safest = fill([hulls.get(s, 1, 0) for s in subset], amount)
    if safest is None or safest.guaranteed < min_out:
        # Even the fill that maximises the guarantee misses: offer it for exact pricing (the
        # hull may be pessimistic) and let refinement try to close the gap.
        if safest is not None and safest.sizes != best.sizes:
            yield safest.sizes
        return

    def at(p: int) -> Fill | None:
        return fill([hulls.get(s, p, MU_ONE) for s in subset], amount)

    def meets(candidate: Fill | None) -> bool:
        return candidate is not None and candidate.guaranteed >= min_out

    # Bracket mu between a weight that misses min_out and one that meets it.
    p_hi, found = MU_ONE, at(MU_ONE)
    p_lo = 0
    if meets(found):
        for _ in range(_MU_DOWN_STEPS):
            trial = p_hi >> _MU_GROWTH
            candidate = at(trial)
            if not meets(candidate):
                p_lo = trial
                break
            p_hi, found = trial, candidate
    else:
        for _ in range(_MU_UP_STEPS):
            p_lo, p_hi = p_hi, p_hi << _MU_GROWTH
            found = at(p_hi)
            if meets(found):
                break
        else:
            # Only a weight beyond the search meets it: the guarantee-first fill does.
            yield safest.sizes
            return
    for _ in range(_MU_BISECTIONS):
        if p_hi - p_lo <= 1:
            break
        mid = (p_lo + p_hi) // 2
        candidate = at(mid)
        if meets(candidate):
            p_hi, found = mid, candidate
        else:
            p_lo = mid
    if found is not None:
        yield found.sizes


@dataclass(slots=True)
class State:
    """An allocation being refined: its sizes and exact points, one per leg."""

    sizes: list[int]
    points: list[Point]
    considered: int = 0

    @property
    def value(self) -> int:
        return sum(p[2] for p in self.points)

    @property
    def guaranteed(self) -> int:
        return sum(p[1] for p in self.points)


def score(value: int, guaranteed: int, min_out: int) -> tuple[int, int, int]:
    """Feasible beats infeasible; among feasible more value, among infeasible more guarantee."""
    if guaranteed >= min_out:
        return (1, value, guaranteed)
    return (0, guaranteed, value)


def restrict(samples: Samples, low: int, high: int) -> Samples | None:
    """The samples within ``[low, high]``, or None when there are none."""
    a, b = bisect_left(samples.xs, low), bisect_right(samples.xs, high)
    if a >= b:
        return None
    return Samples(samples.order, samples.probe, samples.xs[a:b], samples.gs[a:b], samples.vs[a:b])


# How many times one subset is re-planned around sizes its curves refuse.
_REPAIRS: Final = 2


def candidates(
    subset: Sequence[Samples], amount: int, min_out: int, hulls: HullCache, repairs: int = _REPAIRS
) -> Iterator[State]:
    """The subset's planned sizes priced exactly.

    A hull chord can bridge sizes a venue refuses (samples between two accepted ones were
    refused); a plan that lands there is re-planned with that curve held below the gap, and
    again held above it.
    """
    for sizes in plan_subset(subset, amount, min_out, hulls):
        points = [s.probe.at(x) for s, x in zip(subset, sizes, strict=True)]
        refused = next((i for i, p in enumerate(points) if p is None), None)
        if refused is None:
            yield State(list(sizes), [p for p in points if p is not None])
            continue
        if not repairs:
            continue
        curve, size = subset[refused], sizes[refused]
        k = bisect_left(curve.xs, size)
        sides = []
        if k > 0:
            sides.append(restrict(curve, curve.xs[0], curve.xs[k - 1]))
        if k < len(curve.xs):
            sides.append(restrict(curve, curve.xs[k], curve.xs[-1]))
        for side in sides:
            if side is not None:
                narrowed = [*subset[:refused], side, *subset[refused + 1 :]]
                yield from candidates(narrowed, amount, min_out, hulls, repairs - 1)
