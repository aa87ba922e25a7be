"""Timing with drift correction: the subject/probe ratio survives a change of machine speed."""

from __future__ import annotations

import time

import pytest
import torch

from evaluators.devices.timing import Stats, TorchMeasurer, time_call


class Machine:
    """A simulated machine whose speed halves after ``switch`` calls of the subject."""

    def __init__(self, switch: int) -> None:
        self.calls, self.switch = 0, switch

    @property
    def slowness(self) -> float:
        return 1.0 if self.calls < self.switch else 2.0

    def subject(self) -> None:
        self.calls += 1
        time.sleep(0.006 * self.slowness)

    def probe(self) -> None:
        time.sleep(0.003 * self.slowness)


def test_ratio_to_the_probe_is_independent_of_a_speed_change() -> None:
    machine = Machine(switch=12)  # warm-up and sizing take 2 calls; then 10 fast and 10 slow samples
    st = time_call(machine.subject, warmup=1, repeats=20, min_sample_s=0.0, probe=machine.probe)
    assert st.ratio == pytest.approx(2.0, rel=0.15)
    assert st.probe_ms is not None
    # the raw median mixes both speeds; at the probe's fast-machine time the subject takes ~6 ms
    median, _ = st.at(3.0)
    assert median == pytest.approx(6.0, rel=0.15)
    assert st.at(None) == (st.median_ms, st.spread_ms)


def test_stats_without_probe_stay_raw() -> None:
    st = Stats(median_ms=4.0, spread_ms=0.5, runs=5)
    assert st.at(2.0) == (4.0, 0.5)
    scaled = Stats(median_ms=4.0, spread_ms=0.5, runs=5, probe_ms=2.0, ratio=1.9)
    assert scaled.at(1.0) == pytest.approx((1.9, 0.25))


def test_cpu_measurer_reports_probe_and_reference() -> None:
    measurer = TorchMeasurer(threads=1, batch_size=1)
    st = measurer.measure(torch.nn.Conv2d(8, 8, 3, padding=1), (8, 16, 16), warmup=1, repeats=3)
    assert st.ratio is not None and st.ratio > 0 and st.probe_ms is not None and st.probe_ms > 0
    reference = measurer.reference(repeats=3)
    assert reference is not None and reference > 0
