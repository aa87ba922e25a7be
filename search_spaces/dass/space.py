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

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from optuna.distributions import BaseDistribution, CategoricalDistribution

from core.errors import InvalidArchitectureError
from search_spaces.arch import Architecture
from search_spaces.base import Params, SearchSpace, choices_of, unique_ops
from search_spaces.dass.genotype import (
    NUM_NODES,
    OPS,
    Cell,
    Macro,
    Node,
    format_cell,
    format_macro,
    input_pairs,
    parse_cell,
    parse_macro,
)
from search_spaces.dass.layout import build_steps, catalogue_ops
from search_spaces.dass.presets import REFERENCES
from search_spaces.ops.dass import Step, total_effective_cost
from search_spaces.ops.spec import Cost, OpSpec

if TYPE_CHECKING:
    from search_spaces.ops.dass_modules import DassNetwork

CELLS = ("n", "r")  # gene prefixes: normal, reduction
CELL_NAMES = {"n": "normal", "r": "reduction"}
CHANNELS = (8, 16, 36)  # C: the reduced CPU setting, DARTS's search network, DARTS's CIFAR network
NUM_CELLS = (5, 20)  # L: the reduced CPU setting, DARTS's CIFAR network
SPARSITIES = (0.0, 0.5, 0.9, 0.95)
MACRO_GENES = ("channels", "cells", "sparsity")


class DassSpace(SearchSpace):
    """Genes ``{n,r}{i}_in`` (the node's two inputs ``"a,b"``), ``{n,r}{i}_op1`` / ``_op2`` (the
    operations on inputs a and b), ``channels``, ``cells``, ``sparsity``. The options narrow the
    macro values (and the operations, for tests)."""

    name: ClassVar[str] = "dass"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "DARTS normal + reduction cells (4 nodes, 7 ops) on the DARTS CIFAR network, every conv and the classifier "
        "sparse (DASS)"
    )

    def __init__(
        self,
        *,
        channels: Sequence[int] = CHANNELS,
        cells: Sequence[int] = NUM_CELLS,
        sparsities: Sequence[float] = SPARSITIES,
        ops: Sequence[str] = OPS,
    ) -> None:
        unknown = [o for o in ops if o not in OPS]
        if unknown or not ops:
            raise ValueError(f"ops: unknown {unknown}; allowed: {', '.join(OPS)}")
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
        self.ops_allowed = tuple(ops)
        dists: dict[str, BaseDistribution] = {}
        groups: list[list[str]] = []
        for p in CELLS:
            for i in range(NUM_NODES):
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
    def distributions(self) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def gene_groups(self) -> list[list[str]]:
        """A node's inputs and operations stay together (an operation belongs to its input)."""
        return [list(g) for g in self._groups]

    def cells_of(self, params: Mapping[str, Any]) -> tuple[Cell, Cell, Macro]:
        """Normal cell, reduction cell and macro setting of a parameter dict."""
        normal, reduce = (self._cell(params, p) for p in CELLS)
        return normal, reduce, Macro(params["channels"], params["cells"], params["sparsity"])

    @staticmethod
    def _cell(params: Mapping[str, Any], p: str) -> Cell:
        nodes = []
        for i in range(NUM_NODES):
            a, b = (int(x) for x in str(params[f"{p}{i}_in"]).split(","))
            nodes.append(Node(params[f"{p}{i}_op1"], a, params[f"{p}{i}_op2"], b))
        return Cell(tuple(nodes))

    @staticmethod
    def _cell_params(cell: Cell, p: str) -> Params:
        out: Params = {}
        for i, n in enumerate(cell.nodes):
            out |= {f"{p}{i}_in": f"{n.in1},{n.in2}", f"{p}{i}_op1": n.op1, f"{p}{i}_op2": n.op2}
        return out

    def params_of(self, normal: Cell, reduce: Cell, macro: Macro) -> Params:
        """Inverse of `cells_of` (values not yet checked against the space)."""
        return {
            **self._cell_params(normal, "n"),
            **self._cell_params(reduce, "r"),
            "channels": macro.channels,
            "cells": macro.cells,
            "sparsity": macro.sparsity,
        }

    def check_macro(self, macro: Macro) -> Macro:
        """``macro`` if the space allows each of its values; else `InvalidArchitectureError`
        naming the gene and the allowed values."""
        for gene, value in zip(MACRO_GENES, (macro.channels, macro.cells, macro.sparsity), strict=True):
            allowed = choices_of(self._dists[gene])
            if value not in allowed:
                raise InvalidArchitectureError(
                    f"{gene} {value:g} is not allowed; allowed: {', '.join(f'{a:g}' for a in allowed)}"
                )
        return macro

    def architecture(self, normal: Cell, reduce: Cell, macro: Macro) -> Architecture:
        """The validated architecture of two cells and a macro setting."""
        return self.decode(self.params_of(normal, reduce, macro))

    def parse_genome(self, genome: Sequence[str]) -> Params:
        if len(genome) != 3:
            raise InvalidArchitectureError(
                f"genome: {self.name} genomes are [normal cell, reduction cell, macro]; got {len(genome)} strings"
            )
        params: Params = {}
        for i, p in enumerate(CELLS):
            try:
                cell = parse_cell(genome[i], ops=self.ops_allowed)
            except InvalidArchitectureError as e:
                raise InvalidArchitectureError(f"genome[{i}] ({CELL_NAMES[p]} cell): {e}") from None
            params |= self._cell_params(cell, p)
        try:
            macro = self.check_macro(parse_macro(genome[2]))
            params |= {"channels": macro.channels, "cells": macro.cells, "sparsity": macro.sparsity}
        except InvalidArchitectureError as e:
            raise InvalidArchitectureError(f"genome[2] (macro): {e}") from None
        return params

    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        normal, reduce, macro = self.cells_of(params)
        return format_cell(normal), format_cell(reduce), format_macro(macro)

    # -- size ------------------------------------------------------------------------------------
    def cell_cardinality(self) -> int:
        """Distinct cells: node i has (i + 2 choose 2) input pairs and |ops|^2 operation pairs
        (the DARTS paper's count, about 10^9 per cell with its 7 operations)."""
        return math.prod(len(input_pairs(i)) * len(self.ops_allowed) ** 2 for i in range(NUM_NODES))

    def cardinality(self) -> int:
        macro = math.prod(len(choices_of(self._dists[g])) for g in MACRO_GENES)
        return self.cell_cardinality() ** 2 * macro

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

    def steps(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[Step]:
        """The network's steps (operators and wiring)."""
        normal, reduce, macro = self.cells_of(self.to_params(arch))
        return build_steps(
            normal, reduce, macro, num_classes=num_classes, in_channels=in_channels, input_size=input_size
        )

    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        steps = self.steps(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        return [s.spec for s in steps]

    def effective_cost(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> Cost:
        """Parameters and MACs counting only the weights the masks keep (`cost` counts them densely)."""
        return total_effective_cost(
            self.ops(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        )

    def build(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> DassNetwork:
        """The cells wired as a DAG; its modules are exactly `ops` (``model.specs``)."""
        from search_spaces.ops.dass_modules import DassNetwork

        return DassNetwork(self.steps(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size))

    def macros(self) -> list[Macro]:
        """Every macro setting the space allows."""
        return [Macro(c, n, s) for c, n, s in itertools.product(*(choices_of(self._dists[g]) for g in MACRO_GENES))]

    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Exact: every operation at every cell position, for every macro setting."""
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        return unique_ops(op for macro in self.macros() for op in catalogue_ops(macro, ops=self.ops_allowed, **shape))
