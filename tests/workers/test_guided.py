"""The predictor-guided strategy on NAS-Bench-201 tables (ask/tell, replay, options, quality)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from core.errors import NasError
from core.objectives import Constraint, Objective
from evaluators.pareto import hypervolume, non_dominated_mask
from search_spaces import get_space
from workers.strategies import STRATEGIES, Proposal, Record, Result
from workers.strategies.guided import GuidedStrategy, volume

ASSET = Path(__file__).parents[2] / "search_spaces" / "nb201" / "data" / "nb201_cpu.csv.gz"
OBJECTIVES = [Objective(metric="latency_ms"), Objective(metric="params", direction="max")]
OPTIONS = {"initial": 10, "pool_size": 200, "n_estimators": 40}


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, float]]:
    space = get_space("nb201")
    with gzip.open(ASSET, "rt") as f:
        return {
            space.from_arch_str(r["arch_str"]).arch_id: {
                "latency_ms": float(r["latency_ms"]),
                "params": float(r["params"]),
            }
            for r in csv.DictReader(f)
        }


def run(strategy, table, budget: int, batch: int = 10) -> list[Proposal]:
    told: list[Proposal] = []
    while len(told) < budget:
        proposals = strategy.ask(batch)
        assert proposals, "the strategy ran dry"
        for p in proposals:
            strategy.tell(p, Result(table[p.arch.arch_id]))
            told.append(p)
    return told


def test_random_start_then_predicted_picks_never_repeating(table) -> None:
    strategy = GuidedStrategy(space=get_space("nb201"), objectives=OBJECTIVES, seed=0, **OPTIONS)
    told = run(strategy, table, 40)
    ids = [p.arch.arch_id for p in told]
    assert len(set(ids)) == 40  # never proposes an evaluated (or pending) architecture
    assert [p.attrs["origin"] for p in told] == ["random"] * 10 + ["guided"] * 30
    predicted = np.array([p.attrs["predicted"]["latency_ms"] for p in told[10:]])
    truth = np.array([table[p.arch.arch_id]["latency_ms"] for p in told[10:]])
    assert (predicted[:, 1] >= 0).all()
    assert np.mean(np.abs(predicted[:, 0] - truth) / truth) < 0.25  # the predictions track the truth
    # params is computed exactly from the genome (as the cost evaluator does), never predicted
    assert set(strategy.models) == {"latency_ms"}
    assert all(p.attrs["predicted"]["params"] == [table[p.arch.arch_id]["params"], 0.0] for p in told[10:])
    pending = strategy.ask(5)
    assert not {p.arch.arch_id for p in pending} & set(ids) and len({p.arch.arch_id for p in pending}) == len(pending)


def test_guided_beats_random_at_equal_evaluations(table) -> None:
    space = get_space("nb201")
    signs = np.array([1.0, -1.0])
    everything = np.array([[m["latency_ms"], m["params"]] for m in table.values()]) * signs
    reference = everything.max(axis=0) + 0.1 * (everything.max(axis=0) - everything.min(axis=0))

    def hv(told: list[Proposal]) -> float:
        losses = (
            np.array([[table[p.arch.arch_id]["latency_ms"], table[p.arch.arch_id]["params"]] for p in told]) * signs
        )
        return hypervolume(losses[non_dominated_mask(losses)], reference)

    guided = [hv(run(GuidedStrategy(space=space, objectives=OBJECTIVES, seed=s, **OPTIONS), table, 60)) for s in (0, 1)]
    rand = [hv(run(STRATEGIES.get("random")(space=space, objectives=OBJECTIVES, seed=s), table, 60)) for s in (0, 1)]
    assert np.mean(guided) > np.mean(rand)


def test_replay_restores_the_results_and_avoids_them(table) -> None:
    space = get_space("nb201")
    first = GuidedStrategy(space=space, objectives=OBJECTIVES, seed=0, **OPTIONS)
    told = run(first, table, 20)
    again = GuidedStrategy(space=space, objectives=OBJECTIVES, seed=0, **OPTIONS)
    failed = Record(space.sample(np.random.default_rng(99)), Result(None), {})
    again.replay([Record(p.arch, Result(table[p.arch.arch_id]), p.attrs) for p in told] + [failed])
    assert [a.arch_id for a in again.archs] == [p.arch.arch_id for p in told]  # the failed one is not data
    nxt = again.ask(10)
    assert len(nxt) == 10 and not {p.arch.arch_id for p in nxt} & {*again.done}
    assert all(p.attrs["origin"] == "guided" for p in nxt)


def test_constraints_are_predicted_too_and_options_are_checked(table) -> None:
    space = get_space("nb201")
    bound = float(np.median([m["latency_ms"] for m in table.values()]))
    strategy = GuidedStrategy(
        space=space, objectives=[OBJECTIVES[1]], constraints=[Constraint.parse(f"latency_ms <= {bound}")], seed=0,
        **OPTIONS,
    )  # fmt: skip
    told = run(strategy, table, 40)
    guided = [p for p in told if p.attrs["origin"] == "guided"]
    assert set(guided[0].attrs["predicted"]) == {"params", "latency_ms"}
    feasible = np.mean([table[p.arch.arch_id]["latency_ms"] <= bound for p in guided])
    assert feasible >= 0.6  # picks mostly respect the (predicted) latency bound
    with pytest.raises(NasError, match="invalid kappa, members; need"):
        GuidedStrategy(space=space, objectives=OBJECTIVES, members=1, kappa=-1)


def test_two_objective_volume_equals_the_exact_hypervolume() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        points, reference = rng.random((int(rng.integers(1, 25)), 2)), np.array([0.9, 1.1])
        assert volume(points, reference) == pytest.approx(hypervolume(points, reference))
