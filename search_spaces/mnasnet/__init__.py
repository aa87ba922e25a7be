"""MnasNet factorized hierarchical search space (Tan et al., CVPR 2019, https://arxiv.org/abs/1807.11626)."""

from search_spaces.mnasnet.space import MnasNetSpace

__all__ = ["MnasNetSpace"]
