"""Exhaustive grid search behind :func:`agent.domain.allocation._solver.brute_force`; private.

Deliberately simple, so it can serve as the oracle the fast solver is measured against.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from agent.domain.allocation._search import Point, Probe

Leg = tuple[Probe, int, Point]
# (legs in the probes' order, splits evaluated)
Found = tuple[list[Leg], int]


def _grid(probe: Probe, grid: Sequence[int]) -> list[tuple[int, Point]]:
    """The grid sizes a curve accepts, plus its own end points (inventory caps rarely sit on
    the grid, and an oracle that cannot reach them would flatter the solver)."""
    sizes = {x for x in grid if probe.lo <= x <= probe.hi} | {probe.lo, probe.hi}
    found = []
    for size in sorted(sizes):
        point = probe.at(size)
        if point is not None:
            found.append((size, point))
    return found


class _Search:
    """Best feasible split found so far; ties keep the first found."""

    def __init__(self, probes: Sequence[Probe], amount: int, min_out: int, steps: int) -> None:
        grid = sorted({amount * k // steps for k in range(1, steps + 1)})
        self.probes = probes
        self.points = [_grid(p, grid) for p in probes]
        self.amount = amount
        self.min_out = min_out
        self.best: tuple[int, int] | None = None  # (value, guaranteed)
        self.best_legs: list[Leg] = []
        self.considered = 0

    def run(self, others: list[int], rest_leg: int) -> None:
        """Every combination of grid sizes for ``others``; ``rest_leg`` takes what is left."""
        self._walk(others, rest_leg, [], self.amount, 0, 0)

    def _walk(
        self, others: list[int], rest_leg: int, chosen: list[Leg], left: int, value: int, g: int
    ) -> None:
        rest = self.probes[rest_leg]
        if not others:
            self._leaf(chosen, rest, left, value, g)
            return
        probe, tail = self.probes[others[0]], others[1:]
        for size, point in self.points[others[0]]:
            if left - size < rest.lo:
                break
            chosen.append((probe, size, point))
            self._walk(tail, rest_leg, chosen, left - size, value + point[2], g + point[1])
            chosen.pop()

    def _leaf(self, chosen: list[Leg], rest: Probe, left: int, value: int, g: int) -> None:
        if not rest.lo <= left <= rest.hi:
            return
        point = rest.at(left)
        if point is None:
            return
        self.considered += 1
        value, g = value + point[2], g + point[1]
        if g >= self.min_out and (self.best is None or (value, g) > self.best):
            self.best = (value, g)
            self.best_legs = [*chosen, (rest, left, point)]


def exhaustive(
    probes: Sequence[Probe], amount: int, min_out: int, steps: int, max_legs: int
) -> Found | None:
    search = _Search(probes, amount, min_out, steps)
    for size in range(1, min(max_legs, len(probes)) + 1):
        for subset in combinations(range(len(probes)), size):
            for rest_leg in subset:
                search.run([i for i in subset if i != rest_leg], rest_leg)
    if search.best is None:
        return None
    order = {id(p): i for i, p in enumerate(probes)}
    return sorted(search.best_legs, key=lambda leg: order[id(leg[0])]), search.considered
