"""The registry of operator kinds: how an `OpSpec` of each kind costs and builds.

An operator kind is an object with ``cost(spec) -> Cost``, ``hw_out(spec) -> int`` and
``build(spec) -> torch.nn.Module``; ``cost`` and ``hw_out`` must not import torch (predictors and
the API use them), ``build`` may. A space adds kinds with one module and one line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from core.registry import Registry

if TYPE_CHECKING:
    from search_spaces.ops.spec import Cost, OpSpec


class OpKind(Protocol):
    def cost(self, spec: OpSpec) -> Cost: ...

    def hw_out(self, spec: OpSpec) -> int: ...

    def build(self, spec: OpSpec) -> object: ...


OP_KINDS: Registry[OpKind] = Registry(
    "operator kind",
    {
        "conv": "search_spaces.ops.mobile:CONV",
        "dconv": "search_spaces.ops.mobile:DCONV",
        "mbconv": "search_spaces.ops.mobile:MBCONV",
        "classifier": "search_spaces.ops.mobile:CLASSIFIER",
        "nasnet_stem": "search_spaces.nasnet.ops:STEM",
        "nasnet_conv": "search_spaces.nasnet.ops:CONV",
        "nasnet_conv_pair": "search_spaces.nasnet.ops:CONV_PAIR",
        "nasnet_sep": "search_spaces.nasnet.ops:SEP",
        "nasnet_pool": "search_spaces.nasnet.ops:POOL",
        "nasnet_reduce": "search_spaces.nasnet.ops:REDUCE",
        "nasnet_add": "search_spaces.nasnet.ops:ADD",
        "nasnet_concat": "search_spaces.nasnet.ops:CONCAT",
        "nasnet_head": "search_spaces.nasnet.ops:HEAD",
        "nb201_stem": "search_spaces.nb201.ops:STEM",
        "nb201_edge": "search_spaces.nb201.ops:EDGE",
        "nb201_resblock": "search_spaces.nb201.ops:RESBLOCK",
        "nb201_head": "search_spaces.nb201.ops:HEAD",
        "mb_stem": "search_spaces.ops.sparse:MB_STEM",
        "mb_depthwise": "search_spaces.ops.sparse:MB_DEPTHWISE",
        "sparse_conv1x1": "search_spaces.ops.sparse:SPARSE_CONV1X1",
        "sparse_classifier": "search_spaces.ops.sparse:SPARSE_CLASSIFIER",
        "dass_stem": "search_spaces.dass.ops:STEM",
        "dass_conv1x1": "search_spaces.dass.ops:CONV1X1",
        "dass_reduce": "search_spaces.dass.ops:REDUCE",
        "dass_sep": "search_spaces.dass.ops:SEP",
        "dass_dil": "search_spaces.dass.ops:DIL",
        "dass_pool": "search_spaces.dass.ops:POOL",
        "dass_add": "search_spaces.dass.ops:ADD",
        "dass_concat": "search_spaces.dass.ops:CONCAT",
        "dass_head": "search_spaces.dass.ops:HEAD",
    },
)
