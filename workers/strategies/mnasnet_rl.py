"""MnasNet's search: a policy-gradient controller maximising ACC x (LAT / T)^w.

Tan et al., CVPR 2019 (https://arxiv.org/abs/1807.11626), Eq. 2: the reward of a model m with
accuracy ACC(m) and measured latency LAT(m) against a target T is ``ACC(m) * (LAT(m)/T)^w`` with
``w = alpha`` when LAT <= T and ``w = beta`` otherwise. The paper's soft constraint uses
alpha = beta = -0.07; the hard constraint alpha = 0, beta = -1.

The paper trains an RNN controller with PPO. We keep its reward and its sampling of one token per
search decision, with a factorised controller: one softmax per gene (the space's fixed
distributions), trained with REINFORCE, an exponential-moving-average baseline and Adam. This
is documented as a simplification: the controller has no memory between decisions.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from core.errors import NasError
from search_spaces.base import choices_of
from workers.strategies.base import Proposal, Result, Strategy

VARIANTS = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0)}


def mnasnet_reward(accuracy: float, latency_ms: float, *, target_ms: float, alpha: float, beta: float) -> float:
    """ACC x (LAT / T)^w with w = alpha if LAT <= T else beta."""
    w = alpha if latency_ms <= target_ms else beta
    return accuracy * (latency_ms / target_ms) ** w


class MnasNetRLStrategy(Strategy):
    name: ClassVar[str] = "mnasnet_rl"

    def __init__(
        self,
        *,
        target_ms: float,
        variant: Literal["soft", "hard"] = "soft",
        learning_rate: float = 0.05,
        baseline_decay: float = 0.95,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        metrics = {o.metric for o in self.objectives}
        if not {"accuracy", "latency_ms"} <= metrics:
            raise NasError("mnasnet_rl: the objectives must include accuracy and latency_ms (its reward combines them)")
        if variant not in VARIANTS:
            raise NasError(f"mnasnet_rl: variant {variant!r} unknown; known: soft, hard")
        if not target_ms > 0:
            raise NasError(f"mnasnet_rl: target_ms must be positive, got {target_ms}")
        self.target_ms, self.variant = float(target_ms), variant
        self.alpha, self.beta = VARIANTS[variant]
        self.lr, self.decay = learning_rate, baseline_decay
        self.genes = {name: choices_of(d) for name, d in self.space.distributions().items()}
        self.logits = {name: np.zeros(len(c)) for name, c in self.genes.items()}
        self.adam = {name: (np.zeros(len(c)), np.zeros(len(c))) for name, c in self.genes.items()}
        self.steps = 0
        self.baseline: float | None = None

    def _probs(self, name: str) -> np.ndarray:
        z = self.logits[name] - self.logits[name].max()
        p = np.exp(z)
        return p / p.sum()

    def ask(self, n: int) -> list[Proposal]:
        out = []
        for _ in range(n):
            picks = {name: int(self.rng.choice(len(c), p=self._probs(name))) for name, c in self.genes.items()}
            arch = self.space.decode({name: self.genes[name][i] for name, i in picks.items()})
            out.append(Proposal(arch, {"actions": picks}))
        return out

    def reward(self, metrics: Any) -> float:
        return mnasnet_reward(
            float(metrics["accuracy"]),
            float(metrics["latency_ms"]),
            target_ms=self.target_ms,
            alpha=self.alpha,
            beta=self.beta,
        )

    def tell(self, proposal: Proposal, result: Result) -> None:
        if not result.ok or result.metrics is None:
            return
        actions = proposal.attrs.get("actions") or self._actions_of(proposal)
        r = self.reward(result.metrics)
        self.baseline = r if self.baseline is None else self.decay * self.baseline + (1 - self.decay) * r
        advantage = r - self.baseline
        self.steps += 1
        for name, i in actions.items():  # gradient ascent on advantage * log pi(a)
            grad = -self._probs(name)
            grad[int(i)] += 1.0
            self._adam_step(name, advantage * grad)

    def _actions_of(self, proposal: Proposal) -> dict[str, int]:
        params = self.space.to_params(proposal.arch)
        return {name: self.genes[name].index(params[name]) for name in self.genes}

    def _adam_step(self, name: str, grad: np.ndarray, b1: float = 0.9, b2: float = 0.999) -> None:
        m, v = self.adam[name]
        m[:] = b1 * m + (1 - b1) * grad
        v[:] = b2 * v + (1 - b2) * grad**2
        m_hat, v_hat = m / (1 - b1**self.steps), v / (1 - b2**self.steps)
        self.logits[name] += self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
