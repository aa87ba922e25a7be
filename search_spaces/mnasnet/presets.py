"""Published architectures as literals of the MnasNet space, one block string per block.

Each reproduces the reference implementation exactly (parameter counts at 1000 classes,
224x224; tested): MnasNet-A1 is timm's ``semnasnet_100`` (3,887,038 parameters), MnasNet-B1
is torchvision's ``mnasnet1_0`` (4,383,312) and MobileNetV2, the space's own skeleton, is
torchvision's ``mobilenet_v2`` (3,504,872).
"""

from __future__ import annotations

MNASNET_A1 = (
    "dconv_r1_k3_c16_se0_noskip",  # 112x112 in: SepConv 3x3
    "mb6_r2_k3_c24_se0_idskip",  # 112x112 in
    "mb3_r3_k5_c40_se0.25_idskip",  # 56x56 in
    "mb6_r4_k3_c80_se0_idskip",  # 28x28 in
    "mb6_r2_k3_c112_se0.25_idskip",  # 14x14 in
    "mb6_r3_k5_c160_se0.25_idskip",  # 14x14 in
    "mb6_r1_k3_c320_se0_noskip",  # 7x7 in
)

MNASNET_B1 = (
    "dconv_r1_k3_c16_se0_noskip",
    "mb3_r3_k3_c24_se0_idskip",
    "mb3_r3_k5_c40_se0_idskip",
    "mb6_r3_k5_c80_se0_idskip",
    "mb6_r2_k3_c96_se0_idskip",
    "mb6_r4_k5_c192_se0_idskip",
    "mb6_r1_k3_c320_se0_noskip",
)

MOBILENET_V2 = (
    "dconv_r1_k3_c16_se0_noskip",  # MobileNetV2's expansion-1 block is exactly a SepConv
    "mb6_r2_k3_c24_se0_idskip",
    "mb6_r3_k3_c32_se0_idskip",
    "mb6_r4_k3_c64_se0_idskip",
    "mb6_r3_k3_c96_se0_idskip",
    "mb6_r3_k3_c160_se0_idskip",
    "mb6_r1_k3_c320_se0_noskip",
)

REFERENCES: dict[str, tuple[str, ...]] = {
    "mnasnet-a1": MNASNET_A1,
    "mnasnet-b1": MNASNET_B1,
    "mobilenet-v2": MOBILENET_V2,
}
