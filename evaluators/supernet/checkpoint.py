"""Supernet checkpoint files: weights plus what they were built for, loadable without pickled code.

A file holds ``{"format", "space", "shape", "width", "state_dict", "info"}`` (and, for the
supernets trained at a fixed setting, `CellSupernet` and `PrunedSupernet`, ``"options"``: that
setting, and a cell supernet's operation keys) saved with
``torch.save`` and read with ``torch.load(weights_only=True)`` (tensors and plain values only, so
loading a file cannot run code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from core.errors import NasError, UnknownPluginError
from evaluators.supernet.cells import CellSupernet
from evaluators.supernet.network import FBNetSupernet, MnasNetSupernet, ProxylessNasSupernet, StagedSupernet
from evaluators.supernet.pruned import PrunedSupernet

FORMAT = "nas-supernet/2"  # 2: one MBConv path per position (elastic expansion)
SUPERNETS: dict[str, type[StagedSupernet] | type[CellSupernet] | type[PrunedSupernet]] = {
    "fbnet": FBNetSupernet,
    "mnasnet": MnasNetSupernet,
    "nasnet": CellSupernet,
    "proxylessnas": ProxylessNasSupernet,
    "sparse": PrunedSupernet,
}
Supernet = StagedSupernet | CellSupernet | PrunedSupernet
FIXED_GENES = (CellSupernet, PrunedSupernet)  # supernets trained at a fixed setting (``macro``) of the space


def supernet_class(space: str) -> type[StagedSupernet] | type[CellSupernet] | type[PrunedSupernet]:
    """The supernet of search space ``space``."""
    if space not in SUPERNETS:
        raise UnknownPluginError(f"no supernet for search space {space!r}; supernets exist for: {', '.join(SUPERNETS)}")
    return SUPERNETS[space]


def build_supernet(space: str, *, shape: dict[str, int], width: float = 1.0, **options: Any) -> Supernet:
    """The untrained supernet of ``space``; ``options`` are a cell supernet's (``macro``, ``keys``)."""
    cls = supernet_class(space)
    if cls in FIXED_GENES:
        return cls(space, **shape, width=width, **options)  # type: ignore[misc]
    return cls(**shape, width=width)  # type: ignore[call-arg]


def save_supernet(path: Path, net: Supernet, *, info: dict[str, Any] | None = None) -> Path:
    """Write ``net`` (its space, task shape, width and weights) and ``info`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "space": net.space.name,
        "shape": dict(net.shape),
        "width": float(net.width),
        "state_dict": net.state_dict(),
        "info": dict(info or {}),
    }
    if isinstance(net, FIXED_GENES):
        payload["options"] = net.options()
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_supernet(path: Path) -> tuple[Supernet, dict[str, Any]]:
    """The supernet stored at ``path`` (in eval mode) and its info."""
    if not Path(path).is_file():
        raise NasError(f"supernet checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise NasError(f"{path}: not a supernet checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(payload, dict) or not str(payload.get("format", "")).startswith("nas-supernet/"):
        raise NasError(f"{path}: not a supernet checkpoint (format {FORMAT} expected)")
    if payload["format"] != FORMAT:
        raise NasError(
            f"{path}: supernet checkpoint format {payload['format']} is from an older version "
            f"(this one reads {FORMAT}); train the supernet again with `nas supernet train`"
        )
    net = build_supernet(payload["space"], shape=payload["shape"], width=payload["width"], **payload.get("options", {}))
    net.load_state_dict(payload["state_dict"])
    return net.eval(), payload["info"]
