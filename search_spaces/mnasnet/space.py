"""MnasNet's factorized hierarchical search space (Tan et al., CVPR 2019, https://arxiv.org/abs/1807.11626).

The network is a fixed stem (3x3 conv, 32 filters, stride 2), seven searched blocks laid over
MobileNetV2's stages, and a fixed head (1x1 conv to 1280, pooling, classifier). Each block
chooses, for all of its layers alike:

* ConvOp: ``conv`` (regular), ``dconv`` (depthwise separable), ``mb3``/``mb6`` (MBConv with
  expansion 3 or 6). MBConv with expansion 1 is built without an expansion layer in the
  reference code, i.e. it *is* ``dconv``; listing it once gives the paper's S = 432 per block.
* kernel 3 or 5; squeeze-excite ratio 0 or 0.25;
* skip op: ``noskip``, ``idskip`` (identity residual where shapes match) or ``poolskip``
  (identity where shapes match, a parameter-free pooled shortcut where they do not);
* filters: MobileNetV2's width x {0.75, 1.0, 1.25};
* layers: MobileNetV2's depth + {-1, 0, +1} (blocks 1 and 7 may vanish).

The first layer of a block carries its stride; the others have stride 1. Small inputs (at most
64x64, e.g. 28x28 Fashion-MNIST or 32x32 CIFAR) use stride 1 in the stem, so the network
downsamples by 16 instead of 32 (28x28 ends at 2x2, not 1x1). Two published widths
lie outside the x{0.75, 1.0, 1.25} grid — MnasNet-A1's 112 filters in block 5 and MnasNet-B1's
192 in block 6 — so exactly those two values are added to those blocks' filter lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from search_spaces.mnasnet.presets import REFERENCES
from search_spaces.staged.description import BlockSearch, Stage, StagedDescription
from search_spaces.staged.space import StagedSpace

# MobileNetV2's seven stages: (filters, layers, stride of the first layer).
BASE_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (16, 1, 1),
    (24, 2, 2),
    (32, 3, 2),
    (64, 4, 2),
    (96, 3, 1),
    (160, 3, 2),
    (320, 1, 1),
)
FILTER_MULTIPLIERS = (0.75, 1.0, 1.25)
PUBLISHED_EXTRA_FILTERS = {5: 112, 6: 192}  # block number -> width of MnasNet-A1 / -B1 off the grid
CONV_OPS: dict[str, tuple[str, int]] = {
    "conv": ("conv", 1),
    "dconv": ("dconv", 1),
    "mb3": ("mbconv", 3),
    "mb6": ("mbconv", 6),
}
KERNELS = (3, 5)
SE_RATIOS = (0.0, 0.25)
SKIP_OPS = ("noskip", "idskip", "poolskip")
LAYER_DELTAS = (-1, 0, 1)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_BLOCKS = len(BASE_BLOCKS)
SMALL_INPUT = 64  # input sizes up to this use a stride-1 stem


def filter_choices(block: int) -> tuple[int, ...]:
    """Allowed output filters of block ``block`` (1-based), ascending."""
    base = BASE_BLOCKS[block - 1][0]
    widths = {int(base * m) for m in FILTER_MULTIPLIERS}
    if block in PUBLISHED_EXTRA_FILTERS:
        widths.add(PUBLISHED_EXTRA_FILTERS[block])
    return tuple(sorted(widths))


def _stage(block: int) -> Stage:
    filters, layers, stride = BASE_BLOCKS[block - 1]
    kind = "ds" if block == 1 else "ir"  # MobileNetV2's skeleton, timm spelling
    search = BlockSearch(
        ops=CONV_OPS,
        kernels=KERNELS,
        se_ratios=SE_RATIOS,
        skips=SKIP_OPS,
        filters=filter_choices(block),
        layers=tuple(range(max(0, layers + LAYER_DELTAS[0]), layers + LAYER_DELTAS[-1] + 1)),
    )
    return Stage(f"{kind}_r{layers}_k3_s{stride}_e{1 if block == 1 else 6}_c{filters}", search)


MNASNET = StagedDescription(
    stem=STEM_FILTERS,
    stages=tuple(_stage(b) for b in range(1, NUM_BLOCKS + 1)),
    head=HEAD_FILTERS,
    small_input=SMALL_INPUT,
)


class MnasNetSpace(StagedSpace):
    """The MnasNet space; genes ``b{1..7}_{op,layers,kernel,filters,se,skip}``."""

    name: ClassVar[str] = "mnasnet"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "MnasNet factorized hierarchical space (7 blocks over MobileNetV2)"
    layout: ClassVar[StagedDescription] = MNASNET
    reference_archs: ClassVar[Mapping[str, tuple[str, ...]]] = REFERENCES
