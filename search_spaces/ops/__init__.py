"""Operators shared by the search spaces.

`spec` describes one operator as plain data (torch-free: predictors and lookup tables use it);
`modules` turns a list of specs into a torch network. Both read the same `OpSpec`s, so the
latency table, the cost model and the built network can never disagree about a layer.
"""

from search_spaces.ops.spec import Cost, OpSpec, total_cost

__all__ = ["Cost", "OpSpec", "total_cost"]
