"""The NAS-Bench-201 cell space."""

from search_spaces.nb201.space import NasBench201Space, parse_arch_str, to_arch_str

__all__ = ["NasBench201Space", "parse_arch_str", "to_arch_str"]
