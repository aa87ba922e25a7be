"""Operator specs: one frozen record per layer, its lookup-table signature and its exact cost.

What a kind of operator costs and which module it builds is looked up in `OP_KINDS`
(`search_spaces.ops.kinds`), so a space adds operators (sparse 1x1 convs, NASNet's stacked
separable convs, ...) without touching this file. Kind-specific settings that change latency —
sparsity, block shape, dilation — go in ``attrs`` and are part of the signature.

Counting conventions (also those of `torch.utils.flop_counter`, which the tests compare with):
MACs are the multiply-accumulates of convolutions and linear layers, squeeze-excite included;
BatchNorm, activations, pooling, bias additions and residual additions are not counted.
Parameters are every trainable tensor (BatchNorm affine weights included, running stats not).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from search_spaces.ops.kinds import OpKind

Skip = Literal["none", "id", "pool"]
AttrValue = int | float | str


class Cost(NamedTuple):
    """Trainable parameters and multiply-accumulates."""

    params: int
    macs: int

    def __add__(self, other: object) -> Cost:  # type: ignore[override]
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(self.params + other.params, self.macs + other.macs)


def conv_out(hw: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Output size of a conv padded by ``dilation * (kernel // 2)`` (odd kernels): ceil(hw / stride)."""
    pad = dilation * (kernel // 2)
    return (hw + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def se_channels(c_in: int, ratio: float) -> int:
    """Squeeze-excite width: a share of the *layer's input* channels, as in the MnasNet reference code."""
    return max(1, int(c_in * ratio))


@dataclass(frozen=True)
class OpSpec:
    """One layer of a network: a module from one (c_in, hw, hw) tensor to one (c_out, hw_out, hw_out).

    ``kind`` names an entry of `OP_KINDS`. ``se`` is a squeeze-excite ratio; ``skip`` the
    effective shortcut of this layer (``id`` needs equal input and output shapes, ``pool`` is the
    parameter-free shortcut for unequal ones). ``hw`` is the input height = width. ``attrs``
    holds kind-specific settings as sorted ``(name, value)`` pairs. ``name`` labels the layer in
    tables and is not part of the signature.
    """

    kind: str
    c_in: int
    c_out: int
    hw: int
    kernel: int = 1
    stride: int = 1
    expansion: int = 1
    se: float = 0.0
    skip: Skip = "none"
    attrs: tuple[tuple[str, AttrValue], ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if min(self.c_in, self.c_out, self.hw, self.kernel, self.stride, self.expansion) < 1:
            raise ValueError(f"{self.name or self.kind}: sizes must be positive ({self})")
        if self.skip == "id" and not self.same_shape:
            raise ValueError(f"{self.name or self.kind}: identity skip needs equal input and output shapes")
        if self.skip == "pool" and self.same_shape:
            raise ValueError(f"{self.name or self.kind}: pool skip is for unequal shapes; use 'id'")
        if list(self.attrs) != sorted(self.attrs):
            object.__setattr__(self, "attrs", tuple(sorted(self.attrs)))

    @property
    def same_shape(self) -> bool:
        return self.c_in == self.c_out and self.stride == 1

    def attr(self, key: str, default: AttrValue) -> AttrValue:
        """A kind-specific setting."""
        return dict(self.attrs).get(key, default)

    @property
    def hw_out(self) -> int:
        return _kind(self.kind).hw_out(self)

    @property
    def mid(self) -> int:
        """Channels inside the layer (expanded width of an MBConv)."""
        return self.c_in * self.expansion

    def signature(self) -> str:
        """Readable lookup-table key: everything that changes the layer's latency, nothing else."""
        sig = (
            f"{self.kind}-i{self.hw}x{self.hw}x{self.c_in}-o{self.c_out}-k{self.kernel}-s{self.stride}"
            f"-e{self.expansion}-se{self.se:g}-skip_{self.skip}"
        )
        return sig + "".join(f"-{k}{v:g}" if isinstance(v, float) else f"-{k}{v}" for k, v in self.attrs)

    def cost(self) -> Cost:
        """Exact parameters and MACs of the module ``build()`` makes."""
        return _kind(self.kind).cost(self)

    def build(self) -> object:
        """The torch module of this layer (imports torch)."""
        return _kind(self.kind).build(self)


def _kind(name: str) -> OpKind:
    from search_spaces.ops.kinds import OP_KINDS  # kinds import this module

    return OP_KINDS.get(name)


def total_cost(ops: Iterable[OpSpec]) -> Cost:
    """Sum of the layers' costs."""
    total = Cost(0, 0)
    for op in ops:
        total = total + op.cost()
    return total
