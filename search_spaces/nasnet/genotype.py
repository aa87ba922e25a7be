"""NASNet cell genotypes and their human-readable strings, in both directions.

A cell has B blocks; states are numbered as in the reference code: 0 is the previous cell's
output (the paper's h_i), 1 the one before (h_{i-1}), 2 + b the output of block b. Block b
combines two (operation, input state) pairs, inputs among 0 .. b + 1. A cell string lists the
blocks, then which *used* state the output also keeps (``keep=none`` for the paper's rule:
exactly the unused states are concatenated)::

    add(sep5x5@0,sep3x3@1) add(sep3x3@1,sep5x5@1) add(avg3x3@0,id@1) add(avg3x3@1,avg3x3@1) add(id@0,sep3x3@0) keep=1

The macro string is ``N=<normal cells per stage> f=<filters of the first stage> stem=<stem multiplier>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidArchitectureError
from search_spaces.cells.genotype import MacroCodec, TwoEdges, cell_tokens, check_edges

# The paper's 13 operations, in the paper's order.
OPS: tuple[str, ...] = (
    "id",
    "conv1x3_3x1",
    "conv1x7_7x1",
    "dil3x3",
    "avg3x3",
    "max3x3",
    "max5x5",
    "max7x7",
    "conv1x1",
    "conv3x3",
    "sep3x3",
    "sep5x5",
    "sep7x7",
)
COMBINES: tuple[str, ...] = ("add", "concat")
_COMB_TOKEN = {"add": "add", "concat": "cat"}
NUM_BLOCKS = 5

_BLOCK = re.compile(r"^(add|cat)\((\w+)@(\d+),(\w+)@(\d+)\)$")
_KEEP = re.compile(r"^keep=(none|\d+)$")


@dataclass(frozen=True)
class Block(TwoEdges):
    """``combine(op1(state in1), op2(state in2))``."""

    combine: str = "add"

    def canonical(self) -> Block:
        """The two (op, input) pairs are unordered: sorted by input, then by the op's rank in `OPS`."""
        a, b = (self.in1, OPS.index(self.op1)), (self.in2, OPS.index(self.op2))
        if b < a:
            return Block(self.op2, self.in2, self.op1, self.in1, self.combine)
        return self


@dataclass(frozen=True)
class Cell:
    """B blocks plus ``keep``: a used state also concatenated into the output (None: none)."""

    blocks: tuple[Block, ...]
    keep: int | None = None

    @property
    def num_states(self) -> int:
        return 2 + len(self.blocks)

    def used(self) -> set[int]:
        """States some block reads."""
        return {i for b in self.blocks for i in (b.in1, b.in2)}

    def outputs(self) -> list[int]:
        """States concatenated into the cell output, in order: the unused ones plus ``keep``."""
        used = self.used()
        return [i for i in range(self.num_states) if i not in used or i == self.keep]

    def canonical(self) -> Cell:
        keep = self.keep if self.keep in self.used() else None  # an unused state is in the output anyway
        return Cell(tuple(b.canonical() for b in self.blocks), keep)


@dataclass(frozen=True)
class Macro:
    """N normal cells per stage, ``filters`` of the first stage's cells, stem multiplier."""

    cells: int
    filters: int
    stem: int


def format_cell(cell: Cell) -> str:
    blocks = [f"{_COMB_TOKEN[b.combine]}({b.op1}@{b.in1},{b.op2}@{b.in2})" for b in cell.blocks]
    return " ".join([*blocks, f"keep={'none' if cell.keep is None else cell.keep}"])


def parse_cell(text: str, *, num_blocks: int = NUM_BLOCKS, ops: tuple[str, ...] = OPS) -> Cell:
    """Inverse of `format_cell`; checks operation names, input ranges and ``keep``."""
    tokens = cell_tokens(text, num_blocks + 1, shape=f"{num_blocks} blocks and keep=<state|none>")
    blocks = []
    for b, token in enumerate(tokens[:-1]):
        m = _BLOCK.match(token)
        if m is None:
            raise InvalidArchitectureError(f"block {b} {token!r}: expected add(<op>@<input>,<op>@<input>) or cat(...)")
        comb, op1, in1, op2, in2 = m.groups()
        check_edges(f"block {b}", [(op1, int(in1)), (op2, int(in2))], ops=ops, last_input=b + 1)
        blocks.append(Block(op1, int(in1), op2, int(in2), "add" if comb == "add" else "concat"))
    m = _KEEP.match(tokens[-1])
    keep = None if m is None or m.group(1) == "none" else int(m.group(1))
    if m is None or (keep is not None and keep > num_blocks):
        raise InvalidArchitectureError(
            f"keep {tokens[-1]!r}: expected keep=none or keep=<state 0..{num_blocks}> (the last block is always kept)"
        )
    return Cell(tuple(blocks), keep)


MACRO = MacroCodec(Macro, keys=("N", "f", "stem"), placeholders=("cells", "filters", "multiplier"))


def format_macro(macro: Macro) -> str:
    return MACRO.format(macro)


def parse_macro(text: str) -> Macro:
    return MACRO.parse(text)
