"""The sparse space's supernet: one dense network trained once, each candidate its magnitude-pruned copy.

In the sparse MobileNet space (Fast Sparse ConvNets) candidates at one backbone and width have
the same layers and differ only in each 1x1 layer's sparsity and block shape, so one dense
network of that backbone and width holds every candidate: a candidate inherits the dense
weights, each of its sparse layers is pruned by block magnitude to its own sparsity and block
shape (`SparseWeight.prune_to`, as gradual pruning ends), and its BatchNorm statistics are
re-estimated by the evaluator. Training is plain dense training of that network (the
`SinglePathTrainer` with `sample` always the dense architecture).

The fixed genes are the ``macro`` string ``"<backbone> w<width>"`` (e.g. ``"mobilenet_v1 w0.5"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from core.errors import NasError
from search_spaces import get_space
from search_spaces.ops.sparse_modules import sparse_layers

if TYPE_CHECKING:
    from search_spaces import Architecture

DEFAULT_SPARSE_MACRO = "mobilenet_v1 w0.5"


class PrunedSupernet(nn.Module):
    """The dense network of the sparse space at ``macro`` (backbone and width)."""

    default_macro = DEFAULT_SPARSE_MACRO

    @classmethod
    def check_macro(cls, space: str, macro: str) -> str:
        """``macro`` normalised; `NasError` naming what is wrong."""
        return cls(space, macro=macro, in_channels=1, input_size=32, num_classes=2).macro

    def __init__(
        self,
        space: str = "sparse",
        *,
        macro: str = DEFAULT_SPARSE_MACRO,
        in_channels: int = 3,
        input_size: int = 224,
        num_classes: int = 1000,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        if space != "sparse":
            raise NasError(f"pruned supernet: only the sparse space, not {space}")
        if width != 1.0:
            raise NasError("pruned supernet: the width is a gene of the space (the macro); width must be 1.0")
        self.space = get_space(space)
        backbone, _, w = macro.partition(" ")
        if not w.startswith("w"):
            raise NasError(f"macro: expected '<backbone> w<width>' such as {DEFAULT_SPARSE_MACRO!r}, got {macro!r}")
        try:
            drawn = self.space.to_params(self.space.sample(np.random.default_rng(0)))
            self.fixed = self.space.check_params({**drawn, "backbone": backbone, "width": float(w[1:])})
        except (ValueError, NasError) as e:
            raise NasError(f"macro: {e}") from None
        self.macro = f"{self.fixed['backbone']} w{self.fixed['width']}"
        self.shape = {"in_channels": in_channels, "input_size": input_size, "num_classes": num_classes}
        self.width = 1.0
        dense = {k: (0.0 if k.endswith("_sparsity") else v) for k, v in self.fixed.items()}
        self.dense = self.space.decode(dense)
        self.net = self.space.build(self.dense, **self.shape)

    @classmethod
    def macro_genes(cls, space: str, macro: str) -> dict[str, Any]:
        """The genes ``macro`` sets: ``{"backbone": ..., "width": ...}``."""
        net = cls(space, macro=macro, in_channels=1, input_size=32, num_classes=2)
        return {"backbone": net.fixed["backbone"], "width": net.fixed["width"]}

    def options(self) -> dict[str, Any]:
        return {"macro": self.macro}

    def candidate(self, rng: np.random.Generator) -> Architecture:
        """A uniformly drawn candidate at this supernet's backbone and width."""
        return self.space.sample(rng, {"backbone": self.fixed["backbone"], "width": self.fixed["width"]})

    def sample(self, rng: np.random.Generator) -> Architecture:
        """What training trains: always the dense network."""
        return self.dense

    def references(self, seed: int) -> dict[str, Architecture]:
        """The subnets the training reports: the dense network and one seeded random candidate."""
        return {"dense": self.dense, "random": self.candidate(np.random.default_rng(seed + 7))}

    def _check(self, arch: Architecture) -> None:
        if tuple(arch.genome[:2]) != tuple(self.dense.genome[:2]):
            has = " ".join(arch.genome[:2])
            raise NasError(f"pruned supernet: trained at {self.macro!r}; the architecture has {has!r}")

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        self._check(arch)
        return self.net(x)

    @torch.no_grad()
    def extract(self, arch: Architecture) -> nn.Module:
        """``space.build(arch)`` with the dense weights, each sparse layer pruned by block magnitude
        to its own sparsity and block shape (pruned weights zeroed), in eval mode."""
        self._check(arch)
        model = self.space.build(arch, **self.shape)
        model.load_state_dict(self.net.state_dict())
        for _, layer in sparse_layers(model):
            layer.reset_mask()
            if layer.sparsity > 0:
                layer.prune_to(layer.sparsity)
                layer.weight.mul_(layer.mask)
        return model.eval()
