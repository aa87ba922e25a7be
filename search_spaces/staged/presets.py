"""Layer-wise staged spaces: ProxylessNAS's mobile space and HW-NAS-Bench's FBNet space.

* **ProxylessNAS** (Cai et al., ICLR 2019, https://arxiv.org/abs/1812.00332; mit-han-lab/proxylessnas,
  MIT): MobileNetV2's backbone — 3x3 stem of 32 (stride 2), a fixed MBConv1 3x3 block of 16, six
  searched stages of 24/40/80/96/192/320 filters (4, 4, 4, 4, 4, 1 layers; strides 2, 2, 2, 1, 2, 1),
  1x1 head of 1280. Each searched layer is an MBConv with kernel 3/5/7 and expansion 3/6 (``k5_e3``)
  or, except a stage's first layer, ``zero`` (the layer is skipped: identity). ReLU6, as the
  reference code. The released ProxylessNAS-Mobile widens the second stage to 32 filters, off the
  searched grid (and off its phone latency table); ``proxyless_mobile`` here is its operator choice
  at the searched widths, and the space rebuilt with that one width reproduces the released network
  exactly (tests).
* **FBNet** as HW-NAS-Bench defines it (Li et al., ICLR 2021, https://arxiv.org/abs/2103.10584;
  FBNet: Wu et al., CVPR 2019, https://arxiv.org/abs/1812.03443): a 3x3 stem of 16, 22 searched
  layers in seven stages of 16/24/32/64/112/184/352 filters (1, 4, 4, 4, 4, 4, 1 layers) and a 1x1
  head, every layer one of ``k3_e1, k3_e1_g2, k3_e3, k3_e6, k5_e1, k5_e1_g2, k5_e3, k5_e6, skip``
  (``_g2``: both 1x1 convs in 2 groups with a channel shuffle after the first; ``skip``: identity,
  or a 1x1 conv-BN-ReLU with the layer's stride where shapes change). ImageNet setting (inputs above
  64): stem stride 2, stage strides 1, 2, 2, 2, 1, 2, 1, head 1984; CIFAR setting (up to 64): stem
  stride 1, stage strides 1, 1, 2, 2, 1, 2, 1, head 1504 (HW-NAS-Bench's ``FBNet_Infer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from search_spaces.staged.description import LayerSearch, Stage, StagedDescription
from search_spaces.staged.space import StagedSpace

PROXYLESS_OPS = ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6")
_PROXYLESS_LAYER = LayerSearch(choices=(*PROXYLESS_OPS, "zero"), first=PROXYLESS_OPS)

PROXYLESSNAS = StagedDescription(
    stem=32,
    stages=(
        Stage("ds_r1_k3_s1_e1_c16"),  # 112x112 in: fixed MBConv1 (no expansion layer)
        Stage("ir_r4_k3_s2_e6_c24", _PROXYLESS_LAYER),  # 112x112 in
        Stage("ir_r4_k3_s2_e6_c40", _PROXYLESS_LAYER),  # 56x56 in
        Stage("ir_r4_k3_s2_e6_c80", _PROXYLESS_LAYER),  # 28x28 in
        Stage("ir_r4_k3_s1_e6_c96", _PROXYLESS_LAYER),  # 14x14 in
        Stage("ir_r4_k3_s2_e6_c192", _PROXYLESS_LAYER),  # 14x14 in
        Stage("ir_r1_k3_s1_e6_c320", _PROXYLESS_LAYER),  # 7x7 in
    ),
    head=1280,
    op_attrs=(("act", "relu6"),),
)

# mit-han-lab's released proxyless_mobile.config, block by block (stage 2 at the searched 24 filters).
PROXYLESS_MOBILE = (
    *("k5_e3", "k3_e3", "zero", "zero"),
    *("k7_e3", "k3_e3", "k5_e3", "k5_e3"),
    *("k7_e6", "k5_e3", "k5_e3", "k5_e3"),
    *("k5_e6", "k5_e3", "k5_e3", "k5_e3"),
    *("k7_e6", "k7_e6", "k7_e3", "k7_e3"),
    "k7_e6",
)

FBNET_OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
_FBNET_LAYER = LayerSearch(choices=FBNET_OPS)

FBNET = StagedDescription(
    stem=16,
    stages=(
        Stage("ir_r1_k3_s1_e1_c16", _FBNET_LAYER),
        Stage("ir_r4_k3_s2_e1_c24", _FBNET_LAYER),
        Stage("ir_r4_k3_s2_e1_c32", _FBNET_LAYER),
        Stage("ir_r4_k3_s2_e1_c64", _FBNET_LAYER),
        Stage("ir_r4_k3_s1_e1_c112", _FBNET_LAYER),
        Stage("ir_r4_k3_s2_e1_c184", _FBNET_LAYER),
        Stage("ir_r1_k3_s1_e1_c352", _FBNET_LAYER),
    ),
    head=1984,
    small_strides=(1, 1, 2, 2, 1, 2, 1),
    small_head=1504,
)

# FBNet-C (paper Fig. 4; timm ``fbnetc_100``): the second stage has three layers, the fourth is skipped.
FBNET_C = (
    "k3_e1",
    *("k3_e6", "k3_e1", "k3_e1", "skip"),
    *("k5_e6", "k5_e3", "k5_e6", "k3_e6"),
    *("k5_e6", "k5_e3", "k5_e6", "k5_e6"),
    *("k5_e6", "k5_e6", "k5_e6", "k5_e3"),
    *("k5_e6", "k5_e6", "k5_e6", "k5_e6"),
    "k3_e6",
)


class ProxylessNasSpace(StagedSpace):
    """ProxylessNAS's mobile space; genes ``b{2..7}_l{j}``, one per searched layer (21)."""

    name: ClassVar[str] = "proxylessnas"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "ProxylessNAS mobile space (21 MBConv layers: kernel 3/5/7, expansion 3/6, zero)"
    layout: ClassVar[StagedDescription] = PROXYLESSNAS
    reference_archs: ClassVar[Mapping[str, tuple[str, ...]]] = {"proxyless_mobile": PROXYLESS_MOBILE}


class FBNetSpace(StagedSpace):
    """HW-NAS-Bench's FBNet space; genes ``b{1..7}_l{j}``, one per searched layer (22)."""

    name: ClassVar[str] = "fbnet"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "FBNet space as in HW-NAS-Bench (22 layers of 9 operators)"
    layout: ClassVar[StagedDescription] = FBNET
    reference_archs: ClassVar[Mapping[str, tuple[str, ...]]] = {"fbnet-c": FBNET_C}
