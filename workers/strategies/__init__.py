"""Search strategies, looked up by name in `STRATEGIES` (Ray-free: ask/tell over plain values)."""

from __future__ import annotations

from core.registry import Registry
from workers.strategies.base import Proposal, Record, Result, Strategy

STRATEGIES: Registry[type[Strategy]] = Registry(
    "strategy",
    {
        "random": "workers.strategies.random_search:RandomStrategy",
        "dass": "workers.strategies.dass:DassStrategy",
        "nsga2": "workers.strategies.optuna_samplers:NSGA2Strategy",
        "tpe": "workers.strategies.optuna_samplers:TPEStrategy",
        "evolution": "workers.strategies.evolution:EvolutionStrategy",
        "guided": "workers.strategies.guided:GuidedStrategy",
        "mnasnet_rl": "workers.strategies.mnasnet_rl:MnasNetRLStrategy",
    },
)

__all__ = ["STRATEGIES", "Proposal", "Record", "Result", "Strategy"]
