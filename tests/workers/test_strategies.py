"""Strategies: the ask/tell contract, determinism, replay, and what each one is for."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import NasError
from core.objectives import Constraint, Objective
from search_spaces import get_space
from workers.strategies import STRATEGIES, Proposal, Record, Result, Strategy
from workers.strategies.mnasnet_rl import mnasnet_reward

space = get_space("mnasnet")
SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}
COST = [Objective(metric="params"), Objective(metric="macs")]


def cost(p: Proposal) -> Result:
    c = space.cost(p.arch, **SHAPE)
    return Result({"params": float(c.params), "macs": float(c.macs)})


def make(name: str, objectives: list[Objective] = COST, seed: int = 0, **options: object) -> Strategy:
    return STRATEGIES.get(name)(space=space, objectives=objectives, constraints=[], seed=seed, **options)


def drive(strategy: Strategy, rounds: int, batch: int, fn=cost) -> list[tuple[Proposal, Result]]:
    seen = []
    for _ in range(rounds):
        proposals = strategy.ask(batch)
        assert len(proposals) <= batch
        for p in proposals:
            r = fn(p)
            strategy.tell(p, r)
            seen.append((p, r))
    return seen


@pytest.mark.parametrize("name", ["random", "nsga2", "tpe", "evolution"])
def test_same_seed_same_proposals(name: str) -> None:
    a = [p.arch.arch_id for p, _ in drive(make(name, seed=3), 3, 8)]
    b = [p.arch.arch_id for p, _ in drive(make(name, seed=3), 3, 8)]
    assert a == b and len(a) == 24


@pytest.mark.parametrize("name", ["nsga2", "tpe", "evolution"])
def test_guided_strategies_beat_random_on_a_cost_objective(name: str) -> None:
    def mean_best(strategy_name: str) -> float:
        best = []
        for seed in range(3):
            options = {"population_size": 16} if strategy_name in ("nsga2", "evolution") else {}
            results = drive(make(strategy_name, seed=seed, **options), 12, 16)
            best.append(min(r.metrics["params"] for _, r in results))
        return float(np.mean(best))

    assert mean_best(name) < mean_best("random")


def test_nsga2_replay_restores_generations() -> None:
    first = make("nsga2", population_size=8)
    history = drive(first, 4, 8)
    assert {p.attrs["sampler"]["NSGAIISampler:generation"] for p, _ in history} == {0, 1, 2, 3}
    resumed = make("nsga2", population_size=8)
    resumed.replay([Record(p.arch, r, p.attrs) for p, r in history])
    assert len(resumed.study.trials) == 32
    nxt = resumed.ask(8)
    assert all(p.attrs["sampler"]["NSGAIISampler:generation"] == 4 for p in nxt)


def test_failed_results_are_told_as_failures() -> None:
    s = make("nsga2", population_size=4)
    [p] = s.ask(1)
    s.tell(p, Result(None))
    assert s.study.trials[0].state.name == "FAIL"
    with pytest.raises(NasError, match="unknown proposal"):
        s.tell(p, Result(None))


def test_constraints_reach_optuna() -> None:
    s = STRATEGIES.get("nsga2")(space=space, objectives=COST, constraints=[Constraint.parse("params <= 1e5")], seed=0)
    [p] = s.ask(1)
    r = cost(p)
    s.tell(p, r)
    assert s.study.trials[0].constraints == {"params <= 100000": pytest.approx(r.metrics["params"] - 1e5)}


def test_evolution_mutates_tournament_winners_once_the_population_is_full() -> None:
    s = make("evolution", population_size=10, sample_size=3)
    drive(s, 1, 10)
    children = s.ask(5)
    assert all(p.attrs["origin"] == "mutation" for p in children)
    parents = {a.arch_id for a, _, _ in s.population}
    assert all(p.attrs["parent"] in parents for p in children)


def test_mnasnet_reward_matches_the_paper() -> None:
    # soft constraint (alpha = beta = -0.07): 2x slower costs 1 - 2^-0.07 = 4.7% of the reward
    assert mnasnet_reward(0.75, 160, target_ms=80, alpha=-0.07, beta=-0.07) == pytest.approx(0.75 * 2**-0.07)
    assert mnasnet_reward(0.75, 40, target_ms=80, alpha=-0.07, beta=-0.07) == pytest.approx(0.75 * 0.5**-0.07)
    # hard constraint: no bonus under the target, a steep penalty above it
    assert mnasnet_reward(0.75, 40, target_ms=80, alpha=0.0, beta=-1.0) == pytest.approx(0.75)
    assert mnasnet_reward(0.75, 160, target_ms=80, alpha=0.0, beta=-1.0) == pytest.approx(0.375)


def test_mnasnet_rl_controller_learns_to_raise_its_reward() -> None:
    objectives = [Objective(metric="accuracy"), Objective(metric="latency_ms")]
    s = make("mnasnet_rl", objectives, seed=1, target_ms=1.0, variant="hard", learning_rate=0.1)

    def measured(p: Proposal) -> Result:  # a cheap stand-in for accuracy: bigger models score higher, saturating
        c = space.cost(p.arch, **SHAPE)
        return Result({"accuracy": float(1 - np.exp(-c.params / 1.5e6)), "latency_ms": c.macs / 4e7})

    history = drive(s, 30, 16, measured)
    rewards = [s.reward(r.metrics) for _, r in history]
    assert np.mean(rewards[-64:]) > np.mean(rewards[:64]) + 0.02
    with pytest.raises(NasError, match="must include accuracy and latency_ms"):
        make("mnasnet_rl", COST, target_ms=1.0)
