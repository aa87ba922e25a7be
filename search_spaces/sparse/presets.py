"""MobileNet v1 / v2 skeletons and the published models of Fast Sparse ConvNets as genomes.

Skeletons: TF-slim's ``mobilenet_v1`` (13 depthwise-separable blocks) and ``mobilenet_v2``
(17 inverted residual blocks, ``expanded_conv`` .. ``expanded_conv_16``). The published sparse
models are those of the paper's model release (google-research ``fastconvnets/README.md``): the
first full convolution and the final fully connected layer dense; MobileNet v1 unstructured
except the last block (block size 4, the ``12b4`` in the file names); MobileNet v2 unstructured
except inverted residual blocks 11-16 (block size 2), and the width-1.8 model unstructured
throughout.
"""

from __future__ import annotations

# MobileNet v1: (output channels, stride of the depthwise conv) of the 13 separable blocks.
V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
# MobileNet v2 stages: (expansion t, output channels c, repeats n, stride s of the first).
V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM = 32
V1_FEATURES = 1024
V2_HEAD = 1280
V1_DROPOUT = 0.001  # TF-slim mobilenet_v1: dropout_keep_prob 0.999
V2_DROPOUT = 0.2


def v2_blocks() -> list[tuple[int, int, int]]:
    """(expansion, output channels, stride) of each of the 17 inverted residual blocks."""
    return [(t, c, s if i == 0 else 1) for t, c, n, s in V2_STAGES for i in range(n)]


def v1_layers() -> list[str]:
    """Names of MobileNet v1's sparse-able 1x1 layers, in order."""
    return [f"pw{i}" for i in range(1, len(V1_BLOCKS) + 1)]


def v2_layers() -> list[str]:
    """Names of MobileNet v2's sparse-able 1x1 layers, in order (block 0 has no expansion)."""
    names = []
    for i, (t, _, _) in enumerate(v2_blocks()):
        if t != 1:
            names.append(f"b{i}e")
        names.append(f"b{i}p")
    return [*names, "head"]


def _layer(name: str, pct: int, block: str) -> str:
    return f"{name}_s{pct}_{block if pct else '1x1'}"


def v1_genome(width: str, pct: int, *, last_block: str = "1x1", fc: str = "fc_s0_1x1") -> tuple[str, ...]:
    layers = [_layer(n, pct, last_block if n == "pw13" else "1x1") for n in v1_layers()]
    return ("mobilenet_v1", f"w{width}", *layers, fc)


def v2_genome(width: str, pct: int, *, blocks_11_on: str = "1x1", fc: str = "fc_s0_1x1") -> tuple[str, ...]:
    def block_of(name: str) -> str:
        return blocks_11_on if name != "head" and int(name[1:-1]) >= 11 else "1x1"

    layers = [_layer(n, pct, block_of(n)) for n in v2_layers()]
    return ("mobilenet_v2", f"w{width}", *layers, fc)


REFERENCES: dict[str, tuple[str, ...]] = {
    # dense skeletons: TF-slim / torchvision counts (1000 classes, 224x224)
    "mobilenet-v1": v1_genome("1.0", 0),
    "mobilenet-v2": v2_genome("1.0", 0),
    # Fast Sparse ConvNets model release
    "sparse-mobilenet-v1-0.75-90": v1_genome("0.75", 90, last_block="1x4"),
    "sparse-mobilenet-v1-1.0-90": v1_genome("1.0", 90, last_block="1x4"),
    "sparse-mobilenet-v1-1.4-90": v1_genome("1.4", 90, last_block="1x4"),
    "sparse-mobilenet-v2-0.8-85": v2_genome("0.8", 85, blocks_11_on="1x2"),
    "sparse-mobilenet-v2-1.15-85": v2_genome("1.15", 85, blocks_11_on="1x2"),
    "sparse-mobilenet-v2-1.4-85": v2_genome("1.4", 85, blocks_11_on="1x2"),
    "sparse-mobilenet-v2-1.8-80": v2_genome("1.8", 80),
    "sparse-mobilenet-v2-2.0-85": v2_genome("2.0", 85, blocks_11_on="1x2"),
}
