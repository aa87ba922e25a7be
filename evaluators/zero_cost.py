"""The ``zero_cost`` evaluator: training-free proxies of accuracy, computed on one batch at initialisation.

The free signals a supernet must beat to earn its training (Abdelfattah et al., "Zero-Cost
Proxies for Lightweight NAS", ICLR 2021; Mellor et al., "Neural Architecture Search without
Training", ICML 2021). Each candidate is built with the same seeded initialisation (the space's
own, at the evaluator's ``width``) and scored on the same seeded batch of training images:

* ``synflow`` — Tanaka et al. 2020: every parameter replaced by its absolute value, an all-ones
  input (one image, float64 so deep networks do not overflow), R = sum of the outputs;
  score = log of sum over the weights of convolutions and linear layers of |theta * dR/dtheta|.
  BatchNorm runs in eval mode on its fresh statistics (identity), i.e. without BN, as in the paper;
  ReLU6 becomes ReLU (the all-positive signal would saturate it and zero every gradient).
* ``naswot`` — Mellor et al. (v2): the binary activation code of each image (which units of every
  ReLU-like layer are positive), the kernel K = sum over layers of (codes agreeing), and
  score = log |det K| over the batch.
* ``grad_norm`` — the sum over the weights of convolutions and linear layers of the L2 norm of
  the cross-entropy gradient on the batch (train mode), logged.

Logs keep the scores comparable across sizes (synflow spans hundreds of orders of magnitude).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn

from core.errors import NasError
from evaluators.base import DataDirs, Evaluator, EvaluatorOptions, Need, Task
from evaluators.datasets import load_split
from evaluators.supernet.network import scaled_ops
from search_spaces import get_space
from search_spaces.ops.modules import Network
from search_spaces.ops.sparse_modules import SparseWeight

if TYPE_CHECKING:
    from search_spaces import Architecture

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU)
POOL = 5000  # the batch is drawn from the first POOL training images


def _weights(model: nn.Module) -> list[nn.Parameter]:
    """The weights of convolutions and linear layers (the sparse spaces' masked ones included)."""
    kinds = nn.Conv2d | nn.Linear | SparseWeight
    return [m.weight for m in model.modules() if isinstance(m, kinds) and isinstance(m.weight, nn.Parameter)]


def _homogeneous(model: nn.Module) -> None:
    """ReLU6 -> ReLU in place: synflow's all-positive signal saturates ReLU6 (zero gradient)."""
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU6):
            setattr(model, name, nn.ReLU())
        else:
            _homogeneous(child)


def synflow(model: nn.Module, shape: tuple[int, int, int]) -> float:
    """log sum |theta * dR/dtheta| with |theta| and an all-ones float64 input (BN in eval mode)."""
    _homogeneous(model)
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad()
    out = model(torch.ones((1, *shape), dtype=torch.float64))
    out.sum().backward()
    total = sum(float((w.detach() * w.grad).abs().sum()) for w in _weights(model) if w.grad is not None)
    return math.log(total) if total > 0 else -math.inf


def naswot(model: nn.Module, x: torch.Tensor) -> float:
    """log |det K|, K[i, j] = how many units of the ReLU-like layers images i and j agree on."""
    n = len(x)
    k = torch.zeros((n, n), dtype=torch.float64)

    def hook(_module: nn.Module, _inputs: Any, out: torch.Tensor) -> None:
        codes = (out.detach().reshape(n, -1) > 0).double()
        k.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with torch.no_grad():
            model.train()(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if float(sign) != 0 else -math.inf


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """log of the summed L2 norms of the cross-entropy gradient of each conv / linear weight."""
    model.train().zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    total = sum(float(w.grad.norm()) for w in _weights(model) if w.grad is not None)
    return math.log(total) if total > 0 else -math.inf


class ZeroCostEvaluator(Evaluator):
    """``synflow``, ``naswot`` and ``grad_norm`` of each candidate at initialisation (one batch)."""

    name: ClassVar[str] = "zero_cost"
    produces: ClassVar[tuple[str, ...]] = ("synflow", "naswot", "grad_norm")
    needs: ClassVar[tuple[Need, ...]] = (DataDirs(),)

    class Options(EvaluatorOptions):
        batch_size: int = Field(64, ge=2, le=1024, description="Images in the one batch the proxies see.")
        width: float = Field(1.0, gt=0, le=1, description="Channel width multiplier of the scored network.")
        seed: int = Field(0, ge=0, description="Seeds the initialisation and the batch.")
        threads: int | None = Field(None, ge=1, le=256, description="Intra-op threads (default: torch's).")

    def __init__(
        self,
        *,
        task: Task,
        data_dirs: Sequence[str | Path],
        batch_size: int = 64,
        width: float = 1.0,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        if task.dataset is None:
            raise NasError("zero_cost evaluator: the task names no dataset to draw its batch from")
        if threads:
            torch.set_num_threads(threads)
        self.task, self.width, self.seed = task, width, seed
        self.space = get_space(task.space)
        train = load_split(task.dataset, "train", data_dirs=tuple(Path(d) for d in data_dirs), limit=POOL)
        if len(train) < batch_size:
            raise NasError(f"zero_cost evaluator: batch_size {batch_size} exceeds the {len(train)} training images")
        rows = np.random.default_rng(seed).choice(len(train), size=batch_size, replace=False)
        self.x, self.y = torch.from_numpy(train.x[rows]), torch.from_numpy(train.y[rows])
        self.shape = tuple(self.x.shape[1:])

    def build(self, arch: Architecture) -> nn.Module:
        """``arch`` freshly initialised with the evaluator's seed (the same for every score)."""
        torch.manual_seed(self.seed)
        if self.width == 1.0:
            return self.space.build(arch, **self.task.shape)
        return Network(scaled_ops(self.space.ops(arch, **self.task.shape), self.width))

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        return {
            "naswot": naswot(self.build(arch), self.x),
            "grad_norm": grad_norm(self.build(arch), self.x, self.y),
            "synflow": synflow(self.build(arch), self.shape),
        }

    def provenance(self) -> dict[str, Any]:
        return {"evaluator": self.name, "batch_size": len(self.x), "width": self.width, "seed": self.seed}
