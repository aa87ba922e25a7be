"""The architecture value: canonical JSON, ids, round trips and strict validation."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from core.errors import InvalidArchitectureError, UnknownPluginError
from search_spaces import SPACES, Architecture, get_space
from search_spaces.mnasnet.presets import MNASNET_A1

KNOWN_SPACES = ", ".join(SPACES.names())

A1 = {"space": "mnasnet", "version": "1", "genome": list(MNASNET_A1)}


def test_json_round_trip_and_canonical_form() -> None:
    arch = Architecture.from_dict(A1)
    text = arch.to_json()
    assert text == json.dumps(A1, sort_keys=True, separators=(",", ":"))
    assert Architecture.from_json(text) == arch
    assert Architecture.from_json(arch.to_json(indent=2)) == arch


def test_arch_id_is_a_stable_content_hash() -> None:
    arch = Architecture.from_dict(A1)
    # Pinned: changing the canonical JSON would orphan every stored candidate.
    assert arch.arch_id == "c0c425ef2baafbdb"
    again = Architecture.from_json(json.dumps({"genome": list(MNASNET_A1), "version": "1", "space": "mnasnet"}))
    assert again.arch_id == arch.arch_id
    assert len({arch, again}) == 1
    other = get_space("mnasnet").reference("mnasnet-b1")
    assert other.arch_id != arch.arch_id


def test_architecture_is_immutable() -> None:
    arch = Architecture.from_dict(A1)
    with pytest.raises(ValidationError):
        arch.space = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**A1, "space": "nope"}, "space: unknown search space 'nope'; known: " + KNOWN_SPACES),
        ({**A1, "version": "9"}, "version: mnasnet version '9' is not supported; allowed: 1"),
        ({**A1, "genome": list(MNASNET_A1[:6])}, "needs 7 block strings; got 6"),
        (
            {**A1, "genome": [MNASNET_A1[0].replace("c16", "c17"), *MNASNET_A1[1:]]},
            "genome[0] (block 1): filters 17 is not allowed; allowed: 12, 16, 20",
        ),
        (
            {**A1, "genome": [*MNASNET_A1[:4], "mb4_r2_k3_c112_se0.25_idskip", *MNASNET_A1[5:]]},
            "genome[4] (block 5): op 'mb4' is not allowed; allowed: conv, dconv, mb3, mb6",
        ),
        (
            {**A1, "genome": [*MNASNET_A1[:3], "mb6_r6_k3_c80_se0_idskip", *MNASNET_A1[4:]]},
            "genome[3] (block 4): layers 6 is not allowed; allowed: 3, 4, 5",
        ),
        (
            {**A1, "genome": [*MNASNET_A1[:6], "mb6_r1_k7_c320_se0_noskip"]},
            "kernel 7 is not allowed; allowed: 3, 5",
        ),
        (
            {**A1, "genome": [*MNASNET_A1[:6], "mb6_r1_k3_c320_se0.5_noskip"]},
            "se 0.5 is not allowed; allowed: 0.0, 0.25",
        ),
        ({**A1, "genome": [*MNASNET_A1[:6], "mb6_r1_k3_c320_se0"]}, "missing skip"),
        ({**A1, "genome": [*MNASNET_A1[:6], "mb6_r1_k3_c320_se0_noskip_x9"]}, "unknown token 'x9'"),
        ({**A1, "genome": [*MNASNET_A1[:6], "mb6_r1_r1_k3_c320_se0_noskip"]}, "layers given twice"),
        ({**A1, "extra": 1}, "extra: Extra inputs are not permitted"),
        ({**A1, "genome": [1, 2]}, "genome.0: Input should be a valid string"),
        ({"space": "mnasnet", "version": "1"}, "genome: Field required"),
        ([1, 2], "an architecture is a JSON object"),
    ],
)
def test_invalid_architectures_name_the_field_and_the_allowed_values(data: object, message: str) -> None:
    with pytest.raises(InvalidArchitectureError) as err:
        Architecture.from_dict(data)
    assert message in str(err.value)


def test_unknown_space_lookup_is_a_key_error_listing_known_names() -> None:
    with pytest.raises(UnknownPluginError, match="known: " + KNOWN_SPACES) as err:
        get_space("nope")
    assert isinstance(err.value, KeyError)


def test_malformed_json_is_an_invalid_architecture() -> None:
    with pytest.raises(InvalidArchitectureError, match="malformed JSON"):
        Architecture.from_json("{not json")


def test_from_json_returns_the_canonical_form() -> None:
    # A vanished block's other genes are inactive: any spelling maps to one architecture.
    genome = list(MNASNET_A1)
    genome[6] = "mb6_r0_k5_c400_se0.25_poolskip"
    arch = Architecture.from_dict({**A1, "genome": genome})
    assert arch.genome[6] == "conv_r0_k3_c240_se0_noskip"
    genome[6] = "dconv_r0_k3_c320_se0_idskip"
    assert Architecture.from_dict({**A1, "genome": genome}).arch_id == arch.arch_id
