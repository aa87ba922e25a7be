"""From a DARTS genotype and macro setting to the network's steps (operators plus wiring).

Mirrors the reference evaluation network (``quark0/darts``, ``cnn/model.py``, ``NetworkCIFAR``):

* stem: 3x3 conv with 3C channels -> BN (the CIFAR stem, used for every input size here);
* L cells; cells L//3 and 2L//3 are reduction cells, which double the channels (C, 2C, 4C) and
  apply stride 2 to the operations on their two inputs;
* a cell's input c_{k-2} goes through a factorized reduction when the previous cell reduced,
  else ReLU-1x1 conv-BN; c_{k-1} through ReLU-1x1 conv-BN; both to the cell's C channels;
  ``skip_connect`` is the identity, or a factorized reduction at stride 2; each node adds its
  two operations; the cell output concatenates the four nodes (4C channels);
* head: global average pool -> linear. The auxiliary head (training only) is not built.

Widths and resolutions do not depend on the genotype, so `positions` lists every cell's shapes
for a macro setting; the exact operator catalogue enumerates each operation at each of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from search_spaces.cells.steps import Attrs, OpTable, Step, table_spec
from search_spaces.dass.genotype import NUM_INPUTS, NUM_NODES, OPS, Cell, Macro
from search_spaces.ops.spec import OpSpec

STEM_MULTIPLIER = 3
MULTIPLIER = NUM_NODES  # channels of a cell output / the cell's C

OP_TABLE: OpTable = {
    "max_pool_3x3": ("dass_pool", 3, (("pool", "max"),)),
    "avg_pool_3x3": ("dass_pool", 3, (("pool", "avg"),)),
    "sep_conv_3x3": ("dass_sep", 3, ()),
    "sep_conv_5x5": ("dass_sep", 5, ()),
    "dil_conv_3x3": ("dass_dil", 3, ()),
    "dil_conv_5x5": ("dass_dil", 5, ()),
}
SPARSE_KINDS = ("dass_stem", "dass_conv1x1", "dass_reduce", "dass_sep", "dass_dil", "dass_head")


@dataclass(frozen=True)
class Position:
    """A cell's place in the network: its number, type, channels and input shapes."""

    index: int
    reduction: bool
    reduction_prev: bool
    c: int  # the cell's C (each node's width)
    c_pp: int  # width of c_{k-2}
    c_p: int  # width of c_{k-1}
    hw_pp: int
    hw_p: int

    @property
    def hw(self) -> int:
        """Resolution of the cell's preprocessed inputs."""
        return self.hw_p

    @property
    def hw_out(self) -> int:
        return -(-self.hw_p // 2) if self.reduction else self.hw_p


def _sparse(kind: str, s: float) -> Attrs:
    return (("sparsity", s),) if kind in SPARSE_KINDS else ()


def spec(
    kind: str, c_in: int, c_out: int, hw: int, s: float, *, kernel: int = 1, stride: int = 1, **kw: object
) -> OpSpec:
    attrs = (*_sparse(kind, s), *kw.pop("attrs", ()))  # type: ignore[misc]
    return OpSpec(kind, c_in, c_out, hw, kernel=kernel, stride=stride, attrs=attrs, name=str(kw.get("name", "")))


def stem_spec(macro: Macro, in_channels: int, input_size: int) -> OpSpec:
    c = STEM_MULTIPLIER * macro.channels
    return spec("dass_stem", in_channels, c, input_size, macro.sparsity, kernel=3, name="stem")


def head_spec(macro: Macro, c_in: int, num_classes: int) -> OpSpec:
    return spec("dass_head", c_in, num_classes, 1, macro.sparsity, name="head")


def positions(macro: Macro, input_size: int) -> Iterator[Position]:
    """Every cell of the network in order (the reference's ``NetworkCIFAR.__init__`` loop)."""
    c_curr = STEM_MULTIPLIER * macro.channels
    c_pp, c_p, c = c_curr, c_curr, macro.channels
    hw_pp = hw_p = input_size
    reduction_prev = False
    for i in range(macro.cells):
        reduction = i in (macro.cells // 3, 2 * macro.cells // 3)
        if reduction:
            c *= 2
        pos = Position(i, reduction, reduction_prev, c, c_pp, c_p, hw_pp, hw_p)
        yield pos
        reduction_prev = reduction
        c_pp, c_p = c_p, MULTIPLIER * c
        hw_pp, hw_p = hw_p, pos.hw_out


def preprocess_specs(pos: Position, s: float) -> tuple[OpSpec, OpSpec]:
    name = f"cell{pos.index}"
    if pos.reduction_prev:
        pre0 = spec("dass_reduce", pos.c_pp, pos.c, pos.hw_pp, s, stride=2, name=f"{name}.pre0")
    else:
        pre0 = spec("dass_conv1x1", pos.c_pp, pos.c, pos.hw_pp, s, name=f"{name}.pre0")
    pre1 = spec("dass_conv1x1", pos.c_p, pos.c, pos.hw_p, s, name=f"{name}.pre1")
    return pre0, pre1


def op_spec(op: str, c: int, hw: int, stride: int, s: float, name: str = "") -> OpSpec | None:
    """The operator of cell operation ``op`` on a (c, hw, hw) state; None for a plain identity."""
    if op == "skip_connect":
        if stride == 1:
            return None
        return spec("dass_reduce", c, c, hw, s, stride=2, name=name)
    if op not in OP_TABLE:
        raise ValueError(f"operation {op!r} is not allowed in a discrete cell; allowed: {', '.join(OPS)}")
    return table_spec(OP_TABLE, op, c, c, hw, stride=stride, attrs=_sparse(OP_TABLE[op][0], s), name=name)


def add_spec(c: int, hw: int, name: str = "") -> OpSpec:
    return OpSpec("dass_add", c, c, hw, name=name)


def concat_spec(c: int, hw: int, name: str = "") -> OpSpec:
    return OpSpec("dass_concat", c, MULTIPLIER * c, hw, name=name)


def build_steps(
    normal: Cell, reduce: Cell, macro: Macro, *, num_classes: int, in_channels: int, input_size: int
) -> list[Step]:
    """The network's steps in execution order."""
    s = macro.sparsity
    stem = stem_spec(macro, in_channels, input_size)
    steps = [Step(stem, ("input",), stem.name)]
    pprev = prev = stem.name
    c_last = stem.c_out
    for pos in positions(macro, input_size):
        cell = reduce if pos.reduction else normal
        pre0, pre1 = preprocess_specs(pos, s)
        steps += [Step(pre0, (pprev,), pre0.name), Step(pre1, (prev,), pre1.name)]
        states = [pre0.name, pre1.name]
        name = f"cell{pos.index}"
        for i, node in enumerate(cell.nodes):
            sides = []
            for side, (op, idx) in zip("ab", node.edges, strict=True):
                stride = 2 if pos.reduction and idx < NUM_INPUTS else 1
                hw = pos.hw if idx < NUM_INPUTS else pos.hw_out
                one = op_spec(op, pos.c, hw, stride, s, f"{name}.n{i}.{side}")
                if one is None:
                    sides.append(states[idx])
                else:
                    steps.append(Step(one, (states[idx],), one.name, drop_cell=pos.index))
                    sides.append(one.name)
            add = add_spec(pos.c, pos.hw_out, f"{name}.n{i}")
            steps.append(Step(add, tuple(sides), add.name))
            states.append(add.name)
        out = concat_spec(pos.c, pos.hw_out, f"{name}.out")
        steps.append(Step(out, tuple(states[j] for j in cell.concat), out.name))
        pprev, prev, c_last = prev, out.name, out.c_out
    head = head_spec(macro, c_last, num_classes)
    steps.append(Step(head, (prev,), head.name))
    return steps


def catalogue_ops(
    macro: Macro, *, ops: tuple[str, ...], num_classes: int, in_channels: int, input_size: int
) -> Iterator[OpSpec]:
    """Every operator some genotype's network with ``macro`` contains (exact, with repeats)."""
    s = macro.sparsity
    yield stem_spec(macro, in_channels, input_size)
    last = STEM_MULTIPLIER * macro.channels
    for pos in positions(macro, input_size):
        yield from preprocess_specs(pos, s)
        for idx_stride, hw in ((2 if pos.reduction else 1, pos.hw), (1, pos.hw_out)):
            for op in ops:
                one = op_spec(op, pos.c, hw, idx_stride, s)
                if one is not None:
                    yield one
        yield add_spec(pos.c, pos.hw_out)
        yield concat_spec(pos.c, pos.hw_out)
        last = MULTIPLIER * pos.c
    yield head_spec(macro, last, num_classes)
