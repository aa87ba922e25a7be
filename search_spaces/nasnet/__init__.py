"""NASNet cell search space (Zoph et al., CVPR 2018, https://arxiv.org/abs/1707.07012)."""

from search_spaces.nasnet.space import NasNetSpace

__all__ = ["NasNetSpace"]
