"""The shipped ProxylessNAS phone table prices every architecture of the ProxylessNAS space."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluators.devices import Device
from evaluators.lut_io import PROXYLESS_MOBILE_LUT, from_csv
from search_spaces import get_space

SHAPE = {"in_channels": 3, "input_size": 224, "num_classes": 1000}
PHONE = Device("pixel1", "phone", "external")


def test_the_table_ships_with_the_package_and_equals_the_test_copy() -> None:
    assert (
        PROXYLESS_MOBILE_LUT.read_bytes()
        == (Path(__file__).parents[1] / "data" / PROXYLESS_MOBILE_LUT.name).read_bytes()
    )


def test_imported_table_prices_every_proxylessnas_architecture() -> None:
    space = get_space("proxylessnas")
    result = from_csv(PROXYLESS_MOBILE_LUT.read_text(), device=PHONE, space="proxylessnas", shape=SHAPE)
    assert len(result.table.entries) == 72 and result.skipped == []
    rng = np.random.default_rng(0)
    archs = [space.reference("proxyless_mobile"), *(space.sample(rng) for _ in range(2000))]
    priced = [a for a in archs if all(op.signature() in result.table.entries for op in space.ops(a, **SHAPE))]
    assert len(priced) == len(archs)  # 100%
    latencies = [result.table.predict(space.ops(a, **SHAPE)) for a in archs]
    assert min(latencies) > 50 and max(latencies) < 200  # tens of milliseconds on a phone
    # every operator the space can produce is in the table (the table adds two 5x5 / 7x7 first blocks)
    catalogue = {op.signature() for op in space.op_catalogue(**SHAPE)}
    assert catalogue <= set(result.table.entries) and len(set(result.table.entries) - catalogue) == 2


def test_imported_for_mnasnet_the_operators_carry_no_activation_attribute() -> None:
    table = from_csv(PROXYLESS_MOBILE_LUT.read_text(), device=PHONE, space="mnasnet", shape=SHAPE).table
    assert not any("relu6" in sig for sig in table.entries)
    assert all(
        sig.endswith("-actrelu6") or sig.startswith("classifier")
        for sig in from_csv(
            PROXYLESS_MOBILE_LUT.read_text(), device=PHONE, space="proxylessnas", shape=SHAPE
        ).table.entries
    )
