"""One registry class for every kind of plug-in.

Entries map a name to ``"module:attribute"`` and are imported on first use, so listing names
never imports torch, Ray or XGBoost. Each kind keeps one instance and lists its names explicitly.
"""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

from core.errors import UnknownPluginError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> lazily imported object, for one kind of plug-in (``kind`` appears in errors)."""

    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._targets = dict(entries)
        self._loaded: dict[str, T] = {}

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def register(self, name: str, target: str) -> None:
        """Add ``name -> "module:attribute"``; re-registering a name with another target is an error."""
        if ":" not in target:
            raise ValueError(f"target must be 'module:attribute', got {target!r}")
        if self._targets.get(name, target) != target:
            raise ValueError(f"{self.kind} {name!r} is already registered as {self._targets[name]!r}")
        self._targets[name] = target

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plug-in registered for a test or a session); unknown names are ignored."""
        self._targets.pop(name, None)
        self._loaded.pop(name, None)

    def get(self, name: str) -> T:
        """The object registered as ``name``; unknown names raise `UnknownPluginError` listing the known."""
        if name not in self._loaded:
            try:
                target = self._targets[name]
            except (KeyError, TypeError):
                known = ", ".join(self.names()) or "(none)"
                raise UnknownPluginError(f"unknown {self.kind} {name!r}; known: {known}") from None
            module_name, attr = target.split(":", 1)
            self._loaded[name] = getattr(importlib.import_module(module_name), attr)
        return self._loaded[name]
