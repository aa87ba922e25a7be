"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020, https://arxiv.org/abs/2001.00326).

A cell is a DAG of 4 nodes; each of its 6 edges (0->1, 0->2, 1->2, 0->3, 1->3, 2->3) carries one
of 5 operations — ``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``,
``avg_pool_3x3`` — so the space has 5^6 = 15,625 architectures, every one of them an entry of
the benchmark. The genome is the 6 operation names in that edge order; the benchmark's string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` lists the same edges grouped by target node
(`to_arch_str` / `from_arch_str`). The macro network is the benchmark's: a 3x3 conv stem with
16 channels, three stages of N = 5 cells with 16, 32 and 64 channels, a residual reduction
block between stages, then BN-ReLU, global pooling and a linear classifier. At CIFAR size
(3x32x32, 10 classes) its parameter counts equal the benchmark's published ones.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution

from core.errors import InvalidArchitectureError
from search_spaces.arch import Architecture
from search_spaces.base import Params, SearchSpace
from search_spaces.nb201.ops import EDGE_KERNELS, EDGE_OPS
from search_spaces.ops.spec import OpSpec

if TYPE_CHECKING:
    from search_spaces.nb201.modules import Nb201Network

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (from, to)
GENES: tuple[str, ...] = tuple(f"edge_{i}_{j}" for i, j in EDGES)
STEM_CHANNELS = 16
DATA = Path(__file__).parent / "data"
CELLS_PER_STAGE = 5  # N
STAGES = 3
_NODE = re.compile(r"^\|(?:[a-z0-9_]+~\d+\|)+$")

# Named cells: the ResNet cell of the paper, the best cell per dataset in the benchmark (test
# accuracy, 200 epochs, mean over seeds) and the largest cell.
REFERENCES: dict[str, str] = {
    "resnet": "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    "best-cifar10": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "best-cifar100": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "best-imagenet16": (
        "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    ),
    "all-conv3x3": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
}


def to_arch_str(genome: Sequence[str]) -> str:
    """Genome (6 ops in edge order) -> the benchmark's ``|op~i|+|op~i|op~j|+|...|`` string."""
    nodes = [[f"{op}~{i}" for op, (i, j) in zip(genome, EDGES, strict=True) if j == target] for target in (1, 2, 3)]
    return "+".join("|" + "|".join(node) + "|" for node in nodes)


def parse_arch_str(text: str) -> tuple[str, ...]:
    """The benchmark's string -> genome; `InvalidArchitectureError` names what is wrong."""
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"arch_str must be a string, got {type(text).__name__}")
    nodes = text.strip().split("+")
    if len(nodes) != 3 or not all(_NODE.match(n) for n in nodes):
        raise InvalidArchitectureError(
            f"arch_str {text!r}: expected 3 nodes '|op~i|' joined by '+', e.g. {REFERENCES['resnet']}"
        )
    genome: dict[tuple[int, int], str] = {}
    for target, node in enumerate(nodes, start=1):
        items = node.strip("|").split("|")
        if len(items) != target:
            raise InvalidArchitectureError(f"arch_str {text!r}: node {target} needs {target} inputs, got {len(items)}")
        for item in items:
            op, _, source = item.partition("~")
            if op not in EDGE_OPS:
                raise InvalidArchitectureError(
                    f"arch_str {text!r}: operation {op!r} is not allowed; allowed: {', '.join(EDGE_OPS)}"
                )
            edge = (int(source), target)
            if edge not in EDGES or edge in genome:
                raise InvalidArchitectureError(
                    f"arch_str {text!r}: node {target} input ~{source} is invalid or repeated; "
                    f"node {target} reads each of nodes 0..{target - 1} once"
                )
            genome[edge] = op
    return tuple(genome[e] for e in EDGES)


@cache
def benchmark_index() -> list[str]:
    """The benchmark's architecture strings in ``arch_index`` order (from the shipped CPU table)."""
    with gzip.open(DATA / "nb201_cpu.csv.gz", "rt", newline="") as f:
        rows = sorted((int(r["arch_index"]), r["arch_str"]) for r in csv.DictReader(f))
    if [i for i, _ in rows] != list(range(len(rows))):
        raise InvalidArchitectureError(f"{DATA / 'nb201_cpu.csv.gz'} does not hold the benchmark's indices 0..15624")
    return [s for _, s in rows]


def live_edges(genome: Sequence[str]) -> list[bool]:
    """Whether each edge lies on a path of non-``none`` edges from node 0 to node 3."""
    on = [op != "none" for op in genome]
    reached, reaches = {0}, {3}
    for (i, j), o in zip(EDGES, on, strict=True):
        if o and i in reached:
            reached.add(j)
    for (i, j), o in reversed(list(zip(EDGES, on, strict=True))):
        if o and j in reaches:
            reaches.add(i)
    return [o and i in reached and j in reaches for (i, j), o in zip(EDGES, on, strict=True)]


class NasBench201Space(SearchSpace):
    """The NAS-Bench-201 space; genes ``edge_{from}_{to}`` with the 5 operation names."""

    name: ClassVar[str] = "nb201"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "NAS-Bench-201 cell (4 nodes, 6 edges, 5 ops; 15,625 archs), N=5 CIFAR macro"
    tables: ClassVar[dict[str, Path]] = {"nb201-published": DATA / "nb201-published.csv.gz"}

    def __init__(self) -> None:
        self._dists: dict[str, BaseDistribution] = {g: CategoricalDistribution(EDGE_OPS) for g in GENES}

    def distributions(self) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def parse_genome(self, genome: Sequence[str]) -> Params:
        if isinstance(genome, str) or len(genome) != len(GENES):
            raise InvalidArchitectureError(
                f"genome: {self.name} genomes are the {len(GENES)} edge operations ({', '.join(GENES)}); got {genome!r}"
            )
        for i, op in enumerate(genome):
            if op not in EDGE_OPS:
                raise InvalidArchitectureError(
                    f"genome[{i}] ({GENES[i]}): {op!r} is not allowed; allowed: {', '.join(EDGE_OPS)}"
                )
        return dict(zip(GENES, genome, strict=True))

    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(str(params[g]) for g in GENES)

    # -- the benchmark's string -------------------------------------------------------------------
    def to_arch_str(self, arch: Architecture) -> str:
        return to_arch_str(self.validate(arch).genome)

    def from_arch_str(self, text: str) -> Architecture:
        return self.from_genome(parse_arch_str(text))

    # -- numeric encoding ---------------------------------------------------------------------------
    def feature_names(self) -> list[str]:
        """The genes one-hot, then the same for the *live* cell (edges on no path from the input
        to the output read as ``none``; compilers remove them), then whether the cell is dead."""
        live = [f"live_{g}={op}" for g in GENES for op in EDGE_OPS]
        return [*super().feature_names(), *live, "dead_cell"]

    def encode(self, arch: Architecture) -> np.ndarray:
        genome = self.format_genome(self.to_params(arch))
        live = live_edges(genome)
        onehot = np.zeros((len(GENES), len(EDGE_OPS)))
        for e, (op, on) in enumerate(zip(genome, live, strict=True)):
            onehot[e, EDGE_OPS.index(op if on else "none")] = 1.0
        return np.concatenate([super().encode(arch), onehot.ravel(), [float(not any(live))]])

    def from_index(self, index: int) -> Architecture:
        """The architecture with the benchmark's ``arch_index`` (the order of its released files)."""
        strings = benchmark_index()
        if not 0 <= index < len(strings):
            raise InvalidArchitectureError(f"arch_index {index} is out of range; allowed: 0..{len(strings) - 1}")
        return self.from_arch_str(strings[index])

    def summary(self, arch: Architecture) -> str:
        return to_arch_str(arch.genome)

    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        return {name: parse_arch_str(text) for name, text in REFERENCES.items()}

    # -- layers -------------------------------------------------------------------------------------
    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        genome = self.format_genome(self.to_params(arch))
        return self._ops(genome, num_classes=num_classes, in_channels=in_channels, input_size=input_size)

    def _ops(self, genome: Sequence[str], *, num_classes: int, in_channels: int, input_size: int) -> list[OpSpec]:
        c = STEM_CHANNELS
        stem = OpSpec("nb201_stem", in_channels, c, input_size, kernel=3, name="stem")
        ops, hw, cell = [stem], input_size, 0
        for stage in range(STAGES):
            if stage:
                block = OpSpec("nb201_resblock", c, 2 * c, hw, kernel=3, stride=2, name=f"resblock{stage}")
                ops.append(block)
                c, hw = 2 * c, block.hw_out
            for _ in range(CELLS_PER_STAGE):
                for gene, op in zip(GENES, genome, strict=True):
                    spec = OpSpec(
                        "nb201_edge", c, c, hw, kernel=EDGE_KERNELS[op], attrs=(("op", op),), name=f"cell{cell}.{gene}"
                    )
                    ops.append(spec)
                cell += 1
        ops.append(OpSpec("nb201_head", c, num_classes, hw, name="head"))
        return ops

    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Exact: the fixed layers plus every operation at each stage's width and size (5 x 3 edges)."""
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        seen: dict[str, OpSpec] = {}
        for op in EDGE_OPS:
            for spec in self._ops((op,) * len(GENES), **shape):
                seen.setdefault(spec.signature(), spec)
        return list(seen.values())

    def build(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> Nb201Network:
        """The cells wired as the benchmark's DAG; its modules are exactly `ops` (``model.specs``)."""
        from search_spaces.nb201.modules import Nb201Network

        return Nb201Network(self.ops(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size))
