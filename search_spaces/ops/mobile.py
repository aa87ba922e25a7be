"""Mobile operator kinds: regular conv, depthwise-separable conv, MBConv (each with optional
squeeze-excite and shortcut) and the pooled linear classifier. Torch-free; modules in `modules`.

Attributes (in ``OpSpec.attrs``, so part of the latency-table key; absent means the default):
``act`` (``relu``, ``relu6``: ProxylessNAS) changes no count; ``groups`` (MBConv only, FBNet's
``_g2`` blocks) groups both 1x1 convs, which divides their weights and MACs by the group count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from search_spaces.ops.spec import Cost, OpSpec, conv_out, se_channels

if TYPE_CHECKING:
    from torch import nn


def _se_cost(spec: OpSpec, width: int) -> Cost:
    if not spec.se:
        return Cost(0, 0)
    r = se_channels(spec.c_in, spec.se)
    return Cost(2 * width * r + r + width, 2 * width * r)


@dataclass(frozen=True)
class Conv:
    """k x k conv -> BN -> ReLU (-> SE on the output)."""

    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, spec.kernel, spec.stride)

    def cost(self, spec: OpSpec) -> Cost:
        k2, out2 = spec.kernel**2, self.hw_out(spec) ** 2
        body = Cost(k2 * spec.c_in * spec.c_out + 2 * spec.c_out, k2 * spec.c_in * spec.c_out * out2)
        return body + _se_cost(spec, spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.modules import conv_layer

        return conv_layer(spec)


@dataclass(frozen=True)
class DConv(Conv):
    """Depthwise k x k conv -> BN -> ReLU (-> SE) -> 1x1 conv -> BN."""

    def cost(self, spec: OpSpec) -> Cost:
        k2, out2, c_in, c_out = spec.kernel**2, self.hw_out(spec) ** 2, spec.c_in, spec.c_out
        body = Cost(k2 * c_in + 2 * c_in + c_in * c_out + 2 * c_out, (k2 * c_in + c_in * c_out) * out2)
        return body + _se_cost(spec, c_in)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.modules import dconv_layer

        return dconv_layer(spec)


@dataclass(frozen=True)
class MBConv(Conv):
    """1x1 expand -> BN -> ReLU -> depthwise k x k -> BN -> ReLU (-> SE) -> 1x1 project -> BN."""

    def cost(self, spec: OpSpec) -> Cost:
        k2, out2, mid, c_in, c_out = spec.kernel**2, self.hw_out(spec) ** 2, spec.mid, spec.c_in, spec.c_out
        g = int(spec.attr("groups", 1))
        if c_in % g or c_out % g:
            raise ValueError(f"{spec.name or spec.kind}: {g} groups need channels divisible by {g} ({spec})")
        expand, project = c_in * mid // g, mid * c_out // g
        params = expand + 2 * mid + k2 * mid + 2 * mid + project + 2 * c_out
        macs = expand * spec.hw**2 + (k2 * mid + project) * out2
        return Cost(params, macs) + _se_cost(spec, mid)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.modules import mbconv_layer

        return mbconv_layer(spec)


@dataclass(frozen=True)
class Classifier:
    """Global average pool -> dropout -> linear."""

    def hw_out(self, spec: OpSpec) -> int:
        return 1

    def cost(self, spec: OpSpec) -> Cost:
        return Cost(spec.c_in * spec.c_out + spec.c_out, spec.c_in * spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.modules import classifier

        return classifier(spec)


CONV, DCONV, MBCONV, CLASSIFIER = Conv(), DConv(), MBConv(), Classifier()
