"""Cell machinery shared by the cell spaces (NASNet, DASS/DARTS).

A cell network is a list of `Step`s (an `OpSpec` plus the registers it reads and writes) run in
order by `CellNetwork` (`network`), with a drop-path policy; `Combine` is the parameter-free add
and concatenation kind; `CellSpace` (`space`) is the base of the spaces whose genome is
``[normal cell, reduction cell, macro]``, and `genotype` the parsing both genome formats share.
``steps`` and ``genotype`` are torch-free; ``network`` imports torch.
"""

from search_spaces.cells.steps import Combine, Step

__all__ = ["Combine", "Step"]
