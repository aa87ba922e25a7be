"""The DARTS cell space with DASS's sparse operations (Liu et al., ICLR 2019,
https://arxiv.org/abs/1806.09055; Mousavi et al., "DASS: Differentiable Architecture Search for
Sparse Neural Networks", https://arxiv.org/abs/2207.06968).

A normal and a reduction cell of four nodes; node i sums two of the seven DARTS operations
(``none`` exists only in the one-shot network) applied to two distinct earlier states. The macro
network is DARTS's CIFAR network: C initial channels, L cells, reductions at L/3 and 2L/3
(`layout`). DASS makes every convolution and the classifier sparse: the macro gene ``sparsity`` is
the share of each such layer's weights that is pruned (0: the dense DARTS network). The macro
setting is part of the genome, so an architecture is one network (its evaluators and downloads
need nothing else); which values it may take are options of the space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from optuna.distributions import BaseDistribution, CategoricalDistribution

from core.errors import InvalidArchitectureError
from search_spaces.arch import Architecture
from search_spaces.base import Params, unique_ops
from search_spaces.cells.space import CELLS, CellSpace, checked_ops
from search_spaces.dass.genotype import (
    MACRO,
    NUM_NODES,
    OPS,
    Cell,
    Macro,
    Node,
    format_cell,
    input_pairs,
    parse_cell,
)
from search_spaces.dass.layout import build_steps, catalogue_ops
from search_spaces.dass.ops import total_effective_cost
from search_spaces.dass.presets import REFERENCES
from search_spaces.ops.spec import Cost, OpSpec

if TYPE_CHECKING:
    from search_spaces.cells.network import CellNetwork
    from search_spaces.cells.steps import Step

CHANNELS = (8, 16, 36)  # C: the reduced CPU setting, DARTS's search network, DARTS's CIFAR network
NUM_CELLS = (5, 20)  # L: the reduced CPU setting, DARTS's CIFAR network
SPARSITIES = (0.0, 0.5, 0.9, 0.95)
MACRO_GENES = ("channels", "cells", "sparsity")


class DassSpace(CellSpace):
    """Genes ``{n,r}{i}_in`` (the node's two inputs ``"a,b"``), ``{n,r}{i}_op1`` / ``_op2`` (the
    operations on inputs a and b), ``channels``, ``cells``, ``sparsity``. The options narrow the
    macro values (and the operations, for tests)."""

    name: ClassVar[str] = "dass"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "DARTS normal + reduction cells (4 nodes, 7 ops) on the DARTS CIFAR network, every conv and the classifier "
        "sparse (DASS)"
    )
    macro_genes: ClassVar[tuple[str, ...]] = MACRO_GENES
    macro_codec = MACRO

    def __init__(
        self,
        *,
        channels: Sequence[int] = CHANNELS,
        cells: Sequence[int] = NUM_CELLS,
        sparsities: Sequence[float] = SPARSITIES,
        ops: Sequence[str] = OPS,
    ) -> None:
        self.ops_allowed = checked_ops(ops, OPS)
        for gene, values, ok in (
            ("channels", channels, lambda v: isinstance(v, int) and v >= 2 and v % 2 == 0),
            ("cells", cells, lambda v: isinstance(v, int) and v >= 1),
            ("sparsities", sparsities, lambda v: isinstance(v, float) and 0.0 <= v < 1.0),
        ):
            bad = [v for v in values if not ok(v)]
            if bad or not values:
                raise ValueError(
                    f"{gene}: {bad or 'none given'} not allowed; need even channels >= 2, cells >= 1, "
                    "sparsities (floats) in [0, 1)"
                )
        dists: dict[str, BaseDistribution] = {}
        groups: list[list[str]] = []
        for p in CELLS:
            for i in range(NUM_NODES):
                # a node's inputs and operations stay together (an operation belongs to its input)
                node = [f"{p}{i}_in", f"{p}{i}_op1", f"{p}{i}_op2"]
                dists[node[0]] = CategoricalDistribution(input_pairs(i))
                dists[node[1]] = CategoricalDistribution(self.ops_allowed)
                dists[node[2]] = CategoricalDistribution(self.ops_allowed)
                groups.append(node)
        dists["channels"] = CategoricalDistribution(tuple(channels))
        dists["cells"] = CategoricalDistribution(tuple(cells))
        dists["sparsity"] = CategoricalDistribution(tuple(sparsities))
        self._dists = dists
        self._groups = [*groups, *([g] for g in MACRO_GENES)]

    # -- genes -----------------------------------------------------------------------------------
    def _cell(self, params: Mapping[str, Any], p: str) -> Cell:
        nodes = []
        for i in range(NUM_NODES):
            a, b = (int(x) for x in str(params[f"{p}{i}_in"]).split(","))
            nodes.append(Node(params[f"{p}{i}_op1"], a, params[f"{p}{i}_op2"], b))
        return Cell(tuple(nodes))

    def _cell_params(self, cell: Cell, p: str) -> Params:
        out: Params = {}
        for i, n in enumerate(cell.nodes):
            out |= {f"{p}{i}_in": f"{n.in1},{n.in2}", f"{p}{i}_op1": n.op1, f"{p}{i}_op2": n.op2}
        return out

    def parse_cell(self, text: str) -> Cell:
        return parse_cell(text, ops=self.ops_allowed)

    def format_cell(self, cell: Cell) -> str:
        return format_cell(cell)

    # -- size ------------------------------------------------------------------------------------
    def cell_cardinality(self) -> int:
        """Distinct cells: node i has (i + 2 choose 2) input pairs and |ops|^2 operation pairs
        (the DARTS paper's count, about 10^9 per cell with its 7 operations)."""
        return math.prod(len(input_pairs(i)) * len(self.ops_allowed) ** 2 for i in range(NUM_NODES))

    def summary(self, arch: Architecture) -> str:
        return f"DARTS {arch.genome[2]} | " + " | ".join(arch.genome[:2])

    # -- references and layers ---------------------------------------------------------------------
    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        """DARTS V1/V2 at the paper's CIFAR setting and V2 at the reduced CPU setting (where the
        space's options allow their macro values)."""
        out = {}
        for name, genome in REFERENCES.items():
            try:
                self.parse_genome(genome)
            except InvalidArchitectureError:
                continue
            out[name] = genome
        return out

    def network_steps(self, normal: Cell, reduction: Cell, macro: Macro, *, shape: dict[str, int]) -> list[Step]:
        return build_steps(normal, reduction, macro, **shape)

    def network(self, steps: list[Step], macro: Macro, *, shape: dict[str, int]) -> CellNetwork:
        """DARTS's drop path (off until the trainer raises ``drop_path.prob``); the sparse layers
        initialise and prune themselves."""
        from search_spaces.cells.network import CellNetwork, UniformDropPath

        return CellNetwork(steps, drop_path=UniformDropPath(), init=False)

    def effective_cost(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> Cost:
        """Parameters and MACs counting only the weights the masks keep (`cost` counts them densely)."""
        return total_effective_cost(
            self.ops(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        )

    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Exact: every operation at every cell position, for every macro setting."""
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        return unique_ops(op for macro in self.macros() for op in catalogue_ops(macro, ops=self.ops_allowed, **shape))
