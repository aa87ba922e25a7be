"""Supernets of the staged spaces (MnasNet, ProxylessNAS, FBNet): one network that holds the weights
of every architecture of a space, derived from the space's stage description (`layout`).

Layout (see docs/supernet.md): every layer *position* ``b<block>_<layer>`` (layer 0-based, up
to the block's largest depth) keeps separate weights per ConvOp type (``conv``, ``dconv``,
``mb``; FBNet's grouped MBConv ``mbg2``) and per shortcut (``plain``: no residual; ``res``: the
identity or pooled shortcut the layer gets), i.e. single-path one-shot choice paths
(`path_name`). Each path is one `search_spaces` layer built at the position's largest shape
(widest input and output, largest kernel, squeeze-excite where the space has it), so a subnet's
layer is a slice of it:

* elastic kernel: a 3x3 kernel is the centre of the 5x5 one times a learned 9x9 transform
  matrix shared by all channels of that conv (Once-for-All, Cai et al. 2020); a 7x7 kernel
  (ProxylessNAS) serves 5x5 and 3x3 through two such steps;
* elastic expansion: MBConv3 uses the first half of MBConv6's expanded channels;
* elastic width: the first ``c`` input / output / expanded / squeeze-excite channels; MBConv's
  expanded channels are re-sorted by importance (`sort_channels`; not grouped MBConvs, whose
  channel order is their group structure);
* elastic depth: a block of ``k`` layers uses its first ``k`` positions.

A subnet's layer runs as the very module `search_spaces` builds for its `OpSpec` (a weightless
meta-device template) with the sliced tensors plugged in by ``torch.func.functional_call``, and
`extract` loads the same tensors into ``space.build``'s network: extraction is exact by
construction. ``width`` < 1 scales every searched width, the stem and the head (for cheap
experiments on CPUs); at ``width=1`` the subnet is exactly ``space.build(arch)``. ``MnasNetSupernet``,
``ProxylessNasSupernet`` and ``FBNetSupernet`` bind `StagedSupernet` to their space.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from core.errors import InvalidArchitectureError
from evaluators.supernet.layout import (
    CONVOP_PATHS,
    FIXED_POSITIONS,
    full_specs,
    group_divisor,
    largest_arch,
    path_name,
    scale,
    scaled_ops,
    smallest_arch,
    spec_path,
)
from search_spaces import Architecture, get_space
from search_spaces.ops.modules import (
    ChannelShuffle,
    Layer,
    Network,
    PoolShortcut,
    SqueezeExcite,
    build_op,
    init_weights,
)
from search_spaces.ops.spec import OpSpec
from search_spaces.staged import StagedSpace

MIN_KERNEL = 3  # elastic kernels go down to 3x3
_ACTIVATIONS = (nn.ReLU, nn.ReLU6)


def zero_last_bn(layer: nn.Module) -> None:
    """Zero the scale of the last BatchNorm in a layer's body, so that a residual layer starts as
    its shortcut (Goyal et al. 2017; fast early training of deep MBConv stacks). Not where a ReLU
    follows that BatchNorm (``conv`` layers: conv-BN-ReLU): ReLU(0) has zero gradient, so the
    body would output 0 and never train."""
    leaves = [m for m in layer.body.modules() if not list(m.children())]  # type: ignore[union-attr]
    last = max(i for i, m in enumerate(leaves) if isinstance(m, nn.BatchNorm2d))
    if not any(isinstance(m, _ACTIVATIONS) for m in leaves[last + 1 :]):
        nn.init.zeros_(leaves[last].weight)


def zero_init_residuals(net: nn.Module) -> nn.Module:
    """`zero_last_bn` on every layer of ``net`` that has a shortcut; returns ``net``."""
    for m in net.modules():
        if isinstance(m, Layer) and m.shortcut is not None:
            zero_last_bn(m)
    return net


class ElasticLayer(nn.Module):
    """One choice path of one position: a layer built at the position's largest shape plus the
    kernel transform matrices of its k x k convs (``<conv>_5to3``, identity at init)."""

    def __init__(self, spec: OpSpec) -> None:
        super().__init__()
        self.layer = build_op(spec)
        self.kernel_transforms = nn.ParameterDict()
        for name, p in self.layer.named_parameters():
            if p.dim() == 4 and p.shape[-1] > MIN_KERNEL:
                for k in range(p.shape[-1] - 2, MIN_KERNEL - 1, -2):
                    self.kernel_transforms[_transform_key(name, k)] = nn.Parameter(torch.eye(k * k))
        self._plans: dict[str, list[tuple[str, str, tuple[int, ...]]]] = {}
        self._tensors: dict[str, torch.Tensor] | None = None

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every parameter and buffer of the full-size layer, by name."""
        if self._tensors is None:
            self._tensors = dict(self.layer.named_parameters())
            self._tensors.update(self.layer.named_buffers())
        return self._tensors

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]  # .to()/.double() may replace buffers
        self._tensors = None
        return super()._apply(fn, recurse)

    def active(self, template: nn.Module, key: str, *, channels_last: bool = False) -> dict[str, torch.Tensor]:
        """The slices of this path's tensors that ``template`` (a layer of a subnet, identified by
        ``key``) uses, by the template's names; convolution weights channels-last if asked."""
        if key not in self._plans:
            self._plans[key] = [
                (name, self._source_key(template, name), tuple(t.shape))
                for name, t in template.state_dict(keep_vars=True).items()
            ]
        full = self.tensors()
        out = {name: self._fit(source, full[source], shape) for name, source, shape in self._plans[key]}
        if channels_last:  # .to, not .contiguous: see `StagedSupernet.forward`
            out = {k: t.to(memory_format=torch.channels_last) if t.dim() == 4 else t for k, t in out.items()}
        return out

    def _source_key(self, template: nn.Module, key: str) -> str:
        """Template key -> full-size key: children of ``body`` align by role (the full layer always
        has squeeze-excite; a template without it has the later children one place earlier)."""
        if not key.startswith("body."):
            return key
        _, index, rest = key.split(".", 2)
        return f"body.{self._body_map(template)[int(index)]}.{rest}"

    def _body_map(self, template: nn.Module) -> list[int]:
        roles = [isinstance(m, SqueezeExcite) for m in template.body]  # type: ignore[union-attr]
        full = [isinstance(m, SqueezeExcite) for m in self.layer.body]  # type: ignore[union-attr]
        queues = {flag: [i for i, f in enumerate(full) if f == flag] for flag in (True, False)}
        return [queues[flag].pop(0) for flag in roles]

    def _fit(self, name: str, t: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        if t.shape == shape or t.dim() == 0:
            return t
        if t.dim() == 4:
            w = t[: shape[0], : shape[1]]
            k_full, k = t.shape[-1], shape[-1]
            for size in range(k_full - 2, k - 1, -2):  # 5 -> 3 (-> ...), each step centre-crop + transform
                s = (w.shape[-1] - size) // 2
                w = w[:, :, s : s + size, s : s + size]
                matrix = self.kernel_transforms[_transform_key(name, size)]
                w = F.linear(w.reshape(-1, size * size), matrix).reshape(*w.shape[:2], size, size)
            return w
        return t[tuple(slice(0, n) for n in shape)]


def _transform_key(name: str, k: int) -> str:
    """The transform from a (k+2)x(k+2) kernel's centre to k x k (``..._5to3``)."""
    return f"{name.replace('.', '_')}_{k + 2}to{k}"


class StagedSupernet(nn.Module):
    """Every architecture of a staged space for one task shape; ``forward(x, arch)`` runs a subnet.
    Subclasses name the space (``space_name``)."""

    space_name: ClassVar[str]

    def __init__(
        self, *, in_channels: int = 3, input_size: int = 224, num_classes: int = 1000, width: float = 1.0
    ) -> None:
        super().__init__()
        if not 0.0 < width <= 1.0:
            raise ValueError(f"width must be in (0, 1], got {width}")
        space = get_space(self.space_name)
        if not isinstance(space, StagedSpace):
            raise TypeError(f"{self.space_name} is not a staged space")
        self.space: StagedSpace = space
        self.shape = {"in_channels": in_channels, "input_size": input_size, "num_classes": num_classes}
        self.width = width
        self.divisor = group_divisor(space)  # scaled widths stay divisible by the group count
        self.positions = nn.ModuleDict()
        for position, specs in self._full_specs().items():
            self.positions[position] = nn.ModuleDict({path: ElasticLayer(s) for path, s in specs.items()})
        init_weights(self)
        for choices in self.positions.values():
            for name, elastic in choices.items():  # type: ignore[union-attr]
                if name.endswith("-res"):
                    zero_last_bn(elastic.layer)  # type: ignore[union-attr]
        self._templates: dict[str, nn.Module] = {}
        self.channels_last = False  # run subnets channels-last (set by the trainer; not saved)
        self.plain_shortcut = 0.0  # scale of the shortcut plain layers get in training (`layer`; not saved)

    @property
    def convop_paths(self) -> tuple[str, ...]:
        """The operator families with weights of their own in this supernet (MnasNet: `CONVOP_PATHS`)."""
        found = {path.split("-")[0] for p in self.positions.values() for path in p if path != "fixed"}  # type: ignore[attr-defined]
        return tuple(f for f in CONVOP_PATHS if f in found) + tuple(sorted(found - set(CONVOP_PATHS)))

    # -- structure ---------------------------------------------------------------------------------
    def _full_specs(self) -> dict[str, dict[str, OpSpec]]:
        """Position -> path -> the largest `OpSpec` the path must hold (`layout.full_specs`)."""
        return full_specs(self.space, self.shape, self.width, self.ops(largest_arch(self.space)))

    def ops(self, arch: Architecture) -> list[OpSpec]:
        """The layers of ``arch`` at this supernet's task shape and width."""
        if arch.space != self.space.name:
            raise InvalidArchitectureError(f"space: {arch.space!r} is not {self.space.name!r}")
        return scaled_ops(self.space.ops(arch, **self.shape), self.width, self.divisor)

    @staticmethod
    def where(spec: OpSpec) -> tuple[str, str]:
        """(position, path) that holds the weights of ``spec``."""
        if spec.name in FIXED_POSITIONS:
            return spec.name, "fixed"
        block, layer = spec.name[1:].split(".")
        return f"b{block}_{int(layer) - 1}", spec_path(spec)

    def path(self, spec: OpSpec) -> ElasticLayer:
        position, path = self.where(spec)
        return self.positions[position][path]  # type: ignore[index,return-value]

    def template(self, spec: OpSpec) -> nn.Module:
        """The weightless module ``space.build`` makes for ``spec`` (cached, in this supernet's mode)."""
        key = spec.signature()
        if key not in self._templates:
            with torch.device("meta"):
                self._templates[key] = build_op(spec)
        module = self._templates[key]
        if module.training != self.training:
            module.train(self.training)
        return module

    def active_state(self, spec: OpSpec, *, channels_last: bool = False) -> dict[str, torch.Tensor]:
        """The tensors of ``spec``'s layer, sliced (and kernel-transformed) from the supernet's."""
        return self.path(spec).active(self.template(spec), spec.signature(), channels_last=channels_last)

    # -- running and extracting subnets ------------------------------------------------------------
    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """``arch``'s subnet on ``x``. With ``channels_last`` set, the batch and the sliced
        convolution weights are laid out channels-last: a training step of the largest subnet
        takes about half the time on CPUs (benchmarks/channels_last.py)."""
        if self.channels_last:
            # .to restrides tensors whose layout is ambiguous (one input channel, 1x1 or one-channel
            # kernels, unsliced full-size weights), which .contiguous leaves flagged NCHW: the whole
            # 28x28 stage then ran NCHW, its depthwise backward ~8x slower (benchmarks/training_throughput.py)
            x = x.to(memory_format=torch.channels_last)
        for spec in self.ops(arch):
            x = self.layer(spec, x)
        return x

    def layer(self, spec: OpSpec, x: torch.Tensor) -> torch.Tensor:
        """One layer of a subnet: ``spec``'s module run with its sliced tensors. A plain layer of a
        block (no shortcut) gets ``plain_shortcut`` x the space's parameter-free shortcut of its
        input added (the identity, or average pooling and channel matching): the trainer anneals
        it from 1 to 0 early in training (`SandwichTrainer`); at 0 the subnet is the one built."""
        y = functional_call(self.template(spec), self.active_state(spec, channels_last=self.channels_last), (x,))
        if self.plain_shortcut > 0 and spec.skip == "none" and spec.name not in FIXED_POSITIONS:
            y = y + self.plain_shortcut * PoolShortcut(spec.c_in, spec.c_out, spec.stride)(x)
        return y

    def extract(self, arch: Architecture) -> Network:
        """A standalone network of ``arch`` (the module ``space.build`` makes, scaled by ``width``)
        holding copies of the inherited weights, in eval mode."""
        specs = self.ops(arch)
        with torch.device("meta"):
            net = Network(specs)
        state = {}
        for i, spec in enumerate(specs):
            for key, t in self.active_state(spec).items():
                state[f"{i}.{key}"] = t.detach().clone(memory_format=torch.contiguous_format)
        net.load_state_dict(state, assign=True)
        return net.eval()

    @torch.no_grad()
    def zero_plain_paths(self) -> None:
        """`zero_last_bn` on every plain path too, so that under ``plain_shortcut`` every path of
        a position starts as the same function (its shortcut); without that shortcut such a
        plain layer would output 0."""
        for choices in self.positions.values():
            for name, elastic in choices.items():  # type: ignore[union-attr]
                if name.endswith("-plain"):
                    zero_last_bn(elastic.layer)  # type: ignore[union-attr]

    # -- importance sorting ------------------------------------------------------------------------
    @torch.no_grad()
    def sort_channels(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Re-order every MBConv path's expanded channels by importance (L1 norm of the projection
        weights that read them), so narrower subnets keep the most important ones. The full-size
        function is unchanged; the optimizer's per-parameter state is permuted along."""
        for position in self.positions.values():
            for name, elastic in position.items():  # type: ignore[union-attr]
                if name.startswith("mb"):
                    _sort_mbconv(elastic.layer, optimizer)  # type: ignore[union-attr]


def _sort_mbconv(layer: nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    parts = list(layer.body)  # type: ignore[union-attr,call-overload]
    if any(isinstance(m, ChannelShuffle) for m in parts):
        return  # grouped 1x1 convs: the channel order is the group structure
    se = next((m for m in parts if isinstance(m, SqueezeExcite)), None)
    expand, depthwise, project = [m for m in parts if not isinstance(m, SqueezeExcite)]
    importance = project[0].weight.abs().sum(dim=(0, 2, 3))
    order = torch.argsort(importance, descending=True, stable=True)
    moves: list[tuple[torch.Tensor, int]] = [(expand[0].weight, 0), (depthwise[0].weight, 0), (project[0].weight, 1)]
    if se is not None:
        moves += [(se.reduce.weight, 1), (se.expand.weight, 0), (se.expand.bias, 0)]
    for bn in (expand[1], depthwise[1]):
        moves += [(bn.weight, 0), (bn.bias, 0), (bn.running_mean, 0), (bn.running_var, 0)]
    for t, dim in moves:
        t.copy_(t.index_select(dim, order))
        state: dict[str, Any] = optimizer.state.get(t, {}) if optimizer is not None else {}
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.shape == t.shape:
                value.copy_(value.index_select(dim, order))


class MnasNetSupernet(StagedSupernet):
    """The MnasNet space's supernet."""

    space_name: ClassVar[str] = "mnasnet"


class ProxylessNasSupernet(StagedSupernet):
    """The ProxylessNAS space's supernet (elastic kernel 7 -> 5 -> 3, expansion 6 -> 3)."""

    space_name: ClassVar[str] = "proxylessnas"


class FBNetSupernet(StagedSupernet):
    """The FBNet space's supernet (``mb`` and grouped ``mbg2`` paths; ``skip`` convs on ``conv`` paths)."""

    space_name: ClassVar[str] = "fbnet"


__all__ = [
    "CONVOP_PATHS",
    "ElasticLayer",
    "FBNetSupernet",
    "MnasNetSupernet",
    "ProxylessNasSupernet",
    "StagedSupernet",
    "largest_arch",
    "path_name",
    "scale",
    "scaled_ops",
    "smallest_arch",
    "zero_init_residuals",
]
