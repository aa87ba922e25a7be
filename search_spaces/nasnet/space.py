"""The NASNet search space (Zoph et al., CVPR 2018, https://arxiv.org/abs/1707.07012).

A normal and a reduction cell of B = 5 blocks each. Block b picks two inputs among the cell's
inputs (states 0 and 1) and the earlier blocks (states 2 .. b + 1), one of the paper's 13
operations for each, and a combination (add, or concatenation as in the paper's variant); the
cell output concatenates the states no block reads (plus ``keep``, see `genotype`). The macro
network is N normal cells per stage, three stages, a reduction cell before the second and third
(filters doubled), f filters in the first stage's cells and a stem multiplier; inputs up to 64
pixels use the CIFAR stem, larger ones the ImageNet stem (`layout`). The macro setting is part
of the genome, so an architecture is one network and the published sizes are references.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from core.errors import InvalidArchitectureError
from search_spaces.arch import Architecture
from search_spaces.base import Params, SearchSpace, choices_of
from search_spaces.nasnet.catalogue import catalogue
from search_spaces.nasnet.genotype import (
    COMBINES,
    NUM_BLOCKS,
    OPS,
    Block,
    Cell,
    Macro,
    format_cell,
    format_macro,
    parse_cell,
    parse_macro,
)
from search_spaces.nasnet.layout import build_steps
from search_spaces.nasnet.presets import REFERENCES
from search_spaces.ops.spec import OpSpec

if TYPE_CHECKING:
    from search_spaces.ops.nasnet import Step
    from search_spaces.ops.nasnet_modules import NasNetNetwork

CELLS = ("n", "r")  # gene prefixes: normal, reduction
CELL_NAMES = {"n": "normal", "r": "reduction"}
NUM_CELLS = (1, 6)  # N: normal cells per stage
FILTERS = (8, 16, 32, 44, 168)  # f: two small CPU sizes; CIFAR NASNet-A 32, Mobile 44, Large 168
STEM_MULTIPLIERS = (1, 3)  # Mobile 1; Large and CIFAR 3
MACRO_GENES = ("cells", "filters", "stem")


class NasNetSpace(SearchSpace):
    """The NASNet space; genes ``{n,r}{b}_{in1,op1,in2,op2,comb}``, ``{n,r}_keep``, ``cells``,
    ``filters``, ``stem``. ``ops``, ``num_blocks`` and ``filters`` narrow it (tests)."""

    name: ClassVar[str] = "nasnet"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "NASNet normal + reduction cells (B=5, 13 ops) with the N@F macro network"

    def __init__(
        self,
        *,
        ops: Sequence[str] = OPS,
        num_blocks: int = NUM_BLOCKS,
        filters: Sequence[int] = FILTERS,
        cells: tuple[int, int] = NUM_CELLS,
    ) -> None:
        unknown = [o for o in ops if o not in OPS]
        if unknown or not ops:
            raise ValueError(f"ops: unknown {unknown}; allowed: {', '.join(OPS)}")
        self.ops_allowed, self.num_blocks = tuple(ops), num_blocks
        dists: dict[str, BaseDistribution] = {}
        groups: list[list[str]] = []
        for p in CELLS:
            start = len(dists)
            for b in range(num_blocks):
                dists[f"{p}{b}_in1"] = IntDistribution(0, b + 1)
                dists[f"{p}{b}_op1"] = CategoricalDistribution(self.ops_allowed)
                dists[f"{p}{b}_in2"] = IntDistribution(0, b + 1)
                dists[f"{p}{b}_op2"] = CategoricalDistribution(self.ops_allowed)
                dists[f"{p}{b}_comb"] = CategoricalDistribution(COMBINES)
            # the last block is never read, so it is always in the output
            dists[f"{p}_keep"] = CategoricalDistribution(("none", *map(str, range(num_blocks + 1))))
            groups.append(list(dists)[start:])
        dists["cells"] = IntDistribution(*cells)
        dists["filters"] = CategoricalDistribution(tuple(filters))
        dists["stem"] = CategoricalDistribution(STEM_MULTIPLIERS)
        self._dists = dists
        self._groups = [*groups, *([g] for g in MACRO_GENES)]

    # -- genes -----------------------------------------------------------------------------------
    def distributions(self) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def gene_groups(self) -> list[list[str]]:
        """A cell's genes stay together: which states its output keeps depends on all its blocks."""
        return [list(g) for g in self._groups]

    def cells_of(self, params: Mapping[str, Any]) -> tuple[Cell, Cell, Macro]:
        """Normal cell, reduction cell and macro setting of a parameter dict."""
        normal, reduction = (self._cell(params, p) for p in CELLS)
        return normal, reduction, Macro(params["cells"], params["filters"], params["stem"])

    def _cell(self, params: Mapping[str, Any], p: str) -> Cell:
        blocks = tuple(
            Block(
                params[f"{p}{b}_op1"],
                params[f"{p}{b}_in1"],
                params[f"{p}{b}_op2"],
                params[f"{p}{b}_in2"],
                params[f"{p}{b}_comb"],
            )
            for b in range(self.num_blocks)
        )
        keep = params[f"{p}_keep"]
        return Cell(blocks, None if keep == "none" else int(keep))

    @staticmethod
    def _cell_params(cell: Cell, p: str) -> Params:
        out: Params = {}
        for b, block in enumerate(cell.blocks):
            out |= {f"{p}{b}_in1": block.in1, f"{p}{b}_op1": block.op1, f"{p}{b}_in2": block.in2}
            out |= {f"{p}{b}_op2": block.op2, f"{p}{b}_comb": block.combine}
        out[f"{p}_keep"] = "none" if cell.keep is None else str(cell.keep)
        return out

    def parse_genome(self, genome: Sequence[str]) -> Params:
        if len(genome) != 3:
            raise InvalidArchitectureError(
                f"genome: {self.name} genomes are [normal cell, reduction cell, macro]; got {len(genome)} strings"
            )
        params: Params = {}
        for i, p in enumerate(CELLS):
            try:
                cell = parse_cell(genome[i], num_blocks=self.num_blocks, ops=self.ops_allowed)
            except InvalidArchitectureError as e:
                raise InvalidArchitectureError(f"genome[{i}] ({CELL_NAMES[p]} cell): {e}") from None
            params |= self._cell_params(cell, p)
        try:
            macro = parse_macro(genome[2])
            for gene, value in zip(MACRO_GENES, (macro.cells, macro.filters, macro.stem), strict=True):
                allowed = choices_of(self._dists[gene])
                if value not in allowed:
                    raise InvalidArchitectureError(
                        f"{gene} {value} is not allowed; allowed: {', '.join(map(str, allowed))}"
                    )
                params[gene] = value
        except InvalidArchitectureError as e:
            raise InvalidArchitectureError(f"genome[2] (macro): {e}") from None
        return params

    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        normal, reduction, macro = self.cells_of(params)
        return format_cell(normal), format_cell(reduction), format_macro(macro)

    def canonical(self, params: Params) -> Params:
        """Each block's two (op, input) pairs sorted; ``keep`` of a state no block reads is ``none``."""
        normal, reduction, _ = self.cells_of(params)
        return {**params, **self._cell_params(normal.canonical(), "n"), **self._cell_params(reduction.canonical(), "r")}

    # -- size ------------------------------------------------------------------------------------
    def cell_cardinality(self) -> int:
        """Distinct canonical cells: unordered pairs per block x combinations, and for each such
        choice 1 + (number of states 0..B some block reads) values of ``keep``."""
        n_ops, n_comb, blocks = len(self.ops_allowed), len(COMBINES), range(self.num_blocks)

        def configs(avoid: int | None) -> int:  # block choices in which no block reads state ``avoid``
            total = 1
            for b in blocks:
                m = n_ops * (b + 2 - (avoid is not None and avoid <= b + 1))
                total *= n_comb * m * (m + 1) // 2
            return total

        every = configs(None)
        return every + sum(every - configs(s) for s in range(self.num_blocks + 1))

    def cardinality(self) -> int:
        macro = math.prod(len(choices_of(self._dists[g])) for g in MACRO_GENES)
        return self.cell_cardinality() ** 2 * macro

    def summary(self, arch: Architecture) -> str:
        ops = self.ops(arch)
        return f"NASNet {self.to_params(arch)['cells']}@{ops[-1].c_in} | " + " | ".join(arch.genome[:2])

    # -- references and layers ---------------------------------------------------------------------
    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        return dict(REFERENCES)

    def steps(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> tuple[list[Step], int]:
        """The network's steps (operators and wiring) and its number of cells."""
        normal, reduction, macro = self.cells_of(self.to_params(arch))
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        return build_steps(normal, reduction, macro, **shape)

    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        steps, _ = self.steps(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        return [s.spec for s in steps]

    def build(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> NasNetNetwork:
        """The cells wired as a DAG; its modules are exactly `ops` (``model.specs``)."""
        from search_spaces.ops.nasnet_modules import NasNetNetwork

        steps, cells = self.steps(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        return NasNetNetwork(steps, num_cells=cells)

    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Exact: every operator at every width each cell position can see, for every macro setting."""
        macros = [
            Macro(n, f, s)
            for n in choices_of(self._dists["cells"])
            for f in choices_of(self._dists["filters"])
            for s in choices_of(self._dists["stem"])
        ]
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        return catalogue(macros, ops=self.ops_allowed, num_blocks=self.num_blocks, combines=COMBINES, **shape)
