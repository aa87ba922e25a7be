"""The device agent: a Ray actor on the node that owns a device, timing operators and networks.

It is pinned by the device's custom resource (one per node), so a phone bridge or a Jetson that
joins the cluster with ``--resources='{"device_<name>": 1}'`` measures for everyone, and two
measurements never share a device at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ray

from evaluators.devices import Device
from search_spaces import Architecture, get_space

if TYPE_CHECKING:
    from evaluators.devices.timing import Stats
    from search_spaces.ops.spec import OpSpec


class DeviceAgent:
    """Measures on one device; created through `start_agent`."""

    def __init__(self, device: dict[str, Any]) -> None:
        self.device = Device(**device)
        self.measurer = self.device.measurer()

    def reference(self, *, repeats: int = 50) -> float | None:
        """The drift probe's latency now (ms; None when the device's measurer has no probe)."""
        return self.measurer.reference(repeats=repeats)

    def measure_ops(self, ops: list[OpSpec], *, warmup: int, repeats: int) -> list[Stats]:
        """Each operator alone, on a random input of its shape."""
        return [
            self.measurer.measure(op.build(), (op.c_in, op.hw, op.hw), warmup=warmup, repeats=repeats)  # type: ignore[arg-type]
            for op in ops
        ]

    def measure_archs(self, archs: list[str], *, shape: dict[str, int], warmup: int, repeats: int) -> list[Stats]:
        """Whole networks (architecture JSON), end to end."""
        out = []
        for text in archs:
            arch = Architecture.from_json(text)
            model = get_space(arch.space).build(arch, **shape)
            input_shape = (shape["in_channels"], shape["input_size"], shape["input_size"])
            out.append(self.measurer.measure(model, input_shape, warmup=warmup, repeats=repeats))
        return out


def start_agent(device: Device) -> ray.actor.ActorHandle:
    """A `DeviceAgent` on the node holding ``device`` (its custom resource)."""
    if not device.measurable:
        from core.errors import NasError

        raise NasError(f"device {device.name} is external: it cannot be measured here, only imported")
    remote = ray.remote(DeviceAgent).options(num_cpus=1, resources={device.resource: 1})
    return remote.remote(device.to_dict())
