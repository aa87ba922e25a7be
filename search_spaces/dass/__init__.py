"""DARTS cell search space with DASS's sparse operations (https://arxiv.org/abs/2207.06968)."""

from search_spaces.dass.space import DassSpace

__all__ = ["DassSpace"]
