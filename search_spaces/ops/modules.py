"""Torch modules for `OpSpec`s: one `build_op` per spec, `Network` for a list of them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.ops.spec import OpSpec, se_channels

DROPOUT = 0.2  # before the classifier, as in MnasNet and MobileNetV2


ACTIVATIONS = ("relu", "relu6")  # values of an OpSpec's ``act`` attribute (default relu)


def conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int = 1, *, groups: int = 1, act: bool | str = True
) -> nn.Sequential:
    """Conv (no bias, 'same' padding) -> BatchNorm -> optional activation (``True``/``"relu"``: ReLU,
    ``"relu6"``: ReLU6, ``False``: none)."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True) if act == "relu6" else nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _act(spec: OpSpec) -> str:
    act = str(spec.attr("act", "relu"))
    if act not in ACTIVATIONS:
        raise ValueError(f"{spec.name or spec.kind}: activation {act!r} unknown; allowed: {', '.join(ACTIVATIONS)}")
    return act


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle between grouped convolutions (FBNet's ``_g2`` blocks)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class SqueezeExcite(nn.Module):
    """Channel gate: global pool -> 1x1 reduce -> ReLU -> 1x1 expand -> sigmoid -> scale."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.adaptive_avg_pool2d(x, 1)
        gate = self.expand(F.relu(self.reduce(gate), inplace=True))
        return x * torch.sigmoid(gate)


class PoolShortcut(nn.Module):
    """Parameter-free shortcut between unequal shapes: average pool by the stride, match channels."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride, ceil_mode=True, count_include_pad=False)
        if self.c_out > self.c_in:
            return F.pad(x, (0, 0, 0, 0, 0, self.c_out - self.c_in))
        return x[:, : self.c_out]


class Layer(nn.Module):
    """A layer body plus its shortcut (``skip`` of the spec)."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return out


def _se(spec: OpSpec, width: int) -> list[nn.Module]:
    return [SqueezeExcite(width, se_channels(spec.c_in, spec.se))] if spec.se else []


def _with_shortcut(spec: OpSpec, parts: list[nn.Module]) -> Layer:
    shortcut: nn.Module | None = None
    if spec.skip == "id":
        shortcut = nn.Identity()
    elif spec.skip == "pool":
        shortcut = PoolShortcut(spec.c_in, spec.c_out, spec.stride)
    return Layer(nn.Sequential(*parts), shortcut)


def conv_layer(spec: OpSpec) -> Layer:
    body = conv_bn(spec.c_in, spec.c_out, spec.kernel, spec.stride, act=_act(spec))
    return _with_shortcut(spec, [body, *_se(spec, spec.c_out)])


def dconv_layer(spec: OpSpec) -> Layer:
    c_in = spec.c_in
    parts = [conv_bn(c_in, c_in, spec.kernel, spec.stride, groups=c_in, act=_act(spec)), *_se(spec, c_in)]
    return _with_shortcut(spec, [*parts, conv_bn(c_in, spec.c_out, 1, act=False)])


def mbconv_layer(spec: OpSpec) -> Layer:
    """Expand, depthwise, (SE), project; with a ``groups`` attribute the two 1x1 convs are grouped
    and a channel shuffle follows the expansion (FBNet's IRF block with ``pw_group``)."""
    mid, groups, act = spec.mid, int(spec.attr("groups", 1)), _act(spec)
    parts = [conv_bn(spec.c_in, mid, 1, groups=groups, act=act)]
    if groups > 1:
        parts.append(ChannelShuffle(groups))
    parts += [conv_bn(mid, mid, spec.kernel, spec.stride, groups=mid, act=act), *_se(spec, mid)]
    return _with_shortcut(spec, [*parts, conv_bn(mid, spec.c_out, 1, groups=groups, act=False)])


def classifier(spec: OpSpec) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(DROPOUT), nn.Linear(spec.c_in, spec.c_out))


def build_op(spec: OpSpec) -> nn.Module:
    """The module of one spec (its kind's builder); its parameter count equals ``spec.cost().params``."""
    module = spec.build()
    if not isinstance(module, nn.Module):
        raise TypeError(f"operator kind {spec.kind!r} built a {type(module).__name__}, not a torch module")
    return module


class Network(nn.Sequential):
    """A network as the sequence of its layers; ``specs`` keeps what it was built from."""

    def __init__(self, specs: Sequence[OpSpec]) -> None:
        super().__init__(*(build_op(s) for s in specs))
        self.specs = tuple(specs)
        init_weights(self)


def init_weights(model: nn.Module) -> None:
    """He-normal convolutions, unit BatchNorm, small uniform classifier (MnasNet/timm defaults)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.weight.shape[1] ** 0.5
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
