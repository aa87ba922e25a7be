"""Regularized (aging) evolution (Real et al., AAAI 2019, https://arxiv.org/abs/1802.01548).

The population is the ``population_size`` most recently evaluated candidates (the oldest dies
when a child is born). A parent is the best of ``sample_size`` random population members and its
child is one mutation of it. With several objectives "best" means lowest constrained-domination
rank within the tournament sample, ties broken at random; with one objective, the best value.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np

from core.errors import NasError
from evaluators.pareto import rank
from search_spaces import Architecture
from workers.strategies.base import Proposal, Result, Strategy


class EvolutionStrategy(Strategy):
    name: ClassVar[str] = "evolution"

    def __init__(self, *, population_size: int = 50, sample_size: int = 10, **common: Any) -> None:
        if population_size < 2 or not 1 <= sample_size <= population_size:
            raise NasError("evolution: need population_size >= 2 and 1 <= sample_size <= population_size")
        super().__init__(**common)
        self.population_size, self.sample_size = population_size, sample_size
        self.population: deque[tuple[Architecture, np.ndarray, float]] = deque(maxlen=population_size)
        self.pending = 0

    def ask(self, n: int) -> list[Proposal]:
        out = []
        for _ in range(n):
            if len(self.population) + self.pending < self.population_size or len(self.population) < 2:
                out.append(Proposal(self.space.sample(self.rng), {"origin": "random"}))
            else:
                parent = self._tournament()
                out.append(
                    Proposal(self.space.mutate(parent, self.rng), {"origin": "mutation", "parent": parent.arch_id})
                )
            self.pending += 1
        return out

    def _tournament(self) -> Architecture:
        idx = self.rng.choice(len(self.population), size=min(self.sample_size, len(self.population)), replace=False)
        members = [self.population[i] for i in idx]
        losses = np.stack([m[1] for m in members])
        ranks = rank(losses, np.array([m[2] for m in members]))
        if len(self.objectives) == 1:  # single objective: rank by value among the feasible best
            ranks = np.where(ranks == ranks.min(), losses[:, 0], np.inf)
        best = np.flatnonzero(ranks == ranks.min())
        return members[int(self.rng.choice(best))][0]

    def tell(self, proposal: Proposal, result: Result) -> None:
        self.pending = max(0, self.pending - 1)
        if result.ok and result.metrics is not None:
            self.population.append(
                (proposal.arch, np.asarray(self.losses(result.metrics)), self.violation(result.metrics))
            )
