"""Published DARTS genotypes (Liu et al., ICLR 2019), from the reference code's ``cnn/genotypes.py``.

``quark0/darts`` lists each cell as (op, input) pairs, two per node, in the order its search
derived them; here they are written as this space's cell strings (each node's pair sorted by
input). ``DARTS_V1`` is the first-order search result, ``DARTS_V2`` the second-order one (the
paper's "DARTS (second order)" cell, 2.76% CIFAR-10 error). With the paper's evaluation network
(C=36, L=20, auxiliary head not counted, as the reference's ``count_parameters_in_MB`` does)
DARTS_V2 has 3,349,342 parameters and 528,359,040 MACs on CIFAR-10 shapes: the paper's "3.3M"
(tests). The exact figure is what our layer-by-layer transcription of the reference
``NetworkCIFAR`` counts; no reference log with it could be found to compare against.
"""

from __future__ import annotations

from search_spaces.dass.genotype import Macro, cell_from_pairs, format_cell, format_macro

DARTS_V1_NORMAL = [
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0),
    ("skip_connect", 0),
    ("sep_conv_3x3", 1),
    ("skip_connect", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0),
    ("skip_connect", 2),
]
DARTS_V1_REDUCE = [
    ("max_pool_3x3", 0),
    ("max_pool_3x3", 1),
    ("skip_connect", 2),
    ("max_pool_3x3", 0),
    ("max_pool_3x3", 0),
    ("skip_connect", 2),
    ("skip_connect", 2),
    ("avg_pool_3x3", 0),
]
DARTS_V2_NORMAL = [
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 1),
    ("skip_connect", 0),
    ("skip_connect", 0),
    ("dil_conv_3x3", 2),
]
DARTS_V2_REDUCE = [
    ("max_pool_3x3", 0),
    ("max_pool_3x3", 1),
    ("skip_connect", 2),
    ("max_pool_3x3", 1),
    ("max_pool_3x3", 0),
    ("skip_connect", 2),
    ("skip_connect", 2),
    ("max_pool_3x3", 1),
]
CIFAR = Macro(channels=36, cells=20, sparsity=0.0)  # the paper's CIFAR-10 evaluation network
CPU = Macro(channels=8, cells=5, sparsity=0.9)  # the reduced setting this service searches on a CPU


def _genome(normal: list[tuple[str, int]], reduce: list[tuple[str, int]], macro: Macro) -> tuple[str, str, str]:
    return format_cell(cell_from_pairs(normal)), format_cell(cell_from_pairs(reduce)), format_macro(macro)


REFERENCES: dict[str, tuple[str, ...]] = {
    "darts-v1": _genome(DARTS_V1_NORMAL, DARTS_V1_REDUCE, CIFAR),
    "darts-v2": _genome(DARTS_V2_NORMAL, DARTS_V2_REDUCE, CIFAR),
    "darts-v2-cpu": _genome(DARTS_V2_NORMAL, DARTS_V2_REDUCE, CPU),
}
