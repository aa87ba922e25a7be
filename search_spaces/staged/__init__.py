"""Staged MBConv spaces built from a stage description (timm-style block strings plus the searched
choices per stage): MnasNet (`search_spaces.mnasnet`), ProxylessNAS and FBNet (`presets`)."""

from search_spaces.staged.description import BlockSearch, LayerSearch, Stage, StagedDescription
from search_spaces.staged.presets import FBNetSpace, ProxylessNasSpace
from search_spaces.staged.space import StagedSpace

__all__ = [
    "BlockSearch",
    "FBNetSpace",
    "LayerSearch",
    "ProxylessNasSpace",
    "Stage",
    "StagedDescription",
    "StagedSpace",
]
