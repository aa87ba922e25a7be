"""Devices: where latency is measured, and how.

A device has a name, a kind (``cpu-x86``, ``cuda``, ``external`` for a phone or board measured
with another tool), a runtime (``torch`` eager, ``onnxruntime`` on CPU — users deploy exported
models, so we measure what they run — or ``external``), a thread count and a batch size. The
input size is not a device property: it comes from the job's dataset, and each latency table is
keyed by (device, space, input shape). Built-in devices are listed in `DEVICES`; external
devices arrive with an imported table and live in the database.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from core.errors import NasError, UnknownPluginError
from core.registry import Registry

if TYPE_CHECKING:
    from evaluators.devices.timing import Measurer

Runtime = Literal["torch", "onnxruntime", "external"]
RUNTIMES: tuple[str, ...] = ("torch", "onnxruntime", "external")


@dataclass(frozen=True)
class Device:
    """A latency target. ``resource`` is the custom Ray resource that pins measurement to its node."""

    name: str
    kind: str
    runtime: Runtime
    threads: int = 2
    batch_size: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", self.name):
            raise NasError(f"device name {self.name!r}: use 1-64 of a-z, 0-9, '.', '_', '-'")
        if self.runtime not in RUNTIMES:
            raise NasError(f"device {self.name}: runtime {self.runtime!r} unknown; known: {', '.join(RUNTIMES)}")
        if self.threads < 1 or self.batch_size < 1:
            raise NasError(f"device {self.name}: threads and batch_size must be at least 1")

    @property
    def resource(self) -> str:
        return "device_" + re.sub(r"[^a-z0-9_]", "_", self.name)

    @property
    def measurable(self) -> bool:
        """Whether this service can run models on it (external devices only bring tables)."""
        return self.runtime != "external"

    def measurer(self) -> Measurer:
        """Times operators and whole models on this device (call on the device's node)."""
        if self.runtime == "torch":
            from evaluators.devices.timing import TorchMeasurer

            return TorchMeasurer(threads=self.threads, batch_size=self.batch_size, cuda=self.kind == "cuda")
        if self.runtime == "onnxruntime":
            from evaluators.devices.timing import OnnxRuntimeMeasurer

            return OnnxRuntimeMeasurer(threads=self.threads, batch_size=self.batch_size)
        raise NasError(f"device {self.name} is external: import its latency table (nas lut import)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CPU = Device("cpu", "cpu-x86", "torch", threads=2, description="this host's CPU, PyTorch eager, 2 threads")
CPU_ONNX = Device("cpu-onnx", "cpu-x86", "onnxruntime", threads=2, description="this host's CPU, ONNX Runtime")
CUDA = Device("cuda", "cuda", "torch", threads=1, description="the host's first CUDA GPU, PyTorch eager")

DEVICES: Registry[Device] = Registry(
    "device",
    {
        "cpu": "evaluators.devices:CPU",
        "cpu-onnx": "evaluators.devices:CPU_ONNX",
        "cuda": "evaluators.devices:CUDA",
    },
)


def builtin_device(name: str) -> Device:
    """A built-in device (`UnknownPluginError` lists them)."""
    return DEVICES.get(name)


__all__ = ["DEVICES", "Device", "UnknownPluginError", "builtin_device"]
