"""The device agent: a Ray actor on the node that owns a device, timing operators and networks.

It is pinned by the device's custom resource (one per node), so a phone bridge or a Jetson that
joins the cluster with ``--resources='{"device_<name>": 1}'`` measures for everyone, and two
measurements never share a device at once.

Every wait on the agent has a deadline (`AgentTimeouts`): a device that no node offers fails at
once, naming its resource and how a node joins (Ray would otherwise keep the actor pending forever
while the runner's heartbeat keeps the job alive), and a stuck agent fails the call that waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import GetTimeoutError

from core.errors import NasError
from evaluators.devices import Device
from search_spaces import Architecture, get_space
from workers import threads

if TYPE_CHECKING:
    from evaluators.devices.timing import Stats
    from search_spaces.ops.spec import OpSpec


class DeviceAgent:
    """Measures on one device; created through `start_agent`."""

    def __init__(self, device: dict[str, Any]) -> None:
        self.device = Device(**device)
        self.measurer = self.device.measurer()

    def ready(self) -> bool:
        """Answers once the agent is placed and its measurer built."""
        return True

    def thread_report(self) -> dict[str, Any]:
        return threads.report()

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


class DeviceUnavailableError(NasError):
    """No node of the Ray cluster offers the device, or its agent did not start or answer in time."""


@dataclass(frozen=True)
class AgentTimeouts:
    """Deadlines, in seconds, for waiting on a device agent."""

    # for the agent to start where a node offers the device: another measurement may hold it (one
    # agent per device at a time; a whole MnasNet table takes minutes)
    start: float = 3600.0
    # for one call (a chunk of operators, or a few networks end to end): generous, but finite
    call: float = 600.0
    # for a node offering the device to join where none does now (an autoscaling cluster adds one for
    # the pending agent); 0 fails at once, which suits clusters whose nodes are started by hand
    node: float = 0.0

    def __post_init__(self) -> None:
        if self.start <= 0 or self.call <= 0 or self.node < 0:
            raise NasError(f"agent timeouts: start and call must be > 0 and node >= 0, got {self}")


DEFAULT_TIMEOUTS = AgentTimeouts()


def _missing(device: Device, offered: dict[str, float]) -> str:
    others = sorted(k for k in offered if k.startswith("device_"))
    return (
        f"device {device.name}: no Ray node offers the resource {device.resource!r} "
        f"(the cluster offers {', '.join(others) or 'no device resources'}). A device node joins with "
        f"`ray start --address=<head>:6379 --resources='{{\"{device.resource}\": 1}}'`"
    )


def require_device(device: Device, timeouts: AgentTimeouts = DEFAULT_TIMEOUTS) -> None:
    """Raise `DeviceUnavailableError` when no node offers ``device``'s resource and the cluster is
    not given time for one to join (``timeouts.node`` is 0)."""
    offered = ray.cluster_resources()
    if offered.get(device.resource, 0.0) < 1 and timeouts.node <= 0:
        raise DeviceUnavailableError(_missing(device, offered))


def start_agent(device: Device, timeouts: AgentTimeouts = DEFAULT_TIMEOUTS) -> ray.actor.ActorHandle:
    """A `DeviceAgent` on the node holding ``device`` (its custom resource), started within the
    deadlines of ``timeouts``; `DeviceUnavailableError` when no node offers the device."""
    if not device.measurable:
        raise NasError(f"device {device.name} is external: it cannot be measured here, only imported")
    require_device(device, timeouts)
    cluster = ray.cluster_resources()
    offered = cluster.get(device.resource, 0.0) >= 1
    cpus = max(1, min(device.threads, int(cluster.get("CPU", 1))))  # exclusive of other work: workers/threads.py
    remote = ray.remote(DeviceAgent).options(**threads.agent_options(cpus), resources={device.resource: 1})
    agent = remote.remote(device.to_dict())
    wait = timeouts.start if offered else timeouts.node
    ready, _ = ray.wait([ref := agent.ready.remote()], timeout=wait)
    if ready:
        ray.get(ref)  # raises the agent's construction error, if any
        return agent
    ray.kill(agent)
    now = ray.cluster_resources()
    if now.get(device.resource, 0.0) < 1:
        raise DeviceUnavailableError(_missing(device, now))
    free = ray.available_resources().get(device.resource, 0.0)
    raise DeviceUnavailableError(
        f"device {device.name}: its agent did not start within {wait:g} s; {device.resource} is offered "
        f"but {free:g} of it is free (another measurement holds the device, or its node has no free CPU)"
    )


def call_agent(ref: ray.ObjectRef, *, device: Device, what: str, timeouts: AgentTimeouts) -> Any:
    """The result of one agent call, waited for at most ``timeouts.call`` seconds."""
    try:
        return ray.get(ref, timeout=timeouts.call)
    except GetTimeoutError as e:
        raise DeviceUnavailableError(
            f"device {device.name}: the agent did not answer within {timeouts.call:g} s ({what}); "
            "the device may be overloaded or stuck (the deadline is AgentTimeouts.call)"
        ) from e
