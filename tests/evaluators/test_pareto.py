"""Pareto fronts and hypervolume against brute-force definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluators.pareto import default_reference, dominates, front_indices, hypervolume, non_dominated_mask, rank

points = st.integers(1, 25).flatmap(
    lambda n: st.tuples(
        st.lists(st.lists(st.integers(0, 6), min_size=2, max_size=2), min_size=n, max_size=n),
        st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.5, 1.0]), min_size=n, max_size=n),
    )
)


def brute_front(losses: np.ndarray, viol: np.ndarray) -> set[int]:
    """Deb's constrained domination, written out pairwise."""

    def beats(i: int, j: int) -> bool:
        if viol[i] == 0 and viol[j] > 0:
            return True
        if viol[i] > 0 and viol[j] > 0:
            return viol[i] < viol[j]
        return viol[i] == 0 and viol[j] == 0 and dominates(losses[i], losses[j])

    return {j for j in range(len(losses)) if not any(beats(i, j) for i in range(len(losses)))}


@settings(max_examples=200, deadline=None)
@given(data=points)
def test_front_equals_brute_force(data: tuple[list[list[int]], list[float]]) -> None:
    losses, viol = np.array(data[0], float), np.array(data[1])
    assert set(front_indices(losses, viol).tolist()) == brute_front(losses, viol)
    unconstrained = {
        j for j in range(len(losses)) if not any(dominates(losses[i], losses[j]) for i in range(len(losses)))
    }
    assert set(np.flatnonzero(non_dominated_mask(losses)).tolist()) == unconstrained


@settings(max_examples=100, deadline=None)
@given(data=points)
def test_ranks_peel_fronts(data: tuple[list[list[int]], list[float]]) -> None:
    losses, viol = np.array(data[0], float), np.array(data[1])
    r = rank(losses, viol)
    for level in range(r.max() + 1):  # each level is the front of what remains
        remaining = np.flatnonzero(r >= level)
        assert set(remaining[front_indices(losses[remaining], viol[remaining])].tolist()) == set(
            np.flatnonzero(r == level).tolist()
        )


def grid_hypervolume(front: np.ndarray, ref: np.ndarray, step: float = 0.25) -> float:
    """Count grid cells dominated by some point (exact for points on the grid)."""
    axes = [np.arange(0, r, step) + step / 2 for r in ref]
    cells = np.array(list(itertools.product(*axes)))
    dominated = np.any(np.all(front[None, :, :] <= cells[:, None, :], axis=2), axis=1)
    return float(dominated.sum() * step ** len(ref))


@pytest.mark.parametrize("dims", [2, 3])
def test_hypervolume_matches_grid_counting(dims: int) -> None:
    rng = np.random.default_rng(dims)
    for _ in range(20):
        front = rng.integers(0, 8, size=(rng.integers(1, 8), dims)) / 2.0
        ref = np.full(dims, 4.5)
        assert hypervolume(front, ref) == pytest.approx(grid_hypervolume(front, ref))


def test_hypervolume_ignores_points_beyond_the_reference() -> None:
    assert hypervolume(np.array([[1.0, 1.0], [5.0, 0.0]]), np.array([2.0, 2.0])) == pytest.approx(1.0)
    assert hypervolume(np.zeros((0, 2)), np.array([1.0, 1.0])) == 0.0


def test_default_reference_is_beyond_the_worst_point() -> None:
    losses = np.array([[1.0, 10.0], [3.0, 20.0]])
    np.testing.assert_allclose(default_reference(losses), [3.2, 21.0])
