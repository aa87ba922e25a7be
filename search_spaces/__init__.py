"""What an architecture is: the architecture value, the search-space contract and the registry.

Spaces are looked up by name through `SPACES`; `get_space(name)` returns the shared instance.
"""

from __future__ import annotations

from functools import cache

from core.registry import Registry
from search_spaces.arch import Architecture
from search_spaces.base import SearchSpace

SPACES: Registry[type[SearchSpace]] = Registry(
    "search space",
    {
        "dass": "search_spaces.dass:DassSpace",
        "fbnet": "search_spaces.staged:FBNetSpace",
        "mnasnet": "search_spaces.mnasnet:MnasNetSpace",
        "nasnet": "search_spaces.nasnet:NasNetSpace",
        "nb201": "search_spaces.nb201:NasBench201Space",
        "proxylessnas": "search_spaces.staged:ProxylessNasSpace",
        "sparse": "search_spaces.sparse:SparseMobileNetSpace",
    },
)


@cache
def get_space(name: str) -> SearchSpace:
    """The instance of the registered space ``name`` (`UnknownPluginError` lists the known names)."""
    return SPACES.get(name)()


__all__ = [
    "SPACES",
    "Architecture",
    "SearchSpace",
    "get_space",
]
