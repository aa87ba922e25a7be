"""Pareto fronts: non-dominated sorting with constraint handling, and hypervolume.

All functions take *loss* arrays (smaller is better in every column; see
`objectives.loss_matrix`). Constraint handling follows Deb's constrained domination: a feasible
point beats an infeasible one, infeasible points are ordered by total violation, feasible ones
by Pareto dominance. The hypervolume is the volume dominated by the front and bounded by a
reference point (exact, WFG algorithm from Optuna).
"""

from __future__ import annotations

import numpy as np
from optuna._hypervolume import compute_hypervolume


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` is no worse in every column and better in one."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_mask(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (duplicates are all kept)."""
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    if n == 0:
        return np.zeros(0, dtype=bool)
    le = np.all(losses[:, None, :] <= losses[None, :, :], axis=2)  # le[i, j]: i no worse than j
    lt = np.any(losses[:, None, :] < losses[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)
    return ~dominated


def rank(losses: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Front number of each point (0 = best) under constrained domination."""
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    violation = np.zeros(n) if violation is None else np.asarray(violation, dtype=float)
    ranks = np.full(n, -1)
    feasible = np.flatnonzero(violation <= 0)
    remaining, level = feasible, 0
    while remaining.size:
        mask = non_dominated_mask(losses[remaining])
        ranks[remaining[mask]] = level
        remaining, level = remaining[~mask], level + 1
    infeasible = np.flatnonzero(violation > 0)
    for v in np.unique(violation[infeasible]):  # ordered by total violation
        ranks[infeasible[violation[infeasible] == v]] = level
        level += 1
    return ranks


def front_indices(losses: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Indices of the best front: non-dominated feasible points, or, when none is feasible,
    the points of least violation."""
    r = rank(losses, violation)
    return np.flatnonzero(r == 0) if len(r) else np.zeros(0, dtype=int)


def hypervolume(front: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``front`` inside the box bounded by ``reference`` (points beyond it ignored)."""
    front = np.asarray(front, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if front.size == 0:
        return 0.0
    inside = front[np.all(front < reference, axis=1)]
    if inside.size == 0:
        return 0.0
    return float(compute_hypervolume(inside, reference))


def default_reference(losses: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """A reference point from observed losses: the worst value of each column pushed out by
    ``margin`` of the column's range (used once per job, then stored and kept fixed)."""
    losses = np.asarray(losses, dtype=float)
    worst, best = losses.max(axis=0), losses.min(axis=0)
    span = np.where(worst > best, worst - best, np.maximum(np.abs(worst), 1.0))
    return worst + margin * span
