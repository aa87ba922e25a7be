"""DARTS cell genotypes and their human-readable strings, in both directions.

States are numbered as in the DARTS reference code (``quark0/darts``, ``cnn/model.py``): 0 is the
output of the cell before the previous one (c_{k-2}), 1 the previous cell's output (c_{k-1}), and
2 + i the output of intermediate node i. Node i (0..3) sums two operations applied to two
*distinct* earlier states (the DARTS discretisation keeps the strongest edges "from distinct
nodes"); the cell output concatenates all four intermediate nodes. A cell string lists its nodes,
each as ``op@input+op@input`` with the inputs in increasing order (the pair is unordered, so this
is its canonical spelling)::

    sep_conv_3x3@0+sep_conv_3x3@1 sep_conv_3x3@0+sep_conv_3x3@1 skip_connect@0+sep_conv_3x3@1
    skip_connect@0+dil_conv_3x3@2

(one line in the genome; DARTS-V2's normal cell).
The macro string is ``C=<initial channels> L=<cells> s=<sparsity>``: the network's width and
depth (DARTS's ``init_channels`` and ``layers``) and the fraction of every convolution's and the
classifier's weights that are pruned (DASS; 0 is the dense network).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidArchitectureError
from search_spaces.cells.genotype import MacroCodec, TwoEdges, cell_tokens, check_edges

# The DARTS primitives (genotypes.PRIMITIVES), in the reference order. "none" exists only in the
# one-shot network; a discrete cell never holds it (the derivation skips it), so genes use OPS.
PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
OPS: tuple[str, ...] = PRIMITIVES[1:]
NUM_NODES = 4  # DARTS "steps"
NUM_INPUTS = 2  # cell inputs c_{k-2}, c_{k-1}

_EDGE = r"([a-z0-9_]+)@(\d+)"
_NODE = re.compile(rf"^{_EDGE}\+{_EDGE}$")


@dataclass(frozen=True)
class Node(TwoEdges):
    """``op1(state in1) + op2(state in2)`` with ``in1 < in2``."""

    @classmethod
    def of(cls, a: tuple[str, int], b: tuple[str, int]) -> Node:
        """The node of two (op, input) pairs given in any order."""
        (op1, in1), (op2, in2) = sorted([a, b], key=lambda e: e[1])
        return cls(op1, in1, op2, in2)


@dataclass(frozen=True)
class Cell:
    """Four nodes; the output concatenates states 2..5."""

    nodes: tuple[Node, ...]

    @property
    def concat(self) -> tuple[int, ...]:
        return tuple(range(NUM_INPUTS, NUM_INPUTS + len(self.nodes)))

    def pairs(self) -> list[tuple[str, int]]:
        """The reference implementation's genotype list: (op, input) per edge, two per node."""
        return [e for n in self.nodes for e in n.edges]


@dataclass(frozen=True)
class Macro:
    """DARTS ``init_channels`` (C), ``layers`` (L) and the DASS sparsity of every weight layer."""

    channels: int
    cells: int
    sparsity: float


def input_pairs(node: int) -> tuple[str, ...]:
    """The allowed input pairs of ``node`` as gene values ``"a,b"`` (a < b < node + 2)."""
    n = node + NUM_INPUTS
    return tuple(f"{a},{b}" for a in range(n) for b in range(a + 1, n))


def cell_from_pairs(pairs: list[tuple[str, int]] | tuple[tuple[str, int], ...]) -> Cell:
    """A cell from the reference genotype list (two (op, input) pairs per node)."""
    if len(pairs) != 2 * NUM_NODES:
        raise InvalidArchitectureError(f"a DARTS cell has {2 * NUM_NODES} (op, input) pairs, got {len(pairs)}")
    return Cell(tuple(Node.of(pairs[2 * i], pairs[2 * i + 1]) for i in range(NUM_NODES)))


def format_cell(cell: Cell) -> str:
    return " ".join(f"{n.op1}@{n.in1}+{n.op2}@{n.in2}" for n in cell.nodes)


def parse_cell(text: str, *, ops: tuple[str, ...] = OPS) -> Cell:
    """Inverse of `format_cell` (pairs in either order); checks operation names and inputs."""
    tokens = cell_tokens(text, NUM_NODES, shape=f"{NUM_NODES} nodes 'op@input+op@input'")
    nodes = []
    for i, token in enumerate(tokens):
        m = _NODE.match(token)
        if m is None:
            raise InvalidArchitectureError(f"node {i} {token!r}: expected <op>@<input>+<op>@<input>")
        op1, in1, op2, in2 = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        check_edges(f"node {i}", [(op1, in1), (op2, in2)], ops=ops, last_input=i + 1)
        if in1 == in2:
            raise InvalidArchitectureError(f"node {i}: the two inputs must be distinct states, got {in1} twice")
        nodes.append(Node.of((op1, in1), (op2, in2)))
    return Cell(tuple(nodes))


MACRO = MacroCodec(Macro, keys=("C", "L", "s"), placeholders=("channels", "cells", "sparsity"))


def format_macro(macro: Macro) -> str:
    return MACRO.format(macro)


def parse_macro(text: str) -> Macro:
    return MACRO.parse(text)


def edge_count(nodes: int = NUM_NODES) -> int:
    """Edges of the one-shot cell: node i reads every earlier state (2 + i edges)."""
    return sum(NUM_INPUTS + i for i in range(nodes))


def derive_cell(weights: list[list[float]], primitives: tuple[str, ...] = PRIMITIVES) -> Cell:
    """DARTS's discretisation (``model_search.py``, ``genotype()._parse``) of one cell's
    architecture weights (one row per edge, in edge order, one column per primitive): each node
    keeps its two inputs whose strongest non-``none`` weight is largest, with that operation.
    Ties go to the earlier input and the earlier primitive, as in the reference."""
    none = primitives.index("none") if "none" in primitives else -1
    if len(weights) != edge_count():
        raise ValueError(f"weights: one row per edge ({edge_count()}), got {len(weights)}")
    nodes, start = [], 0
    for i in range(NUM_NODES):
        rows = weights[start : start + NUM_INPUTS + i]
        start += NUM_INPUTS + i

        def best(row: list[float]) -> int:
            ks = [k for k in range(len(row)) if k != none]
            return max(ks, key=lambda k: (row[k], -k))

        inputs = sorted(range(len(rows)), key=lambda j: -rows[j][best(rows[j])])[:2]
        a, b = ((primitives[best(rows[j])], j) for j in inputs)
        nodes.append(Node.of(a, b))
    return Cell(tuple(nodes))
