"""Random search: each gene drawn uniformly (the baseline every strategy must beat)."""

from __future__ import annotations

from typing import ClassVar

from workers.strategies.base import Proposal, Result, Strategy


class RandomStrategy(Strategy):
    name: ClassVar[str] = "random"

    def ask(self, n: int) -> list[Proposal]:
        return [Proposal(self.space.sample(self.rng)) for _ in range(n)]

    def tell(self, proposal: Proposal, result: Result) -> None:
        pass

    def replay(self, records: object) -> None:
        pass
