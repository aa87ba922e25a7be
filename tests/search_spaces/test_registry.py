"""The plug-in registry."""

from __future__ import annotations

import pytest

from core.errors import UnknownPluginError
from core.registry import Registry
from search_spaces import SPACES, get_space
from search_spaces.mnasnet import MnasNetSpace


def test_lookup_by_name_is_lazy_and_cached() -> None:
    reg: Registry[object] = Registry("widget", {"json": "json:dumps"})
    assert reg.names() == ["json"]
    assert "json" in reg
    assert reg.get("json") is reg.get("json")


def test_unknown_name_lists_the_known_ones() -> None:
    reg: Registry[object] = Registry("widget", {"b": "json:dumps", "a": "json:loads"})
    with pytest.raises(UnknownPluginError, match=r"unknown widget 'c'; known: a, b"):
        reg.get("c")


def test_register_refuses_conflicts_and_malformed_targets() -> None:
    reg: Registry[object] = Registry("widget", {"a": "json:dumps"})
    reg.register("a", "json:dumps")  # idempotent
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", "json:loads")
    with pytest.raises(ValueError, match="module:attribute"):
        reg.register("b", "json.dumps")


def test_spaces_registry() -> None:
    assert "mnasnet" in SPACES.names()
    assert SPACES.get("mnasnet") is MnasNetSpace
    assert get_space("mnasnet") is get_space("mnasnet")
