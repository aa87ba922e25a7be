"""Predictor-guided evolutionary search (as in SimQ-NAS / DyNAS-T: evolve many, evaluate few).

Each round, once ``initial`` random architectures have been evaluated:

1. **Retrain** one XGBoost ensemble per objective (and per constraint metric) on every result so far.
2. **Evolve a pool** of ``pool_size`` unseen candidates the NSGA-II way — parents by binary
   tournament on constrained-domination rank and crowding within the population (the best
   ``population_size`` evaluated architectures by rank, then crowding),
   uniform crossover of gene groups (probability ``crossover_prob``), then mutation — plus a
   share ``random_share`` of fresh random samples.
3. **Predict all** of them (mean and ensemble spread; metrics the space computes exactly from the
   genome — ``exact``, by default ``params`` and ``macs`` at the job's input shape, as the
   ``cost`` evaluator does — are computed, not predicted) and send the most promising to the real
   evaluators: optimistic losses ``loss - kappa * std`` (non-domination plus uncertainty), and
   greedily the candidate whose optimistic point adds the most hypervolume to the evaluated front
   and the points already picked; predicted-infeasible candidates only when nothing else is left.

With ``use_predictor=False`` the same pool is drawn from and the picks are uniform: the
ablation "same strategy without the predictor". State is the results themselves, so `replay`
rebuilds it by telling them again.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from optuna.study._multi_objective import _calculate_nondomination_rank

from core.errors import NasError
from core.metrics import get_metric
from core.objectives import violations
from evaluators.pareto import default_reference, hypervolume, non_dominated_mask, rank
from predictors import PREDICTORS, Featurizer, Predictor
from search_spaces import Architecture
from workers.strategies.base import Proposal, Result, Strategy, StrategyContext

FEATURE_SHAPE = {"in_channels": 3, "input_size": 32, "num_classes": 10}  # ranking only needs relative costs
COST_METRICS = {"params", "macs"}  # what `space.cost` gives exactly
SHORTLIST = 100  # candidates whose hypervolume gain is computed, by optimistic rank


def crowding(losses: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within one front (infinite at the extremes)."""
    n, m = losses.shape
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(losses[:, j])
        span = losses[order[-1], j] - losses[order[0], j]
        out[order[0]] = out[order[-1]] = np.inf
        if span > 0:
            out[order[1:-1]] += (losses[order[2:], j] - losses[order[:-2], j]) / span
    return out


def volume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of ``points`` bounded by ``reference``; an O(n log n) sweep for two objectives."""
    if points.shape[1] != 2:
        return hypervolume(points, reference)
    inside = points[np.all(points < reference, axis=1)]
    if not len(inside):
        return 0.0
    inside = inside[np.lexsort((inside[:, 1], inside[:, 0]))]
    best = np.minimum.accumulate(inside[:, 1])
    widths = np.diff(np.append(inside[:, 0], reference[0]))
    return float(np.sum(widths * (reference[1] - best)))


class GuidedStrategy(Strategy):
    name: ClassVar[str] = "guided"

    def __init__(
        self,
        *,
        initial: int = 20,
        population_size: int = 20,
        pool_size: int = 500,
        random_share: float = 0.2,
        crossover_prob: float = 0.9,
        kappa: float = 1.0,
        members: int = 3,
        n_estimators: int = 100,
        use_predictor: bool = True,
        exact: tuple[str, ...] | list[str] = ("params", "macs"),
        **common: Any,
    ) -> None:
        checks = {
            "initial": initial >= 2,
            "population_size": population_size >= 2,
            "pool_size": pool_size >= 1,
            "random_share": 0 <= random_share <= 1,
            "crossover_prob": 0 <= crossover_prob <= 1,
            "kappa": kappa >= 0,
            "members": members >= 2,
            "n_estimators": n_estimators >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise NasError(
                f"guided: invalid {', '.join(bad)}; need initial, population_size >= 2, pool_size >= 1, "
                "random_share and crossover_prob in [0, 1], kappa >= 0, members >= 2 (the spread is the uncertainty), "
                "n_estimators >= 1"
            )
        super().__init__(**common)
        self.initial, self.pool_size, self.random_share = initial, pool_size, random_share
        self.population_size = population_size
        self.crossover_prob, self.kappa, self.use_predictor = crossover_prob, kappa, use_predictor
        self.members, self.n_estimators = members, n_estimators
        self.targets = list(dict.fromkeys([o.metric for o in self.objectives] + [c.metric for c in self.constraints]))
        self.exact = [m for m in self.targets if m in set(exact) & COST_METRICS]
        self.shape = dict(FEATURE_SHAPE)  # the job's input shape once bound (exact costs depend on it)
        self.featurizer: Featurizer | None = None  # built on first use (the operator catalogue takes a moment)
        self.models: dict[str, Predictor] = {}
        self.archs: list[Architecture] = []
        self.metrics: list[dict[str, float]] = []
        self.done: set[str] = set()
        self.pending: set[str] = set()
        self.trained_on = 0
        self.round = 0

    def bind(self, context: StrategyContext) -> None:
        self.shape = dict(context.task.shape)

    # -- ask/tell ------------------------------------------------------------------------------------
    def ask(self, n: int) -> list[Proposal]:
        self.round += 1
        if len(self.archs) + len(self.pending) < self.initial or len(self.archs) < 2:
            return self._mark([(self._fresh_random(), {"origin": "random"}) for _ in range(n)])
        pool = self._pool()
        if not pool:
            return []
        if not self.use_predictor:
            picks = self.rng.choice(len(pool), size=min(n, len(pool)), replace=False)
            return self._mark([(pool[i], {"origin": "pool"}) for i in picks])
        self._retrain()
        return self._mark(self._select(pool, n))

    def tell(self, proposal: Proposal, result: Result) -> None:
        arch_id = proposal.arch.arch_id
        self.pending.discard(arch_id)
        if arch_id in self.done:
            return
        self.done.add(arch_id)
        if result.ok and result.metrics is not None and all(m in result.metrics for m in self.targets):
            self.archs.append(proposal.arch)
            self.metrics.append({m: float(result.metrics[m]) for m in self.targets})

    def _mark(self, picks: list[tuple[Architecture | None, dict[str, Any]]]) -> list[Proposal]:
        out = []
        for arch, attrs in picks:
            if arch is None or arch.arch_id in self.pending:
                continue
            self.pending.add(arch.arch_id)
            out.append(Proposal(arch, {**attrs, "round": self.round}))
        return out

    # -- candidates --------------------------------------------------------------------------------
    def _unseen(self, arch: Architecture) -> bool:
        return arch.arch_id not in self.done and arch.arch_id not in self.pending

    def _fresh_random(self) -> Architecture | None:
        for _ in range(100):
            arch = self.space.sample(self.rng)
            if self._unseen(arch):
                return arch
        return None

    def _real(self) -> tuple[np.ndarray, np.ndarray]:
        losses = np.array([self.losses(m) for m in self.metrics], dtype=float)
        return losses, np.array([self.violation(m) for m in self.metrics], dtype=float)

    def _pool(self) -> list[Architecture]:
        losses, viol = self._real()
        ranks = rank(losses, viol)
        crowd = np.zeros(len(ranks))
        for r in np.unique(ranks):
            members = np.flatnonzero(ranks == r)
            crowd[members] = crowding(losses[members])
        # NSGA-II survival: the population is the best population_size by (rank, crowding)
        elite = np.lexsort((-crowd, ranks))[: self.population_size]

        def tournament() -> Architecture:
            a, b = self.rng.choice(elite, size=2)
            better = a if (ranks[a], -crowd[a]) <= (ranks[b], -crowd[b]) else b
            return self.archs[int(better)]

        pool: dict[str, Architecture] = {}
        n_random = round(self.random_share * self.pool_size)
        for _ in range(3 * self.pool_size):
            if len(pool) >= self.pool_size:
                break
            if len(pool) < n_random:
                child = self.space.sample(self.rng)
            else:
                child = tournament()
                if self.rng.random() < self.crossover_prob:
                    child = self.space.crossover(child, tournament(), self.rng)
                child = self.space.mutate(child, self.rng)
            if self._unseen(child):
                pool.setdefault(child.arch_id, child)
        return list(pool.values())

    # -- predictors and selection ---------------------------------------------------------------------
    def _retrain(self) -> None:
        if self.trained_on == len(self.archs):
            return
        if self.featurizer is None:
            self.featurizer = Featurizer(self.space, FEATURE_SHAPE)
        x = self.featurizer.transform(self.archs)
        for metric in self.targets:
            if metric in self.exact:
                continue
            y = np.array([m[metric] for m in self.metrics])
            model = PREDICTORS.get("xgboost")(
                featurizer=self.featurizer,
                metric=metric,
                seed=self.seed + len(self.archs),
                members=self.members,
                n_estimators=self.n_estimators,
                log_target=bool((y > 0).all()) and get_metric(metric).log_scale,
            )
            self.models[metric] = model.fit(x, y)
        self.trained_on = len(self.archs)

    def _select(self, pool: list[Architecture], n: int) -> list[tuple[Architecture | None, dict[str, Any]]]:
        if self.featurizer is None:
            raise NasError("guided: predictors are not trained yet")
        x = self.featurizer.transform(pool)
        preds = {m: model.predict(x) for m, model in self.models.items()}
        mean = {m: p.mean for m, p in preds.items()}
        std = {m: p.std for m, p in preds.items()}
        costs = [self.space.cost(a, **self.shape) for a in pool] if self.exact else []
        for m in self.exact:
            mean[m] = np.array([float(getattr(c, m)) for c in costs])
            std[m] = np.zeros(len(pool))
        optimistic = np.stack([o.sign * mean[o.metric] - self.kappa * std[o.metric] for o in self.objectives], 1)
        viol = np.array(
            [sum(violations({m: mean[m][i] for m in self.targets}, self.constraints)) for i in range(len(pool))]
        )
        candidates = np.flatnonzero(viol <= 0)
        if not len(candidates):  # all predicted infeasible: least violation first
            candidates = np.argsort(viol, kind="stable")[:SHORTLIST]
        ranks = _calculate_nondomination_rank(optimistic[candidates], n_below=SHORTLIST)
        order = np.lexsort((self.rng.random(len(candidates)), ranks))
        shortlist = [int(i) for i in candidates[order][:SHORTLIST]]
        real, real_viol = self._real()
        feasible = real[real_viol <= 0]
        front = feasible[non_dominated_mask(feasible)] if len(feasible) else np.zeros((0, real.shape[1]))
        reference = default_reference(np.vstack([real, optimistic[shortlist]]))
        chosen: list[int] = []
        for _ in range(min(n, len(shortlist))):
            base = volume(front, reference)
            best, best_gain = None, 0.0
            for i in shortlist:
                point = optimistic[i]
                if i in chosen or (len(front) and np.any(np.all(front <= point, axis=1))):
                    continue  # weakly dominated by the front: adds nothing
                gain = volume(np.vstack([front, point]), reference) - base
                if gain > best_gain:
                    best, best_gain = i, gain
            if best is None:  # nothing adds hypervolume: the next by optimistic rank
                best = next(i for i in shortlist if i not in chosen)
            chosen.append(best)
            front = np.vstack([front, optimistic[best]])
        return [
            (
                pool[i],
                {
                    "origin": "guided",
                    "predicted": {m: [float(mean[m][i]), float(std[m][i])] for m in self.targets},
                },
            )
            for i in chosen
        ]
