"""Weight-sharing supernets: one trained network scores every architecture of a space.

`network` holds the supernets of the staged spaces — MnasNet, ProxylessNAS, FBNet — derived from
their stage descriptions (`layout`; elastic kernel, width and depth; per-ConvOp and per-shortcut
choice paths), `training` the sandwich-rule trainer and BN recalibration,
`checkpoint` the file format, `evaluator` the ``supernet`` evaluator. See docs/supernet.md.
"""

from __future__ import annotations

from evaluators.supernet.checkpoint import build_supernet, load_supernet, save_supernet, supernet_class
from evaluators.supernet.network import MnasNetSupernet, largest_arch, scaled_ops, smallest_arch

__all__ = [
    "MnasNetSupernet",
    "build_supernet",
    "largest_arch",
    "load_supernet",
    "save_supernet",
    "scaled_ops",
    "smallest_arch",
    "supernet_class",
]
