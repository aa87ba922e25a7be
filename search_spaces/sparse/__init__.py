"""Sparse MobileNet v1/v2 space of Fast Sparse ConvNets (Elsen et al., CVPR 2020, https://arxiv.org/abs/1911.09723)."""

from search_spaces.sparse.space import SparseMobileNetSpace

__all__ = ["SparseMobileNetSpace"]
