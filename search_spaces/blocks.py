"""Block strings: the human-readable genes of MBConv-style spaces, in both directions.

A block string lists one block's choices, e.g. ``mb6_r2_k3_c112_se0.25_idskip``: ConvOp
(``conv``, ``dconv``, ``mb3``, ``mb6``), ``r`` layers, ``k`` kernel, ``c`` output filters,
``se`` squeeze-excite ratio, and the skip op (``noskip``, ``idskip``, ``poolskip``). The
canonical spelling has the fields in that order; the parser accepts them in any order after the
ConvOp, each exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.errors import InvalidArchitectureError

FIELDS = ("op", "layers", "kernel", "filters", "se", "skip")
SKIP_TOKENS = ("noskip", "idskip", "poolskip")
_NUMERIC = {"r": ("layers", int), "k": ("kernel", int), "c": ("filters", int), "se": ("se", float)}
_TOKEN = re.compile(r"^(se|r|k|c)(\d+(?:\.\d+)?)$")


def parse_block(text: str) -> dict[str, Any]:
    """``"mb6_r2_k3_c112_se0.25_idskip"`` -> ``{"op": "mb6", "layers": 2, ...}``."""
    if not isinstance(text, str) or not text:
        raise InvalidArchitectureError(f"block string must be a non-empty string, got {text!r}")
    op, *tokens = text.split("_")
    fields: dict[str, Any] = {"op": op}
    for token in tokens:
        if token in SKIP_TOKENS:
            key, value = "skip", token
        elif m := _TOKEN.match(token):
            key, cast = _NUMERIC[m.group(1)]
            if cast is int and "." in m.group(2):
                raise InvalidArchitectureError(f"block {text!r}: {key} must be an integer, got {m.group(2)}")
            value = cast(m.group(2))
        else:
            raise InvalidArchitectureError(
                f"block {text!r}: unknown token {token!r}; expected r<layers>, k<kernel>, c<filters>, "
                f"se<ratio> or one of {', '.join(SKIP_TOKENS)}"
            )
        if key in fields:
            raise InvalidArchitectureError(f"block {text!r}: {key} given twice")
        fields[key] = value
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise InvalidArchitectureError(f"block {text!r}: missing {', '.join(missing)}")
    return fields


def format_block(fields: Mapping[str, Any]) -> str:
    """Canonical block string of a field dict (inverse of `parse_block`)."""
    return (
        f"{fields['op']}_r{fields['layers']}_k{fields['kernel']}_c{fields['filters']}"
        f"_se{float(fields['se']):g}_{fields['skip']}"
    )
