"""Torch-free pieces of a cell network: `Step`, the add/concatenation kind and operation tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from search_spaces.ops.spec import AttrValue, Cost, OpSpec

if TYPE_CHECKING:
    from torch import nn

Attrs = tuple[tuple[str, AttrValue], ...]
OpTable = Mapping[str, tuple[str, int, Attrs]]
"""A cell operation's name -> (operator kind, kernel, attrs)."""


@dataclass(frozen=True)
class Step:
    """One operator of a network and its wiring: ``spec`` reads the registers ``inputs``
    (``"input"`` is the image batch) and writes ``output``. ``drop_cell`` >= 0 marks an
    operation inside cell number ``drop_cell``, where the network's drop-path policy applies."""

    spec: OpSpec
    inputs: tuple[str, ...]
    output: str
    drop_cell: int = -1


def bn_cost(c: int) -> Cost:
    """An affine BatchNorm over ``c`` channels."""
    return Cost(2 * c, 0)


def table_spec(
    table: OpTable, op: str, c_in: int, c_out: int, hw: int, *, stride: int, attrs: Attrs = (), name: str = ""
) -> OpSpec:
    """The operator of cell operation ``op`` of ``table`` on a (c_in, hw, hw) state."""
    kind, kernel, extra = table[op]
    return OpSpec(kind, c_in, c_out, hw, kernel=kernel, stride=stride, attrs=(*attrs, *extra), name=name)


@dataclass(frozen=True)
class Combine:
    """Parameter-free: adds two block outputs (``concat`` False, c_in = c_out) or concatenates
    states into c_out channels (parts of c_in each). Listed as operators so that latency tables
    time them: alone, an add adds its input to itself and a concatenation repeats its input."""

    concat: bool

    def hw_out(self, spec: OpSpec) -> int:
        return spec.hw

    def cost(self, spec: OpSpec) -> Cost:
        return Cost(0, 0)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.cells.network import Add, Concat

        return Concat(spec.c_in, spec.c_out) if self.concat else Add()


ADD, CONCAT = Combine(concat=False), Combine(concat=True)
