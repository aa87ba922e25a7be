"""From a NASNet genotype and macro setting to the network's steps (operators plus wiring).

Mirrors the reference implementation (TF-slim ``nets/nasnet``, whose NASNet-A counts the tests
reproduce exactly):

* ImageNet stem (inputs larger than `SMALL_INPUT`): 3x3 conv, 32 x stem filters, stride 2, no
  padding, BN; then two reduction cells with f/4 and f/2 filters, the first without an h_{i-1}
  (its block inputs 1 read the stem conv output as it is).
* CIFAR stem (small inputs): 3x3 conv, f x stem filters, stride 1, BN; the first cell has no
  h_{i-1} either.
* Then three stages of N normal cells, with a reduction cell (doubling the filters) before the
  second and third; head: ReLU, global pool, dropout (0.5 on ImageNet, none on CIFAR), linear.
* A cell: h_i goes through ReLU-1x1 conv-BN; h_{i-1} through a factorized reduction when its
  resolution is higher, a ReLU-1x1 conv-BN when its width differs, else unchanged. In a
  reduction cell, operations on the two cell inputs have stride 2, operations on block outputs
  stride 1. An identity becomes ReLU-1x1 conv-BN where it must change stride or width; a pool
  is followed by 1x1 conv-BN where the width changes. Each output state whose resolution or
  width differs from the last block's is brought to it by a factorized reduction, then the
  output states are concatenated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from search_spaces.cells.steps import OpTable, Step, table_spec
from search_spaces.nasnet.genotype import Cell, Macro
from search_spaces.ops.spec import OpSpec

S = TypeVar("S")
SMALL_INPUT = 64  # inputs up to this size use the CIFAR stem
IMAGENET_STEM_FILTERS = 32  # x the stem multiplier
DROPOUT = {"imagenet": 0.5, "cifar": 0.0}  # the reference configs' dense dropout

OP_TABLE: OpTable = {
    "conv1x3_3x1": ("nasnet_conv_pair", 3, ()),
    "conv1x7_7x1": ("nasnet_conv_pair", 7, ()),
    "dil3x3": ("nasnet_conv", 3, (("dil", 2),)),
    "avg3x3": ("nasnet_pool", 3, (("pool", "avg"),)),
    "max3x3": ("nasnet_pool", 3, (("pool", "max"),)),
    "max5x5": ("nasnet_pool", 5, (("pool", "max"),)),
    "max7x7": ("nasnet_pool", 7, (("pool", "max"),)),
    "conv1x1": ("nasnet_conv", 1, ()),
    "conv3x3": ("nasnet_conv", 3, ()),
    "sep3x3": ("nasnet_sep", 3, ()),
    "sep5x5": ("nasnet_sep", 5, ()),
    "sep7x7": ("nasnet_sep", 7, ()),
}


@dataclass(frozen=True)
class State:
    """A tensor of the network: the register holding it, its width and resolution."""

    reg: str
    c: int
    hw: int


def op_spec(op: str, c_in: int, filters: int, hw: int, stride: int, name: str = "") -> OpSpec | None:
    """The operator applying cell operation ``op`` to a (c_in, hw, hw) state; None for a plain identity."""
    if op == "id":
        if stride == 1 and c_in == filters:
            return None
        return OpSpec("nasnet_conv", c_in, filters, hw, kernel=1, stride=stride, name=name)
    return table_spec(OP_TABLE, op, c_in, filters, hw, stride=stride, name=name)


def reduce_spec(c_in: int, c_out: int, hw: int, *, stride: int, relu: bool, name: str = "") -> OpSpec:
    return OpSpec("nasnet_reduce", c_in, c_out, hw, stride=stride, attrs=(("relu", int(relu)),), name=name)


def input_spec(c_in: int, filters: int, hw: int, name: str = "") -> OpSpec:
    return OpSpec("nasnet_conv", c_in, filters, hw, kernel=1, name=name)


def concat_spec(part: int, total: int, hw: int, name: str = "") -> OpSpec:
    return OpSpec("nasnet_concat", part, total, hw, name=name)


def add_spec(c: int, hw: int, name: str = "") -> OpSpec:
    return OpSpec("nasnet_add", c, c, hw, name=name)


def stem_mode(input_size: int) -> str:
    return "cifar" if input_size <= SMALL_INPUT else "imagenet"


def cell_count(macro: Macro, input_size: int) -> int:
    """Cells of the network (what `walk` returns): 3N normal, 2 reduction and the ImageNet stem's 2."""
    return 3 * macro.cells + 2 + (2 if stem_mode(input_size) == "imagenet" else 0)


class Builder(Protocol[S]):
    """What `walk` drives: a concrete network (`StepBuilder`) or the set of all possible operators."""

    def stem(self, spec: OpSpec) -> S: ...

    def cell(self, *, reduction: bool, filters: int, prev: S, pprev: S | None, number: int, name: str) -> S: ...

    def head(self, last: S, spec: OpSpec) -> None: ...

    def width(self, state: S) -> int: ...


def walk(builder: Builder[S], macro: Macro, *, num_classes: int, in_channels: int, input_size: int) -> int:
    """Drive ``builder`` through the macro network; returns the number of cells."""
    mode = stem_mode(input_size)
    outputs: list[S | None] = [None]

    def cell(*, reduction: bool, filters: int, name: str) -> None:
        number = len(outputs) - 2  # cells so far
        outputs.append(
            builder.cell(
                reduction=reduction,
                filters=filters,
                prev=_some(outputs[-1]),
                pprev=outputs[-2],
                number=number,
                name=name,
            )
        )

    imagenet = mode == "imagenet"
    stem = (IMAGENET_STEM_FILTERS if imagenet else macro.filters) * macro.stem
    pad = (("pad", "valid" if imagenet else "same"),)
    stride = 2 if imagenet else 1
    outputs.append(
        builder.stem(OpSpec("nasnet_stem", in_channels, stem, input_size, 3, stride, attrs=pad, name="stem"))
    )
    if imagenet:
        for scale in (4, 2):  # two reduction cells with f/4 and f/2 filters
            cell(reduction=True, filters=int(macro.filters / scale), name=f"stem{len(outputs) - 2}")
    filters, n = macro.filters, macro.cells
    for i in range(3 * n):
        if i in (n, 2 * n):
            filters *= 2
            cell(reduction=True, filters=filters, name=f"reduce{i // n}")
        cell(reduction=False, filters=filters, name=f"cell{i}")
    last = _some(outputs[-1])
    drop = ("drop", DROPOUT[mode])
    builder.head(last, OpSpec("nasnet_head", builder.width(last), num_classes, 1, attrs=(drop,), name="head"))
    return len(outputs) - 2


def _some(state: S | None) -> S:
    if state is None:
        raise RuntimeError("a NASNet cell needs a previous output")
    return state


class StepBuilder:
    """Builds the steps of one network."""

    def __init__(self, normal: Cell, reduction: Cell) -> None:
        self.normal, self.reduction = normal, reduction
        self.steps: list[Step] = []

    def add(self, spec: OpSpec, inputs: list[State], drop_cell: int = -1) -> State:
        step = Step(spec, tuple(s.reg for s in inputs), spec.name, drop_cell)
        self.steps.append(step)
        return State(spec.name, spec.c_out, spec.hw_out)

    def stem(self, spec: OpSpec) -> State:
        return self.add(spec, [State("input", spec.c_in, spec.hw)])

    def width(self, state: State) -> int:
        return state.c

    def head(self, last: State, spec: OpSpec) -> None:
        self.add(replace(spec, hw=last.hw), [last])

    def cell(self, *, reduction: bool, filters: int, prev: State, pprev: State | None, number: int, name: str) -> State:
        cell = self.reduction if reduction else self.normal
        stride = 2 if reduction else 1
        h0 = self.add(input_spec(prev.c, filters, prev.hw, f"{name}.in0"), [prev])
        h1 = prev  # no h_{i-1}: the raw previous output (reference: prev_layer None)
        if pprev is not None and pprev.hw != prev.hw:
            h1 = self.add(reduce_spec(pprev.c, filters, pprev.hw, stride=2, relu=True, name=f"{name}.in1"), [pprev])
        elif pprev is not None and pprev.c != filters:
            h1 = self.add(input_spec(pprev.c, filters, pprev.hw, f"{name}.in1"), [pprev])
        elif pprev is not None:
            h1 = pprev
        states = [h0, h1]
        for b, block in enumerate(cell.blocks):
            sides = []
            for side, op, idx in (("left", block.op1, block.in1), ("right", block.op2, block.in2)):
                src = states[idx]
                s = stride if idx < 2 else 1
                spec = op_spec(op, src.c, filters, src.hw, s, f"{name}.b{b}.{side}")
                if spec is None:
                    sides.append(src)
                else:  # the reference drops paths after every operation but the identity
                    sides.append(self.add(spec, [src], drop_cell=-1 if op == "id" else number))
            hw = sides[0].hw
            if block.combine == "add":
                states.append(self.add(add_spec(filters, hw, f"{name}.b{b}"), sides))
            else:
                states.append(self.add(concat_spec(filters, 2 * filters, hw, f"{name}.b{b}"), sides))
        last = states[-1]
        parts = []
        for i in cell.outputs():
            st = states[i]
            if st.hw != last.hw or st.c != last.c:
                s = 2 if st.hw != last.hw else 1
                st = self.add(reduce_spec(st.c, last.c, st.hw, stride=s, relu=False, name=f"{name}.out{i}"), [st])
            parts.append(st)
        if len(parts) == 1:
            return parts[0]
        return self.add(concat_spec(last.c, last.c * len(parts), last.hw, f"{name}.out"), parts)


def build_steps(
    normal: Cell, reduction: Cell, macro: Macro, *, num_classes: int, in_channels: int, input_size: int
) -> list[Step]:
    """The network's steps in execution order."""
    builder = StepBuilder(normal, reduction)
    walk(builder, macro, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    return builder.steps
