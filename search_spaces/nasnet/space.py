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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from search_spaces.arch import Architecture
from search_spaces.base import Params
from search_spaces.cells.space import CELLS, CellSpace, checked_ops
from search_spaces.nasnet.catalogue import catalogue
from search_spaces.nasnet.genotype import (
    COMBINES,
    MACRO,
    NUM_BLOCKS,
    OPS,
    Block,
    Cell,
    Macro,
    format_cell,
    parse_cell,
)
from search_spaces.nasnet.layout import build_steps, cell_count
from search_spaces.nasnet.presets import REFERENCES
from search_spaces.ops.spec import OpSpec

if TYPE_CHECKING:
    from search_spaces.cells.network import CellNetwork
    from search_spaces.cells.steps import Step

NUM_CELLS = (1, 6)  # N: normal cells per stage
FILTERS = (8, 16, 32, 44, 168)  # f: two small CPU sizes; CIFAR NASNet-A 32, Mobile 44, Large 168
STEM_MULTIPLIERS = (1, 3)  # Mobile 1; Large and CIFAR 3
MACRO_GENES = ("cells", "filters", "stem")


class NasNetSpace(CellSpace):
    """The NASNet space; genes ``{n,r}{b}_{in1,op1,in2,op2,comb}``, ``{n,r}_keep``, ``cells``,
    ``filters``, ``stem``. ``ops``, ``num_blocks`` and ``filters`` narrow it (tests)."""

    name: ClassVar[str] = "nasnet"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "NASNet normal + reduction cells (B=5, 13 ops) with the N@F macro network"
    macro_genes: ClassVar[tuple[str, ...]] = MACRO_GENES
    macro_codec = MACRO

    def __init__(
        self,
        *,
        ops: Sequence[str] = OPS,
        num_blocks: int = NUM_BLOCKS,
        filters: Sequence[int] = FILTERS,
        cells: tuple[int, int] = NUM_CELLS,
    ) -> None:
        self.ops_allowed, self.num_blocks = checked_ops(ops, OPS), num_blocks
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
        # a cell's genes stay together: which states its output keeps depends on all its blocks
        self._groups = [*groups, *([g] for g in MACRO_GENES)]

    # -- genes -----------------------------------------------------------------------------------
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

    def _cell_params(self, cell: Cell, p: str) -> Params:
        out: Params = {}
        for b, block in enumerate(cell.blocks):
            out |= {f"{p}{b}_in1": block.in1, f"{p}{b}_op1": block.op1, f"{p}{b}_in2": block.in2}
            out |= {f"{p}{b}_op2": block.op2, f"{p}{b}_comb": block.combine}
        out[f"{p}_keep"] = "none" if cell.keep is None else str(cell.keep)
        return out

    def parse_cell(self, text: str) -> Cell:
        return parse_cell(text, num_blocks=self.num_blocks, ops=self.ops_allowed)

    def format_cell(self, cell: Cell) -> str:
        return format_cell(cell)

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

    def summary(self, arch: Architecture) -> str:
        ops = self.ops(arch)
        return f"NASNet {self.to_params(arch)['cells']}@{ops[-1].c_in} | " + " | ".join(arch.genome[:2])

    # -- references and layers ---------------------------------------------------------------------
    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        return dict(REFERENCES)

    def network_steps(self, normal: Cell, reduction: Cell, macro: Macro, *, shape: dict[str, int]) -> list[Step]:
        return build_steps(normal, reduction, macro, **shape)

    def network(self, steps: list[Step], macro: Macro, *, shape: dict[str, int]) -> CellNetwork:
        """With ScheduledDropPath over the network's cells (off until ``set_drop_path``)."""
        from search_spaces.cells.network import CellNetwork, ScheduledDropPath

        return CellNetwork(steps, drop_path=ScheduledDropPath(cell_count(macro, shape["input_size"])))

    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Exact: every operator at every width each cell position can see, for every macro setting."""
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        return catalogue(self.macros(), ops=self.ops_allowed, num_blocks=self.num_blocks, combines=COMBINES, **shape)
