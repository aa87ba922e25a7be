"""The architecture value: which space, which version of it, and the choices (the genome).

An `Architecture` is immutable plain data. Its canonical JSON (sorted keys, no spaces) is what
gets stored and hashed; `arch_id` is the first 16 hex digits of its sha256, so equal
architectures share an id in every process and database. A genome is a tuple of human-readable
strings (MnasNet: one block string per block), never code.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import InvalidArchitectureError, UnknownPluginError


class Architecture(BaseModel):
    """One point of a search space; `SearchSpace.validate` (or `from_json`) checks it."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    space: str = Field(min_length=1, description="Registered search space name, e.g. 'mnasnet'.")
    version: str = Field(min_length=1, description="Version of the space's definition.")
    genome: tuple[str, ...] = Field(description="The choices, as the space's human-readable genes.")

    def canonical_json(self) -> str:
        """Sorted keys, compact separators: the text that is hashed and stored."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def to_json(self, *, indent: int | None = None) -> str:
        """JSON text; with ``indent`` for people, without it canonical."""
        if indent is None:
            return self.canonical_json()
        return json.dumps(self.model_dump(mode="json"), indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @cached_property
    def arch_id(self) -> str:
        """Stable content hash of the canonical JSON (16 hex digits)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Any, *, validate: bool = True) -> Architecture:
        """Parse a mapping; with ``validate`` the space checks it and returns its canonical form."""
        if not isinstance(data, dict):
            raise InvalidArchitectureError(
                f"an architecture is a JSON object with keys space, version, genome; got {type(data).__name__}"
            )
        if isinstance(data.get("genome"), list):  # JSON has no tuples
            data = {**data, "genome": tuple(data["genome"])}
        try:
            arch = cls.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "architecture"
            raise InvalidArchitectureError(f"{where}: {first['msg']}") from None
        if not validate:
            return arch
        from search_spaces import get_space  # the registry sits above this module

        try:
            space = get_space(arch.space)
        except UnknownPluginError as e:
            raise InvalidArchitectureError(f"space: {e}") from None
        return space.validate(arch)

    @classmethod
    def from_json(cls, text: str | bytes, *, validate: bool = True) -> Architecture:
        """Inverse of `to_json`; malformed JSON raises `InvalidArchitectureError`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidArchitectureError(f"malformed JSON: {e}") from None
        return cls.from_dict(data, validate=validate)
