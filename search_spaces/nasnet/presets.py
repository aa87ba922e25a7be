"""NASNet-A (Zoph et al., CVPR 2018), the genotype of the reference implementation.

TF-slim ``nets/nasnet/nasnet_utils.py`` (``NasNetANormalCell``, ``NasNetAReductionCell``),
written in this space's cell strings. Its ``used_hiddenstates`` lists differ from the states the
blocks actually read by one state per cell — the normal cell also concatenates h_{i-1} (state 1),
the reduction cell block 1's output (state 3) — which ``keep`` expresses. With the reference
configs as macro settings the counts match the reference exactly (tests): Large 6@4032
(``large_imagenet_config``: N=6, f=168, stem multiplier 3) 88,753,150 parameters at 331x331;
Mobile 4@1056 (``mobile_imagenet_config``: N=6 -> 4, f=44, stem 1) 5,289,978 at 224x224; CIFAR
6@768 (``cifar_config``: N=6, f=32, stem 3).
"""

from __future__ import annotations

# Reference used_hiddenstates [1, 0, 0, 0, 0, 0, 0]: h_{i-1} is read and also concatenated (keep=1).
NASNET_A_NORMAL = " ".join(
    [
        "add(sep5x5@0,sep3x3@1)",
        "add(sep3x3@1,sep5x5@1)",
        "add(avg3x3@0,id@1)",
        "add(avg3x3@1,avg3x3@1)",
        "add(id@0,sep3x3@0)",
        "keep=1",
    ]
)
# Reference used_hiddenstates [1, 1, 1, 0, 0, 0, 0]: block 1 is read and also concatenated (keep=3).
NASNET_A_REDUCTION = " ".join(
    [
        "add(sep5x5@0,sep7x7@1)",
        "add(max3x3@0,sep7x7@1)",
        "add(avg3x3@0,sep5x5@1)",
        "add(avg3x3@2,id@3)",
        "add(max3x3@0,sep3x3@2)",
        "keep=3",
    ]
)

REFERENCES: dict[str, tuple[str, ...]] = {
    "nasnet-a-large": (NASNET_A_NORMAL, NASNET_A_REDUCTION, "N=6 f=168 stem=3"),
    "nasnet-a-mobile": (NASNET_A_NORMAL, NASNET_A_REDUCTION, "N=4 f=44 stem=1"),
    "nasnet-a-cifar": (NASNET_A_NORMAL, NASNET_A_REDUCTION, "N=6 f=32 stem=3"),
}
